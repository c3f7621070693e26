-- Indexes left invalid (a failed CREATE INDEX CONCURRENTLY, a crash during REINDEX): always rebuilt.
SELECT n.nspname, t.relname, c.relname AS index_name
FROM pg_index AS i
JOIN pg_class AS c ON c.oid = i.indexrelid
JOIN pg_class AS t ON t.oid = i.indrelid
JOIN pg_namespace AS n ON n.oid = t.relnamespace
WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema')
