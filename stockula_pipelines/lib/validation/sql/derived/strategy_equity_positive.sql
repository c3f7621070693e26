-- A backtest's equity compounds (1 + return); at or below zero the strategy is wiped out, which a
-- position within [-1, 1] cannot reach without a price moving by more than 100 percent in a day.
SELECT count(*) FILTER (WHERE NOT (equity > 0)), count(*)
FROM analytics.strategy_performance
WHERE time >= %(start)s AND time < %(end)s
