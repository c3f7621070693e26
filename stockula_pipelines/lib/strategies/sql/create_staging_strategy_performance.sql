CREATE TEMP TABLE staging_strategy_performance (
  time              timestamptz NOT NULL,
  date              date NOT NULL,
  strategy_id       bigint NOT NULL,
  symbol            text NOT NULL,
  position          double precision,
  turnover          double precision,
  daily_return      double precision,
  equity            double precision,
  cumulative_return double precision,
  drawdown          double precision,
  trades            integer
) ON COMMIT DROP
