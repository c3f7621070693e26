SET LOCAL ROLE stockula_owner;

CREATE TABLE analytics.market_summary_daily (
  date                 date PRIMARY KEY,
  symbols_count        integer NOT NULL,
  advancers            integer NOT NULL,
  decliners            integer NOT NULL,
  unchanged            integer NOT NULL,
  total_volume         bigint NOT NULL,
  total_trading_value  double precision NOT NULL,
  avg_return           double precision,
  median_return        double precision,
  avg_volatility       double precision,
  updated_at           timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE analytics.market_summary_daily IS 'Market breadth: one row per trading day (filled by the curated model market_summary_daily).';

CREATE TABLE analytics.sector_performance (
  date                 date NOT NULL,
  sector               text NOT NULL,
  symbols_count        integer NOT NULL,
  avg_return           double precision,
  total_volume         bigint NOT NULL,
  total_trading_value  double precision NOT NULL,
  avg_volatility       double precision,
  updated_at           timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (date, sector)
);
COMMENT ON TABLE analytics.sector_performance IS 'One row per sector per trading day (filled by the curated model sector_performance_daily).';

-- Backtests belong to the application; the pipelines only provide the schema.
CREATE TABLE analytics.strategies (
  strategy_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name         text NOT NULL UNIQUE,
  description  text,
  parameters   jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE analytics.strategies IS 'Backtest strategies: one row per strategy.';

CREATE TABLE analytics.strategy_performance (
  time               timestamptz NOT NULL,
  strategy_id        bigint NOT NULL REFERENCES analytics.strategies (strategy_id),
  symbol             text NOT NULL,
  equity             double precision,
  daily_return       double precision,
  cumulative_return  double precision,
  drawdown           double precision,
  sharpe_ratio       double precision,
  trades             integer,
  PRIMARY KEY (strategy_id, symbol, time)
);
SELECT create_hypertable('analytics.strategy_performance', by_range('time', INTERVAL '365 days'),
                         create_default_indexes => false);
COMMENT ON TABLE analytics.strategy_performance IS 'Backtest results: one row per strategy per symbol per time.';
