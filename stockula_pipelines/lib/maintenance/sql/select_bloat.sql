-- Dead-tuple ratio per table (a cheap proxy for bloat), worst first.
SELECT schemaname || '.' || relname AS table_name, n_live_tup, n_dead_tup,
       CASE WHEN n_live_tup + n_dead_tup = 0 THEN 0
            ELSE n_dead_tup::double precision / (n_live_tup + n_dead_tup) END AS dead_ratio
FROM pg_stat_user_tables
ORDER BY dead_ratio DESC, n_dead_tup DESC
LIMIT 10
