#!/usr/bin/env bash
# docker-entrypoint-initdb.d hook (first start only): pull the settings shared with the native stack
# (infra/config/postgresql.common.conf) into the cluster's configuration. The entrypoint restarts
# PostgreSQL after the init scripts, so shared_preload_libraries takes effect before the first real start.
set -euo pipefail
conf="${PGDATA:?PGDATA is not set}/postgresql.conf"
if ! grep -q "/etc/stockula/postgresql.common.conf" "$conf"; then
  {
    echo ""
    echo "# stockula: shared settings, then the container-specific ones (last one wins)"
    echo "include '/etc/stockula/postgresql.common.conf'"
    echo "include '/etc/stockula/postgresql.docker.conf'"
  } >> "$conf"
fi
