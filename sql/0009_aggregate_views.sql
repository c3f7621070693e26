SET LOCAL ROLE stockula_owner;

CREATE VIEW aggregates.options_volume_daily AS
SELECT bucket, symbol, 'call'::text AS option_type, total_volume, total_open_interest, contracts
FROM aggregates.options_calls_volume_daily
UNION ALL
SELECT bucket, symbol, 'put'::text AS option_type, total_volume, total_open_interest, contracts
FROM aggregates.options_puts_volume_daily;
COMMENT ON VIEW aggregates.options_volume_daily IS 'Options activity: one row per symbol per option type per trading day.';


GRANT SELECT ON ALL TABLES IN SCHEMA aggregates TO stockula_read;
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA aggregates TO stockula_write;
