SELECT current_setting('timescaledb.license', true)
