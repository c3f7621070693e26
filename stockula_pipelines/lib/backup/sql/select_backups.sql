-- Each backup with its latest verification, newest first.
SELECT b.backup_id, b.kind, b.status, b.started_at, b.finished_at, b.size_bytes, b.prior_id, b.location,
       v.verified_at, v.passed, v.method
FROM ops.backups AS b
LEFT JOIN LATERAL (
  SELECT verified_at, passed, method FROM ops.backup_verifications AS v
  WHERE v.backup_id = b.backup_id ORDER BY verified_at DESC LIMIT 1
) AS v ON true
ORDER BY b.finished_at DESC
