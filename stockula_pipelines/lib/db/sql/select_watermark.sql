SELECT coalesce(max(last_ingest_id), 0) FROM ops.refresh_log WHERE target = %(target)s
