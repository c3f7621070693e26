-- User tables (hypertables as their parent) with their dead/modified tuple counts.
SELECT s.schemaname, s.relname, s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze, s.last_analyze, s.last_autoanalyze,
       EXISTS (SELECT 1 FROM timescaledb_information.hypertables AS h
               WHERE h.hypertable_schema = s.schemaname AND h.hypertable_name = s.relname) AS is_hypertable
FROM pg_stat_user_tables AS s
WHERE s.schemaname NOT LIKE '\_timescaledb%' AND s.schemaname NOT LIKE 'timescaledb\_%'
ORDER BY 1, 2
