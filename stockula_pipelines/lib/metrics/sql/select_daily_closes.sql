-- Daily closes of each symbol from its own start time onward (NULL start = whole history).
SELECT p.symbol, p.date, p.time, p.close_price
FROM unnest(%(symbols)s::text[], %(starts)s::timestamptz[]) AS s(symbol, start_time)
JOIN market.price_history p
  ON p.symbol = s.symbol AND p.interval = '1d' AND (s.start_time IS NULL OR p.time >= s.start_time)
ORDER BY p.symbol, p.time
