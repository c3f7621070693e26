-- Solved contracts whose IV or Greeks leave their mathematical bounds: calls 0 <= delta <= 1,
-- puts -1 <= delta <= 0, gamma >= 0, vega >= 0, 0 < IV < 5.
SELECT count(*) FILTER (WHERE NOT (delta BETWEEN 0 AND 1) OR gamma < 0 OR vega < 0
                           OR NOT (implied_volatility > 0 AND implied_volatility < 5)), count(*)
FROM market.options_calls WHERE greeks_status = 'ok' AND time >= %(start)s AND time < %(end)s
UNION ALL
SELECT count(*) FILTER (WHERE NOT (delta BETWEEN -1 AND 0) OR gamma < 0 OR vega < 0
                           OR NOT (implied_volatility > 0 AND implied_volatility < 5)), count(*)
FROM market.options_puts WHERE greeks_status = 'ok' AND time >= %(start)s AND time < %(end)s
