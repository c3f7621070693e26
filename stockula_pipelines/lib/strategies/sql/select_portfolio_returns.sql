-- Each version's equal-weight portfolio, rebalanced daily: the mean return and turnover of the
-- symbols with a row that day (the same series curated.strategy_summary summarises).
SELECT strategy_id, date, avg(daily_return) AS daily_return, avg(turnover) AS turnover
FROM analytics.strategy_performance
WHERE strategy_id = ANY(%(ids)s::bigint[])
GROUP BY strategy_id, date
ORDER BY strategy_id, date
