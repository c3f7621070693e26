-- Symbols the latest load of each window inside the range left untouched (source failed or empty).
SELECT coalesce(array_agg(DISTINCT s ORDER BY s) FILTER (WHERE s IS NOT NULL), '{}'), count(DISTINCT l.ingest_id)
FROM (
  SELECT DISTINCT ON (window_start, window_end) ingest_id, symbols_skipped
  FROM ops.ingest_log
  WHERE table_name = %(table)s AND interval IS NOT DISTINCT FROM %(interval)s
    AND window_start >= %(start)s AND window_end <= %(end)s
  ORDER BY window_start, window_end, ingest_id DESC
) AS l
LEFT JOIN LATERAL unnest(l.symbols_skipped) AS s ON true
