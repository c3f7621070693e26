-- Symbols the latest load of exactly this window asked the source for: they should all have bars.
SELECT symbols
FROM ops.ingest_log
WHERE table_name = 'price_history' AND interval = %(interval)s
  AND window_start = %(start)s AND window_end = %(end)s
ORDER BY loaded_at DESC, ingest_id DESC
LIMIT 1
