-- The tables a backup must carry: every user table (a hypertable as its parent, never its chunks),
-- except the backup bookkeeping itself, which is written after the snapshot it describes.
SELECT n.nspname AS schema_name, c.relname AS table_name
FROM pg_class AS c
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND n.nspname NOT LIKE 'pg\_temp%'
  AND n.nspname NOT LIKE 'pg\_toast%'
  AND n.nspname NOT LIKE '\_timescaledb%'
  AND n.nspname NOT LIKE 'timescaledb\_%'
  AND NOT (n.nspname = 'ops' AND c.relname IN ('backups', 'backup_verifications', 'maintenance_log'))
ORDER BY 1, 2
