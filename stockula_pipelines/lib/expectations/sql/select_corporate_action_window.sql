-- One window of market.dividends or market.splits; {table} is an Identifier, {start}/{end} Literals.
SELECT *
FROM {table}
WHERE time >= {start} AND time < {end}
