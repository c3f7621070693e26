-- Contracts of the window left without an implied volatility (expired, no quote, below intrinsic, ...).
SELECT count(*) FILTER (WHERE implied_volatility IS NULL), count(*)
FROM market.options_calls WHERE time >= %(start)s AND time < %(end)s
UNION ALL
SELECT count(*) FILTER (WHERE implied_volatility IS NULL), count(*)
FROM market.options_puts WHERE time >= %(start)s AND time < %(end)s
