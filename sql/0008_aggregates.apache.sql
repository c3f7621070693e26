-- Apache edition: no continuous aggregates. The same columns as rollup tables, refreshed window by
-- window from Dagster with the very SELECTs of 0008_aggregates.tsl.sql
-- (stockula_pipelines/defs/aggregates/sql/). Keys are the GROUP BY columns.
SET LOCAL ROLE stockula_owner;

CREATE TABLE aggregates.price_history_daily (
  bucket timestamptz NOT NULL, symbol text NOT NULL,
  open_price double precision, high_price double precision, low_price double precision,
  close_price double precision, volume numeric, trading_value double precision, bar_count bigint,
  PRIMARY KEY (symbol, bucket)
);
CREATE TABLE aggregates.price_history_weekly (LIKE aggregates.price_history_daily INCLUDING ALL);
CREATE TABLE aggregates.price_history_monthly (LIKE aggregates.price_history_daily INCLUDING ALL);

CREATE TABLE aggregates.market_volume_hourly (
  bucket timestamptz PRIMARY KEY,
  total_volume numeric, total_trading_value double precision, bar_count bigint
);

CREATE TABLE aggregates.options_calls_volume_daily (
  bucket timestamptz NOT NULL, symbol text NOT NULL,
  total_volume numeric, total_open_interest numeric, contracts bigint,
  PRIMARY KEY (symbol, bucket)
);
CREATE TABLE aggregates.options_puts_volume_daily (LIKE aggregates.options_calls_volume_daily INCLUDING ALL);

COMMENT ON TABLE aggregates.price_history_daily IS 'Daily OHLCV from the 5-minute bars: one row per symbol per trading day (bucket = 00:00 exchange time).';
COMMENT ON TABLE aggregates.price_history_weekly IS 'Weekly OHLCV from the daily bars: one row per symbol per week starting Monday.';
COMMENT ON TABLE aggregates.price_history_monthly IS 'Monthly OHLCV from the daily bars: one row per symbol per calendar month.';
COMMENT ON TABLE aggregates.market_volume_hourly IS 'Market-wide volume from the 5-minute bars: one row per UTC hour.';
COMMENT ON TABLE aggregates.options_calls_volume_daily IS 'Call activity: one row per symbol per trading day.';
COMMENT ON TABLE aggregates.options_puts_volume_daily IS 'Put activity: one row per symbol per trading day.';
