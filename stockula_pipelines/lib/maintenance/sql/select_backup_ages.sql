-- Seconds since the newest good backup and the newest passed drill (NULL: never, or no ops tables yet).
SELECT extract(epoch FROM now() - (SELECT max(finished_at) FROM ops.backups WHERE status = 'complete'))::double precision,
       extract(epoch FROM now() - (SELECT max(verified_at) FROM ops.backup_verifications
                                   WHERE method = 'drill' AND passed))::double precision
