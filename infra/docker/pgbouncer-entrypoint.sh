#!/bin/sh
# Writes PgBouncer's auth file from the environment (never baked into the image or the repository),
# readable by the pgbouncer process only, then runs PgBouncer in the foreground. Entries: the pooled
# roles (writer, analyst) and PgBouncer's own console identity; pgbouncer_hba.conf says who reaches what.
set -eu
: "${STOCKULA_WRITER_PASSWORD:?STOCKULA_WRITER_PASSWORD must be set}"
: "${STOCKULA_ANALYST_PASSWORD:?STOCKULA_ANALYST_PASSWORD must be set}"
: "${STOCKULA_PGBOUNCER_ADMIN_PASSWORD:?STOCKULA_PGBOUNCER_ADMIN_PASSWORD must be set}"
umask 077
mkdir -p /tmp/pgbouncer
printf '"%s" "%s"\n"%s" "%s"\n"%s" "%s"\n' \
  "${STOCKULA_WRITER_USER:-stockula_writer}" "$STOCKULA_WRITER_PASSWORD" \
  "${STOCKULA_ANALYST_USER:-stockula_analyst}" "$STOCKULA_ANALYST_PASSWORD" \
  "${STOCKULA_PGBOUNCER_ADMIN_USER:-stockula_pgbouncer}" "$STOCKULA_PGBOUNCER_ADMIN_PASSWORD" \
  > /tmp/pgbouncer/userlist.txt
# The hba file names the roles; the mounted one has placeholders for the configurable names.
sed -e "s/@WRITER@/${STOCKULA_WRITER_USER:-stockula_writer}/" \
    -e "s/@ANALYST@/${STOCKULA_ANALYST_USER:-stockula_analyst}/" \
    -e "s/@CONSOLE@/${STOCKULA_PGBOUNCER_ADMIN_USER:-stockula_pgbouncer}/" \
    -e "s/@DB@/${STOCKULA_DB_NAME:-stockula}/" \
    /etc/stockula/pgbouncer_hba.conf > /tmp/pgbouncer/pgbouncer_hba.conf
exec pgbouncer /etc/stockula/pgbouncer.ini
