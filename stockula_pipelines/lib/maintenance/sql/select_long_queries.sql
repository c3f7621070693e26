-- Active statements running longer than the threshold (seconds), and sessions blocked by others.
SELECT pid, usename, datname, extract(epoch FROM now() - query_start)::double precision AS seconds,
       left(query, 200) AS query, pg_blocking_pids(pid) AS blocked_by
FROM pg_stat_activity
WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
  AND ((state = 'active' AND now() - query_start > make_interval(secs => %(threshold)s))
       OR cardinality(pg_blocking_pids(pid)) > 0)
ORDER BY seconds DESC
