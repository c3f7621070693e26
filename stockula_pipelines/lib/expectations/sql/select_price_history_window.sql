-- One interval's bars of one window. {start}, {end} and {interval} are psycopg.sql.Literals of a
-- validated tz-aware datetime / known interval (GE's query assets take SQL text, not parameters).
SELECT symbol, interval, time, date, open_price, high_price, low_price, close_price, volume
FROM market.price_history
WHERE time >= {start} AND time < {end} AND interval = {interval}
