-- Daily bars in the window whose adjusted close is missing or not positive.
SELECT count(*) FILTER (WHERE adj_close_price IS NULL OR NOT adj_close_price > 0), count(*)
FROM market.price_history
WHERE interval = '1d' AND time >= %(start)s AND time < %(end)s
