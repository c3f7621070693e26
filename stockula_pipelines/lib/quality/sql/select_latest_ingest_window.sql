-- The window of the latest load of a table (and interval, for bars): what a check validates when it
-- cannot see the partition it runs for.
SELECT window_start, window_end, partition_key, symbols
FROM ops.ingest_log
WHERE table_name = %(table)s AND interval IS NOT DISTINCT FROM %(interval)s
ORDER BY loaded_at DESC, ingest_id DESC
LIMIT 1
