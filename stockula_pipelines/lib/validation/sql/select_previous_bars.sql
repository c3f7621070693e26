-- For each symbol with a bar in the window: the trading date of its latest bar before the window
-- (NULL when the window holds its first bar). One index probe per symbol on the primary key.
SELECT w.symbol, prev.date AS previous_date
FROM (
  SELECT DISTINCT symbol FROM market.price_history
  WHERE interval = %(interval)s AND time >= %(start)s AND time < %(end)s
) AS w
LEFT JOIN LATERAL (
  SELECT p.date FROM market.price_history AS p
  WHERE p.symbol = w.symbol AND p.interval = %(interval)s AND p.time < %(start)s
  ORDER BY p.time DESC
  LIMIT 1
) AS prev ON true
