#!/usr/bin/env bash
# docker-entrypoint-initdb.d hook (first start only), for the read replica (compose profile "replica",
# docs/replica.md): the replication role may open replication connections from the compose network and
# nothing else. The lines go first: pg_hba.conf is read top down, and the entrypoint's own line
# (host all all all scram-sha-256) would otherwise let the role into every database.
set -euo pipefail
hba="${PGDATA:?PGDATA is not set}/pg_hba.conf"
user="${STOCKULA_REPLICATOR_USER:-stockula_replicator}"
if ! grep -q "^# stockula: replication role" "$hba"; then
  {
    echo "# stockula: replication role (the read replica's base backup and WAL stream) only"
    echo "host    replication  $user  all  scram-sha-256"
    echo "local   all          $user       reject"
    echo "host    all          $user  all  reject"
    cat "$hba"
  } > "$hba.stockula"
  mv "$hba.stockula" "$hba"
fi
