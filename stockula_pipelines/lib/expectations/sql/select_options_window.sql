-- One snapshot window of an options table; {table} is an Identifier, {start}/{end} Literals.
SELECT symbol, contract_symbol, time, snapshot_date, expiration_date, strike, bid, ask,
       source_implied_volatility, underlying_price, implied_volatility, delta, gamma, vega
FROM {table}
WHERE time >= {start} AND time < {end}
