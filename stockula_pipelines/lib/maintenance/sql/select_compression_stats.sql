SELECT format('%I.%I', h.hypertable_schema, h.hypertable_name) AS hypertable,
       s.before_compression_total_bytes, s.after_compression_total_bytes,
       s.number_compressed_chunks, s.total_chunks
FROM timescaledb_information.hypertables AS h
CROSS JOIN LATERAL public.hypertable_compression_stats(format('%I.%I', h.hypertable_schema, h.hypertable_name)::regclass) AS s
