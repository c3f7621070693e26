#!/bin/sh
# Writes PgBouncer's auth file from the environment (never baked into the image or the repository),
# readable by the pgbouncer process only, then runs PgBouncer in the foreground.
set -eu
: "${STOCKULA_WRITER_PASSWORD:?STOCKULA_WRITER_PASSWORD must be set}"
: "${STOCKULA_ANALYST_PASSWORD:?STOCKULA_ANALYST_PASSWORD must be set}"
umask 077
mkdir -p /tmp/pgbouncer
printf '"%s" "%s"\n"%s" "%s"\n' \
  "${STOCKULA_WRITER_USER:-stockula_writer}" "$STOCKULA_WRITER_PASSWORD" \
  "${STOCKULA_ANALYST_USER:-stockula_analyst}" "$STOCKULA_ANALYST_PASSWORD" > /tmp/pgbouncer/userlist.txt
exec pgbouncer /etc/stockula/pgbouncer.ini
