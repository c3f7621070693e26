INSERT INTO quality.data_quality_results
  (asset_key, check_name, severity, passed, window_start, window_end, partition_key,
   observed_value, failing_count, total_count, details, run_id)
VALUES (%(asset_key)s, %(check_name)s, %(severity)s, %(passed)s, %(window_start)s, %(window_end)s,
        %(partition_key)s, %(observed_value)s, %(failing_count)s, %(total_count)s, %(details)s, %(run_id)s)
