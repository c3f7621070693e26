SELECT format('%I.%I', hypertable_schema, hypertable_name) AS hypertable, num_chunks,
       public.hypertable_size(format('%I.%I', hypertable_schema, hypertable_name)::regclass) AS total_bytes
FROM timescaledb_information.hypertables
ORDER BY total_bytes DESC NULLS LAST
