SELECT backup_id, kind, status, database_name, started_at, finished_at, size_bytes, repo_bytes, prior_id,
       location, restore_point, manifest
FROM ops.backups
WHERE backup_id = %s
