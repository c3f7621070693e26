INSERT INTO ops.maintenance_log (task, seconds, changed, report, run_id) VALUES (%s, %s, %s, %s, %s)
