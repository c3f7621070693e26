-- Symbols the loads inside this window asked the source for: they should all have bars.
SELECT coalesce(array_agg(DISTINCT s), '{}')
FROM ops.ingest_log, unnest(symbols || symbols_skipped) AS s
WHERE table_name = 'price_history' AND interval = %(interval)s
  AND window_start >= %(start)s AND window_end <= %(end)s
