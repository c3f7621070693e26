-- For each symbol with a bar in the window: its trading dates in the window, and the trading date of
-- its latest bar before the window (NULL when the window holds its first bar).
SELECT w.symbol, w.dates, prev.date AS previous_date
FROM (
  SELECT symbol, array_agg(DISTINCT date ORDER BY date) AS dates FROM market.price_history
  WHERE interval = %(interval)s AND time >= %(start)s AND time < %(end)s
  GROUP BY symbol
) AS w
LEFT JOIN LATERAL (
  SELECT p.date FROM market.price_history AS p
  WHERE p.symbol = w.symbol AND p.interval = %(interval)s AND p.time < %(start)s
  ORDER BY p.time DESC
  LIMIT 1
) AS prev ON true
