-- Resubmitted rows: resolved, each with its own resolution (which fix, if any, made it pass).
UPDATE quality.quarantine AS q
SET resolved_at = now(), resolution = r.resolution
FROM unnest(%(ids)s::bigint[], %(resolutions)s::text[]) AS r (quarantine_id, resolution)
WHERE q.quarantine_id = r.quarantine_id AND q.resolved_at IS NULL
