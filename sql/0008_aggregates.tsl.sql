-- Full (TSL) edition: the five aggregates as continuous aggregates with real-time aggregation.
-- Each aggregate reads exactly one bar interval so no trade is counted twice:
--   daily and hourly market volume from the canonical intraday bars ('5m'),
--   weekly and monthly from the daily bars ('1d').
-- Buckets are in exchange time so a trading day is one bucket across DST changes.
-- The Apache edition builds tables with the same columns (0008_aggregates.apache.sql).
SET LOCAL ROLE stockula_owner;

CREATE MATERIALIZED VIEW aggregates.price_history_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', time, 'America/New_York') AS bucket,
       symbol,
       first(open_price, time) AS open_price,
       max(high_price)         AS high_price,
       min(low_price)          AS low_price,
       last(close_price, time) AS close_price,
       sum(volume)             AS volume,
       sum(trading_value)      AS trading_value,
       count(*)                AS bar_count
FROM market.price_history
WHERE interval = '5m'
GROUP BY 1, 2
WITH NO DATA;

CREATE MATERIALIZED VIEW aggregates.price_history_weekly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '7 days', time, 'America/New_York', TIMESTAMPTZ '2000-01-03 00:00:00-05') AS bucket,
       symbol,
       first(open_price, time) AS open_price,
       max(high_price)         AS high_price,
       min(low_price)          AS low_price,
       last(close_price, time) AS close_price,
       sum(volume)             AS volume,
       sum(trading_value)      AS trading_value,
       count(*)                AS bar_count
FROM market.price_history
WHERE interval = '1d'
GROUP BY 1, 2
WITH NO DATA;

CREATE MATERIALIZED VIEW aggregates.price_history_monthly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 month', time, 'America/New_York') AS bucket,
       symbol,
       first(open_price, time) AS open_price,
       max(high_price)         AS high_price,
       min(low_price)          AS low_price,
       last(close_price, time) AS close_price,
       sum(volume)             AS volume,
       sum(trading_value)      AS trading_value,
       count(*)                AS bar_count
FROM market.price_history
WHERE interval = '1d'
GROUP BY 1, 2
WITH NO DATA;

CREATE MATERIALIZED VIEW aggregates.market_volume_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket,
       sum(volume)        AS total_volume,
       sum(trading_value) AS total_trading_value,
       count(*)           AS bar_count
FROM market.price_history
WHERE interval = '5m'
GROUP BY 1
WITH NO DATA;

-- A continuous aggregate reads one hypertable, so calls and puts each get one and a view joins them.
CREATE MATERIALIZED VIEW aggregates.options_calls_volume_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', time, 'America/New_York') AS bucket,
       symbol,
       sum(volume)             AS total_volume,
       sum(open_interest)      AS total_open_interest,
       count(*)                AS contracts
FROM market.options_calls
GROUP BY 1, 2
WITH NO DATA;

CREATE MATERIALIZED VIEW aggregates.options_puts_volume_daily
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', time, 'America/New_York') AS bucket,
       symbol,
       sum(volume)             AS total_volume,
       sum(open_interest)      AS total_open_interest,
       count(*)                AS contracts
FROM market.options_puts
GROUP BY 1, 2
WITH NO DATA;

-- A continuous aggregate is a view to PostgreSQL (relkind 'v'): COMMENT ON MATERIALIZED VIEW refuses it.
COMMENT ON VIEW aggregates.price_history_daily IS 'Daily OHLCV from the 5-minute bars: one row per symbol per trading day (bucket = 00:00 exchange time).';
COMMENT ON VIEW aggregates.price_history_weekly IS 'Weekly OHLCV from the daily bars: one row per symbol per week starting Monday.';
COMMENT ON VIEW aggregates.price_history_monthly IS 'Monthly OHLCV from the daily bars: one row per symbol per calendar month.';
COMMENT ON VIEW aggregates.market_volume_hourly IS 'Market-wide volume from the 5-minute bars: one row per UTC hour.';
COMMENT ON VIEW aggregates.options_calls_volume_daily IS 'Call activity: one row per symbol per trading day.';
COMMENT ON VIEW aggregates.options_puts_volume_daily IS 'Put activity: one row per symbol per trading day.';

-- refresh_continuous_aggregate() is allowed to the aggregate's owner only, and the Dagster assets
-- refresh as the writer: the continuous aggregates (derived data, no source rows) are handed to the
-- writer's group. Policy jobs run as that owner, which therefore needs LOGIN (it has no password,
-- so nobody can log in as it over TCP).
RESET ROLE;
ALTER ROLE stockula_write LOGIN;
ALTER MATERIALIZED VIEW aggregates.price_history_daily OWNER TO stockula_write;
ALTER MATERIALIZED VIEW aggregates.price_history_weekly OWNER TO stockula_write;
ALTER MATERIALIZED VIEW aggregates.price_history_monthly OWNER TO stockula_write;
ALTER MATERIALIZED VIEW aggregates.market_volume_hourly OWNER TO stockula_write;
ALTER MATERIALIZED VIEW aggregates.options_calls_volume_daily OWNER TO stockula_write;
ALTER MATERIALIZED VIEW aggregates.options_puts_volume_daily OWNER TO stockula_write;
GRANT SELECT ON ALL TABLES IN SCHEMA aggregates TO stockula_owner, stockula_read;
