UPDATE {table} AS o
SET implied_volatility = s.implied_volatility, delta = s.delta, gamma = s.gamma, theta = s.theta,
    vega = s.vega, rho = s.rho, greeks_status = s.greeks_status
FROM staging_greeks AS s
WHERE o.contract_symbol = s.contract_symbol AND o.time = s.time
