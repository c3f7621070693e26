-- Symbols the loads overlapping this window asked the source for: they should all have bars in it
-- (a range run is one load across many days, and each of its days is judged on its own).
SELECT coalesce(array_agg(DISTINCT s), '{}')
FROM ops.ingest_log, unnest(symbols || symbols_skipped) AS s
WHERE table_name = 'price_history' AND interval = %(interval)s
  AND window_start < %(end)s AND window_end > %(start)s
