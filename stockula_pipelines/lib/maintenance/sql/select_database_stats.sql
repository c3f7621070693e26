SELECT pg_database_size(current_database()) AS database_bytes,
       CASE WHEN blks_hit + blks_read = 0 THEN NULL
            ELSE blks_hit::double precision / (blks_hit + blks_read) END AS cache_hit_ratio
FROM pg_stat_database WHERE datname = current_database()
