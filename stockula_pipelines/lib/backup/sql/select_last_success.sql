-- Age of the newest good backup and of the newest passed drill (NULL when there is none).
SELECT (SELECT max(finished_at) FROM ops.backups WHERE status = 'complete') AS last_backup,
       (SELECT max(verified_at) FROM ops.backup_verifications WHERE method = 'drill' AND passed) AS last_drill,
       now() AS checked_at
