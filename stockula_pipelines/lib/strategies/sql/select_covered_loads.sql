-- Which of these loads another target (price_metrics) has processed: only those are safe to read.
SELECT ingest_id FROM ops.refresh_covered WHERE target = %(target)s AND ingest_id = ANY(%(ids)s::bigint[])
