-- Parse the aggregate SELECTs as the migration parsed the continuous aggregates: TimescaleDB's
-- time_bucket/first/last live in public, which the login roles' search_path may leave out.
SELECT set_config('search_path', 'public', true)
