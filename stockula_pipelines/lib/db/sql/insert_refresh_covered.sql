INSERT INTO ops.refresh_covered (target, ingest_id, refresh_id)
SELECT %(target)s, id, %(refresh_id)s FROM unnest(%(ids)s::bigint[]) AS id
ON CONFLICT (target, ingest_id) DO NOTHING
