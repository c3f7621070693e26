SELECT ingest_id, table_name, interval, window_start, window_end, symbols, rows_loaded, rows_deleted
FROM ops.ingest_log
WHERE ingest_id > %(after)s AND table_name = ANY(%(tables)s)
ORDER BY ingest_id
