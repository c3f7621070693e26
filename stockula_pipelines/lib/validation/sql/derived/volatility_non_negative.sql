SELECT count(*) FILTER (WHERE volatility < 0 OR volatility = 'NaN'::float8), count(*)
FROM market.price_history
WHERE interval = '1d' AND time >= %(start)s AND time < %(end)s
