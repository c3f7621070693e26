-- Full edition: compression (enabled before any policy), retention and refresh policies.
-- segmentby/orderby cover each unique key, as compression of a table with a unique key requires.

-- Policy jobs run as the owner of their hypertable, and TimescaleDB refuses to add (or start) a job
-- whose owner cannot log in ("permission denied to start background process"). The owner gets LOGIN
-- but no password, so password authentication as it always fails; only the job scheduler uses it.
ALTER ROLE stockula_owner LOGIN;
SET LOCAL ROLE stockula_owner;

ALTER TABLE market.price_history SET (
  timescaledb.compress, timescaledb.compress_segmentby = 'symbol, interval', timescaledb.compress_orderby = 'time DESC');
SELECT add_compression_policy('market.price_history', compress_after => INTERVAL '90 days');

ALTER TABLE market.options_calls SET (
  timescaledb.compress, timescaledb.compress_segmentby = 'symbol', timescaledb.compress_orderby = 'contract_symbol, time DESC');
ALTER TABLE market.options_puts SET (
  timescaledb.compress, timescaledb.compress_segmentby = 'symbol', timescaledb.compress_orderby = 'contract_symbol, time DESC');
SELECT add_compression_policy('market.options_calls', compress_after => INTERVAL '30 days');
SELECT add_compression_policy('market.options_puts', compress_after => INTERVAL '30 days');
-- Snapshots older than two years are dropped; prices and corporate actions are kept forever.
SELECT add_retention_policy('market.options_calls', drop_after => INTERVAL '730 days');
SELECT add_retention_policy('market.options_puts', drop_after => INTERVAL '730 days');

-- The continuous aggregates belong to the writer's group (0008): their policies are added as it.
SET LOCAL ROLE stockula_write;
SELECT add_continuous_aggregate_policy('aggregates.price_history_daily',
  start_offset => INTERVAL '7 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');
SELECT add_continuous_aggregate_policy('aggregates.price_history_weekly',
  start_offset => INTERVAL '35 days', end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 day');
SELECT add_continuous_aggregate_policy('aggregates.price_history_monthly',
  start_offset => INTERVAL '95 days', end_offset => INTERVAL '1 day', schedule_interval => INTERVAL '1 day');
SELECT add_continuous_aggregate_policy('aggregates.market_volume_hourly',
  start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '30 minutes');
SELECT add_continuous_aggregate_policy('aggregates.options_calls_volume_daily',
  start_offset => INTERVAL '7 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');
SELECT add_continuous_aggregate_policy('aggregates.options_puts_volume_daily',
  start_offset => INTERVAL '7 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');

ALTER MATERIALIZED VIEW aggregates.price_history_daily SET (timescaledb.compress = true);
SELECT add_compression_policy('aggregates.price_history_daily', compress_after => INTERVAL '365 days');
