SELECT max(last_ingest_id) FROM ops.refresh_log WHERE target = %(target)s
