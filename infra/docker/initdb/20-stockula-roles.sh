#!/usr/bin/env bash
# Creates the login roles and databases that `stockula stack up` creates natively (idempotent:
# existing roles get their attributes and password re-applied). Group roles, schema and grants come
# from `stockula db migrate`.
# No password reaches the server: each one is turned into its SCRAM-SHA-256 verifier here (python3,
# which the image ships for Patroni), read from the environment, never from a command line. The
# verifiers travel as psql variables, quoted by psql (:'var') and format(%L).
set -euo pipefail
for var in STOCKULA_ADMIN_PASSWORD STOCKULA_WRITER_PASSWORD STOCKULA_ANALYST_PASSWORD STOCKULA_BACKUP_PASSWORD \
           STOCKULA_MONITOR_PASSWORD STOCKULA_DAGSTER_PASSWORD STOCKULA_REPLICATOR_PASSWORD; do
  [ -n "${!var:-}" ] || { echo "$var must be set" >&2; exit 1; }
done
command -v python3 >/dev/null || { echo "python3 is needed to compute the SCRAM verifiers" >&2; exit 1; }

# The verifier of the password held in the environment variable named $1 (RFC 5802 / 7677, 4096 rounds,
# PostgreSQL's own format). Passwords of printable ASCII only: SASLprep leaves them as they are.
scram_verifier() {
  python3 - "$1" <<'PY'
import base64, hashlib, hmac, os, sys
password = os.environ[sys.argv[1]]
if not (password.isascii() and password.isprintable()):
    sys.exit(f"{sys.argv[1]}: use printable ASCII (SASLprep is not implemented here)")
salt, rounds = os.urandom(16), 4096
salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, rounds)
client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
b64 = lambda raw: base64.b64encode(raw).decode()
print(f"SCRAM-SHA-256${rounds}:{b64(salt)}${b64(hashlib.sha256(client_key).digest())}:{b64(server_key)}")
PY
}

# Assignments, so that a failed computation stops the script (set -e) before psql runs.
admin_v=$(scram_verifier STOCKULA_ADMIN_PASSWORD)
writer_v=$(scram_verifier STOCKULA_WRITER_PASSWORD)
analyst_v=$(scram_verifier STOCKULA_ANALYST_PASSWORD)
backup_v=$(scram_verifier STOCKULA_BACKUP_PASSWORD)
monitor_v=$(scram_verifier STOCKULA_MONITOR_PASSWORD)
dagster_v=$(scram_verifier STOCKULA_DAGSTER_PASSWORD)
replicator_v=$(scram_verifier STOCKULA_REPLICATOR_PASSWORD)

psql -v ON_ERROR_STOP=1 --no-psqlrc --quiet --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  -v admin_user="${STOCKULA_ADMIN_USER:-stockula_admin}" -v admin_pw="$admin_v" \
  -v writer_user="${STOCKULA_WRITER_USER:-stockula_writer}" -v writer_pw="$writer_v" \
  -v analyst_user="${STOCKULA_ANALYST_USER:-stockula_analyst}" -v analyst_pw="$analyst_v" \
  -v backup_user="${STOCKULA_BACKUP_USER:-stockula_backup}" -v backup_pw="$backup_v" \
  -v monitor_user="${STOCKULA_MONITOR_USER:-stockula_monitor}" -v monitor_pw="$monitor_v" \
  -v dagster_user="${STOCKULA_DAGSTER_USER:-stockula_dagster}" -v dagster_pw="$dagster_v" \
  -v replicator_user="${STOCKULA_REPLICATOR_USER:-stockula_replicator}" -v replicator_pw="$replicator_v" \
  -v db_name="${STOCKULA_DB_NAME:-stockula}" -v dagster_db="${STOCKULA_DAGSTER_DB_NAME:-dagster}" <<'SQL'
SELECT format('%s ROLE %I WITH LOGIN %s PASSWORD %L',
              CASE WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r.name)
                   THEN 'ALTER' ELSE 'CREATE' END,
              r.name, r.options, r.verifier)
FROM (VALUES (:'admin_user',   'SUPERUSER CREATEDB CREATEROLE',                       :'admin_pw'),
             (:'writer_user',  'NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION',   :'writer_pw'),
             (:'analyst_user', 'NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION',   :'analyst_pw'),
             (:'backup_user',  'NOSUPERUSER NOCREATEDB NOCREATEROLE REPLICATION',     :'backup_pw'),
             (:'monitor_user', 'NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION',   :'monitor_pw'),
             (:'dagster_user', 'NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION',   :'dagster_pw'),
             -- the read replica's stream (issue 15); 40-stockula-replication.sh limits it to replication
             (:'replicator_user', 'NOSUPERUSER NOCREATEDB NOCREATEROLE REPLICATION',  :'replicator_pw'))
     AS r(name, options, verifier)
\gexec
GRANT pg_monitor TO :"monitor_user";

-- The market data belongs to the admin (migrations); Dagster's storage to its own role, alone.
SELECT format('CREATE DATABASE %I WITH OWNER %I ENCODING ''UTF8'' TEMPLATE template0', d.name, d.owner)
FROM (VALUES (:'db_name', :'admin_user'), (:'dagster_db', :'dagster_user')) AS d(name, owner)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_database WHERE datname = d.name)
\gexec
SELECT format('ALTER DATABASE %I OWNER TO %I', d.name, d.owner)
FROM (VALUES (:'db_name', :'admin_user'), (:'dagster_db', :'dagster_user')) AS d(name, owner)
\gexec
REVOKE CONNECT, TEMPORARY ON DATABASE :"dagster_db" FROM PUBLIC;

\connect :"db_name"
CREATE EXTENSION IF NOT EXISTS timescaledb;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
SQL
