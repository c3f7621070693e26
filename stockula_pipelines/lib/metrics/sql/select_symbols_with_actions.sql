SELECT DISTINCT symbol FROM market.dividends
WHERE time >= %(start)s AND time < %(end)s AND symbol = ANY(%(symbols)s)
UNION
SELECT DISTINCT symbol FROM market.splits
WHERE time >= %(start)s AND time < %(end)s AND symbol = ANY(%(symbols)s)
