-- Group roles, schemas and the privileges that hang off them.
-- Login roles (writer, analyst, backup, monitor) are created by the stack's bootstrap with their
-- passwords; `stockula db migrate` then makes them members of the group roles below.

CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'stockula_owner') THEN
    CREATE ROLE stockula_owner NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'stockula_write') THEN
    CREATE ROLE stockula_write NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'stockula_read') THEN
    CREATE ROLE stockula_read NOLOGIN;
  END IF;
END
$$;

-- market: raw reference data and time series as loaded (unadjusted prices + corporate actions)
-- aggregates: continuous aggregates (full edition) or rollup tables (Apache edition)
-- analytics: derived daily tables and the backtest tables the application writes
-- curated: the dbt-like models analysts read (views/tables owned by the writer's group)
-- staging: scratch tables of the loader; quality: quarantine + check results; ops: bookkeeping
CREATE SCHEMA IF NOT EXISTS market AUTHORIZATION stockula_owner;
CREATE SCHEMA IF NOT EXISTS aggregates AUTHORIZATION stockula_owner;
CREATE SCHEMA IF NOT EXISTS analytics AUTHORIZATION stockula_owner;
CREATE SCHEMA IF NOT EXISTS curated AUTHORIZATION stockula_owner;
CREATE SCHEMA IF NOT EXISTS staging AUTHORIZATION stockula_owner;
CREATE SCHEMA IF NOT EXISTS quality AUTHORIZATION stockula_owner;
ALTER SCHEMA ops OWNER TO stockula_owner;

-- public keeps USAGE: the TimescaleDB functions live there. Nobody but the admin creates in it.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

GRANT USAGE ON SCHEMA market, aggregates, analytics, curated, staging, quality, ops TO stockula_write;
GRANT CREATE ON SCHEMA curated, staging TO stockula_write;
GRANT USAGE ON SCHEMA market, aggregates, analytics, curated, quality TO stockula_read;

-- Tables created later by the owner get their grants automatically.
ALTER DEFAULT PRIVILEGES FOR ROLE stockula_owner IN SCHEMA market, aggregates, analytics, staging, quality, ops
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO stockula_write;
ALTER DEFAULT PRIVILEGES FOR ROLE stockula_owner IN SCHEMA market, aggregates, analytics, staging, quality, ops
  GRANT USAGE, SELECT ON SEQUENCES TO stockula_write;
ALTER DEFAULT PRIVILEGES FOR ROLE stockula_owner IN SCHEMA market, aggregates, analytics
  GRANT SELECT ON TABLES TO stockula_read;
-- Models the writer's group materialises in curated are readable by analysts.
ALTER DEFAULT PRIVILEGES FOR ROLE stockula_write IN SCHEMA curated GRANT SELECT ON TABLES TO stockula_read;
