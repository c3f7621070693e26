-- (strategy version, symbol) pairs that already have rows: the others need their whole history.
SELECT DISTINCT strategy_id, symbol FROM analytics.strategy_performance WHERE strategy_id = ANY(%(ids)s::bigint[])
