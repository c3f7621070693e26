-- The rows being restated: each pair from its start (NULL start = the pair's whole history).
DELETE FROM analytics.strategy_performance AS sp
USING unnest(%(ids)s::bigint[], %(symbols)s::text[], %(starts)s::timestamptz[]) AS d(strategy_id, symbol, start_time)
WHERE sp.strategy_id = d.strategy_id AND sp.symbol = d.symbol
  AND (d.start_time IS NULL OR sp.time >= d.start_time)
