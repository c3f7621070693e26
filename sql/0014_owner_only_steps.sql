-- Owner-only steps the pipeline needs, granted narrowly to the writer.
--
-- TimescaleDB lets only a hypertable's owner (stockula_owner) decompress its chunks, and a load that
-- corrects rows inside a compressed chunk (full edition) runs as the writer. Rather than handing the
-- writer ownership, this SECURITY DEFINER function, owned by stockula_owner with a fixed search_path,
-- decompresses one chunk, and only a chunk of a hypertable in the market schema; anything else is
-- refused with insufficient_privilege. EXECUTE goes to the writer's group alone.
-- On the Apache edition the function exists too (nothing calls it: there is no compression).
SET LOCAL ROLE stockula_owner;

CREATE FUNCTION ops.decompress_market_chunk(chunk regclass)
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ext_schema name;
  decompressed regclass;
BEGIN
  IF NOT EXISTS (
    SELECT 1
    FROM pg_catalog.pg_class AS cl
    JOIN pg_catalog.pg_namespace AS n ON n.oid = cl.relnamespace
    JOIN timescaledb_information.chunks AS c ON c.chunk_schema = n.nspname AND c.chunk_name = cl.relname
    WHERE cl.oid = chunk AND c.hypertable_schema = 'market'
  ) THEN
    RAISE EXCEPTION 'ops.decompress_market_chunk: % is not a chunk of a market hypertable', chunk
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT e.extnamespace::regnamespace::name INTO ext_schema
  FROM pg_catalog.pg_extension AS e WHERE e.extname = 'timescaledb';
  -- The extension's schema is looked up, never taken from the search_path.
  EXECUTE format('SELECT %I.decompress_chunk($1, if_compressed => true)', ext_schema)
    INTO decompressed USING chunk;
  RETURN decompressed IS NOT NULL;
END
$$;

COMMENT ON FUNCTION ops.decompress_market_chunk(regclass) IS
  'Decompress one compressed chunk of a market hypertable as its owner (the loader runs as the writer); true when it was compressed.';

REVOKE ALL ON FUNCTION ops.decompress_market_chunk(regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION ops.decompress_market_chunk(regclass) TO stockula_write;
