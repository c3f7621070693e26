-- Every B-tree index amcheck should look at: user tables and the hypertables' chunks.
SELECT c.oid::regclass::text AS index_name, c.oid
FROM pg_index AS i
JOIN pg_class AS c ON c.oid = i.indexrelid
JOIN pg_am AS am ON am.oid = c.relam
JOIN pg_namespace AS n ON n.oid = c.relnamespace
WHERE am.amname = 'btree' AND c.relpersistence = 'p' AND i.indisvalid
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
ORDER BY 1
