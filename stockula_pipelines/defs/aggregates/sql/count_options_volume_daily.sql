SELECT option_type, count(*), max(bucket) FROM aggregates.options_volume_daily GROUP BY option_type
