-- The newest backup of a kind whose latest drill passed: retention never deletes it.
SELECT b.backup_id
FROM ops.backups AS b
WHERE b.status = 'complete' AND b.kind = ANY(%(kinds)s)
  AND (SELECT v.passed FROM ops.backup_verifications AS v WHERE v.backup_id = b.backup_id AND v.method = 'drill'
       ORDER BY v.verified_at DESC LIMIT 1)
ORDER BY b.finished_at DESC
LIMIT 1
