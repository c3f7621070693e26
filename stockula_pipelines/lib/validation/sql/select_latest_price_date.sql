-- Latest trading date with bars of one interval; the lower bound lets TimescaleDB skip old chunks.
SELECT max(date) FROM market.price_history
WHERE interval = %(interval)s AND time >= %(since)s
