-- Loads of the target's source tables it has not processed, oldest first; NULL intervals = any.
SELECT l.ingest_id, l.table_name, l.interval, l.window_start, l.window_end, l.symbols, l.rows_loaded,
       l.rows_deleted, l.symbols_changed
FROM ops.ingest_log AS l
WHERE l.table_name = ANY(%(tables)s::text[])
  AND (%(intervals)s::text[] IS NULL OR l.interval = ANY(%(intervals)s::text[]))
  AND NOT EXISTS (SELECT 1 FROM ops.refresh_covered AS c
                  WHERE c.target = %(target)s AND c.ingest_id = l.ingest_id)
ORDER BY l.ingest_id
