-- Loads of the aggregate's source since its watermark; a NULL interval list means "any interval".
SELECT ingest_id, window_start, window_end
FROM ops.ingest_log
WHERE ingest_id > %(after)s
  AND table_name = %(table)s
  AND (%(intervals)s::text[] IS NULL OR interval = ANY(%(intervals)s::text[]))
ORDER BY ingest_id
