#!/usr/bin/env bash
# Creates the login roles and databases that `stockula stack up` creates natively (idempotent:
# existing roles get their password and attributes re-applied). Group roles, schema and grants come
# from `stockula db migrate`. Passwords travel as psql variables and are quoted by psql (:'var') and
# format(%L), never spliced into SQL text by the shell.
set -euo pipefail
: "${STOCKULA_ADMIN_PASSWORD:?STOCKULA_ADMIN_PASSWORD must be set}"
: "${STOCKULA_WRITER_PASSWORD:?STOCKULA_WRITER_PASSWORD must be set}"
: "${STOCKULA_ANALYST_PASSWORD:?STOCKULA_ANALYST_PASSWORD must be set}"
: "${STOCKULA_BACKUP_PASSWORD:?STOCKULA_BACKUP_PASSWORD must be set}"
: "${STOCKULA_MONITOR_PASSWORD:?STOCKULA_MONITOR_PASSWORD must be set}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v admin_user="${STOCKULA_ADMIN_USER:-stockula_admin}" -v admin_pw="$STOCKULA_ADMIN_PASSWORD" \
  -v writer_user="${STOCKULA_WRITER_USER:-stockula_writer}" -v writer_pw="$STOCKULA_WRITER_PASSWORD" \
  -v analyst_user="${STOCKULA_ANALYST_USER:-stockula_analyst}" -v analyst_pw="$STOCKULA_ANALYST_PASSWORD" \
  -v backup_user="${STOCKULA_BACKUP_USER:-stockula_backup}" -v backup_pw="$STOCKULA_BACKUP_PASSWORD" \
  -v monitor_user="${STOCKULA_MONITOR_USER:-stockula_monitor}" -v monitor_pw="$STOCKULA_MONITOR_PASSWORD" \
  -v db_name="${STOCKULA_DB_NAME:-stockula}" -v dagster_db="${STOCKULA_DAGSTER_DB_NAME:-dagster}" <<'SQL'
SELECT format('%s ROLE %I WITH LOGIN %s PASSWORD %L',
              CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r.name)
                   THEN 'ALTER' ELSE 'CREATE' END,
              r.name, r.options, r.pw)
FROM (VALUES (:'admin_user',   'SUPERUSER CREATEDB CREATEROLE', :'admin_pw'),
             (:'writer_user',  'NOSUPERUSER',                   :'writer_pw'),
             (:'analyst_user', 'NOSUPERUSER',                   :'analyst_pw'),
             (:'backup_user',  'NOSUPERUSER REPLICATION',       :'backup_pw'),
             (:'monitor_user', 'NOSUPERUSER',                   :'monitor_pw')) AS r(name, options, pw)
\gexec
GRANT pg_monitor TO :"monitor_user";

SELECT format('CREATE DATABASE %I WITH OWNER %I ENCODING ''UTF8'' TEMPLATE template0', d, :'admin_user')
FROM unnest(ARRAY[:'db_name', :'dagster_db']) AS d
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = d)
\gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', d, :'admin_user')
FROM unnest(ARRAY[:'db_name', :'dagster_db']) AS d
\gexec

\connect :"db_name"
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
SQL
