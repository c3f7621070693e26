INSERT INTO analytics.strategy_performance
  (time, date, strategy_id, symbol, position, turnover, daily_return, equity, cumulative_return, drawdown,
   trades, refresh_id)
SELECT time, date, strategy_id, symbol, position, turnover, daily_return, equity, cumulative_return, drawdown,
       trades, %(refresh_id)s
FROM staging_strategy_performance
