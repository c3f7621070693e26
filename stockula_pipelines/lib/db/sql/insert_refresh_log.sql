INSERT INTO ops.refresh_log (target, window_start, window_end, method, rows_written, last_ingest_id, run_id)
VALUES (%(target)s, %(start)s, %(end)s, %(method)s, %(rows)s, %(last_ingest_id)s, %(run_id)s)
RETURNING refresh_id
