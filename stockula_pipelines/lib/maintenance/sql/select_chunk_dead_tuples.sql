-- A hypertable's dead and modified tuples live in its chunks, not in the (empty) parent.
SELECT coalesce(sum(s.n_dead_tup), 0), coalesce(sum(s.n_mod_since_analyze), 0)
FROM timescaledb_information.chunks AS c
JOIN pg_stat_user_tables AS s ON s.schemaname = c.chunk_schema AND s.relname = c.chunk_name
WHERE c.hypertable_schema = %s AND c.hypertable_name = %s
