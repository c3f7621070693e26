-- Bars whose close moved more than 30 % from the same symbol's previous bar (same interval) while no
-- split went ex between the two bars. The previous bar may lie before the window, hence the lateral
-- lookup into market.price_history (served by the primary key (symbol, interval, time)).
SELECT b.symbol, b.interval, b.time, b.close_price, prev.close_price AS previous_close
FROM {batch} AS b
CROSS JOIN LATERAL (
  SELECT p.close_price, p.date
  FROM market.price_history AS p
  WHERE p.symbol = b.symbol AND p.interval = b.interval AND p.time < b.time
  ORDER BY p.time DESC
  LIMIT 1
) AS prev
WHERE abs(b.close_price / prev.close_price - 1) > 0.30
  AND NOT EXISTS (
    SELECT 1 FROM market.splits AS s
    WHERE s.symbol = b.symbol AND s.ex_date > prev.date AND s.ex_date <= b.date
  )
