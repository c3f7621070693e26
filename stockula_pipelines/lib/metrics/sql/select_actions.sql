SELECT 'dividend' AS kind, symbol, ex_date, amount AS value FROM market.dividends WHERE symbol = ANY(%(symbols)s)
UNION ALL
SELECT 'split' AS kind, symbol, ex_date, ratio AS value FROM market.splits WHERE symbol = ANY(%(symbols)s)
