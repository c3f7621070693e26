-- A position (or any row) needs the day's adjusted close it was marked with.
SELECT count(*) FILTER (WHERE p.adj_close_price IS NULL), count(*)
FROM analytics.strategy_performance AS sp
LEFT JOIN market.price_history AS p
  ON p.symbol = sp.symbol AND p.interval = '1d' AND p.time = sp.time
WHERE sp.time >= %(start)s AND sp.time < %(end)s
