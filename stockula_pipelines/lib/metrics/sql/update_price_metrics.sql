UPDATE market.price_history AS p
SET adj_close_price = s.adj_close_price, daily_return = s.daily_return, volatility = s.volatility
FROM staging_price_metrics AS s
WHERE p.symbol = s.symbol AND p.interval = '1d' AND p.time = s.time
  AND (p.adj_close_price, p.daily_return, p.volatility)
      IS DISTINCT FROM (s.adj_close_price, s.daily_return, s.volatility)
