#!/usr/bin/env bash
# docker-entrypoint-initdb.d hook (first start only): create the pgBackRest stanza in the pgbackrest
# volume, so archive_command succeeds from the first real start. The repository key comes from
# PGBACKREST_REPO1_CIPHER_PASS in the container's environment.
set -euo pipefail
mkdir -p /tmp/pgbackrest/lock /tmp/pgbackrest/spool /var/lib/pgbackrest/log
pgbackrest --stanza=stockula --pg1-path="${PGDATA:?PGDATA is not set}" --pg1-socket-path=/var/run/postgresql \
  stanza-create
