-- Every contract in the window has a status, and IV is present exactly when the status is 'ok'.
SELECT count(*) FILTER (WHERE greeks_status IS NULL OR (greeks_status = 'ok') <> (implied_volatility IS NOT NULL)),
       count(*)
FROM market.options_calls WHERE time >= %(start)s AND time < %(end)s
UNION ALL
SELECT count(*) FILTER (WHERE greeks_status IS NULL OR (greeks_status = 'ok') <> (implied_volatility IS NOT NULL)),
       count(*)
FROM market.options_puts WHERE time >= %(start)s AND time < %(end)s
