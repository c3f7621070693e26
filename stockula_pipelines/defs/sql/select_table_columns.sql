-- The columns of one table in order, for the asset's dagster/column_schema.
SELECT c.column_name,
       c.data_type,
       c.is_nullable = 'YES' AS nullable,
       col_description((quote_ident(c.table_schema) || '.' || quote_ident(c.table_name))::regclass, c.ordinal_position) AS comment
FROM information_schema.columns AS c
WHERE c.table_schema = %s AND c.table_name = %s
ORDER BY c.ordinal_position
