SET LOCAL ROLE stockula_owner;

-- Strategies are versioned data (stockula_pipelines/defs/strategies/catalogue.yml): one row per
-- strategy version, so a parameter change adds a row and the old version's results stay attributable.
ALTER TABLE analytics.strategies DROP CONSTRAINT strategies_name_key;
ALTER TABLE analytics.strategies
  ADD COLUMN version        text,
  ADD COLUMN kind           text,
  ADD COLUMN universe       jsonb,
  ADD COLUMN commission_bps double precision,
  ADD COLUMN slippage_bps   double precision,
  ADD CONSTRAINT strategies_name_version_key UNIQUE (name, version),
  ADD CONSTRAINT strategies_costs_non_negative CHECK (commission_bps >= 0 AND slippage_bps >= 0);
COMMENT ON TABLE analytics.strategies IS 'Backtest strategies: one row per strategy version (filled from the catalogue by analytics/strategy_performance).';
COMMENT ON COLUMN analytics.strategies.version IS 'First 12 hex digits of the SHA-256 of the canonical definition (kind, parameters, universe, costs).';
COMMENT ON COLUMN analytics.strategies.parameters IS 'The strategy kind''s parameters (windows, thresholds) as in the catalogue.';
COMMENT ON COLUMN analytics.strategies.universe IS '{"all": true}, {"sector": ...} or {"symbols": [...]}.';
COMMENT ON COLUMN analytics.strategies.commission_bps IS 'Commission in basis points per unit of turnover.';
COMMENT ON COLUMN analytics.strategies.slippage_bps IS 'Slippage in basis points per unit of turnover.';

-- What a backtest row needs beyond the original columns: the position held, the turnover that got
-- there, the trading date, and the refresh that wrote the row (so a restatement is traceable).
ALTER TABLE analytics.strategy_performance
  ADD COLUMN date       date,
  ADD COLUMN position   double precision,
  ADD COLUMN turnover   double precision,
  ADD COLUMN refresh_id bigint;
COMMENT ON TABLE analytics.strategy_performance IS 'Backtest results: one row per strategy version per symbol per trading day (daily bars).';
COMMENT ON COLUMN analytics.strategy_performance.position IS 'Fraction of equity held over this day (1 long, -1 short, 0 flat), decided at the previous close.';
COMMENT ON COLUMN analytics.strategy_performance.turnover IS '|position - previous position|: the trade made for this day.';
COMMENT ON COLUMN analytics.strategy_performance.daily_return IS 'position * the adjusted-close return of the day - turnover * (commission + slippage).';
COMMENT ON COLUMN analytics.strategy_performance.equity IS 'Compounded equity, 1.0 on the symbol''s first bar.';
COMMENT ON COLUMN analytics.strategy_performance.drawdown IS 'equity / running peak of equity - 1 (0 at a peak).';
COMMENT ON COLUMN analytics.strategy_performance.cumulative_return IS 'equity - 1.';
COMMENT ON COLUMN analytics.strategy_performance.trades IS 'Days with a position change so far (from the symbol''s first bar).';
COMMENT ON COLUMN analytics.strategy_performance.sharpe_ratio IS 'Not filled per row: see curated.strategy_summary for each version''s statistics.';
COMMENT ON COLUMN analytics.strategy_performance.refresh_id IS 'The ops.refresh_log row (target strategy_performance) that wrote this row.';
