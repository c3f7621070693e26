SELECT c.chunk_schema, c.chunk_name, e.extnamespace::regnamespace::text
FROM timescaledb_information.chunks AS c
CROSS JOIN pg_extension AS e
WHERE e.extname = 'timescaledb'
  AND c.hypertable_schema = %(schema)s
  AND c.hypertable_name = %(table)s
  AND c.is_compressed
  AND c.range_end > %(start)s
  AND c.range_start < %(end)s
ORDER BY c.range_start
