UPDATE quality.quarantine
SET resolved_at = now(), resolution = %(resolution)s
WHERE quarantine_id = ANY(%(ids)s) AND resolved_at IS NULL
