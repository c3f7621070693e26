SELECT j.job_id, j.proc_name, j.hypertable_name, s.last_run_status, s.last_successful_finish, s.total_failures
FROM timescaledb_information.jobs AS j
LEFT JOIN timescaledb_information.job_stats AS s ON s.job_id = j.job_id
ORDER BY j.job_id
