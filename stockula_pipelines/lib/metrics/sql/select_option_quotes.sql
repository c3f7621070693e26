-- The quotes of one load's window, with the trailing-year dividend yield of the underlying.
SELECT o.contract_symbol, o.time, o.symbol, o.strike, o.expiration_date, o.bid, o.ask, o.last_price,
       o.underlying_price,
       coalesce((SELECT sum(d.amount) FROM market.dividends d
                 WHERE d.symbol = o.symbol AND d.time > o.time - interval '365 days' AND d.time <= o.time), 0)
         / nullif(o.underlying_price, 0) AS dividend_yield
FROM {table} AS o
WHERE o.time >= %(start)s AND o.time < %(end)s AND o.symbol = ANY(%(symbols)s)
