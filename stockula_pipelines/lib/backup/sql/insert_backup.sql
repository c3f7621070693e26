INSERT INTO ops.backups (backup_id, kind, status, database_name, started_at, finished_at, size_bytes, repo_bytes,
                         prior_id, location, restore_point, manifest, error, run_id)
VALUES (%(backup_id)s, %(kind)s, %(status)s, %(database_name)s, %(started_at)s, %(finished_at)s, %(size_bytes)s,
        %(repo_bytes)s, %(prior_id)s, %(location)s, %(restore_point)s, %(manifest)s, %(error)s, %(run_id)s)
ON CONFLICT (backup_id) DO UPDATE SET status = EXCLUDED.status, finished_at = EXCLUDED.finished_at,
  size_bytes = EXCLUDED.size_bytes, repo_bytes = EXCLUDED.repo_bytes, manifest = EXCLUDED.manifest,
  error = EXCLUDED.error
