#!/usr/bin/env bash
# The compose stack's read replica (profile "replica", docs/replica.md): on the first start, clone the
# primary with pg_basebackup as the replication role through the physical slot stockula_replica (created
# by the clone); on every start, write the standby's settings and run PostgreSQL as a hot standby.
# The password goes to a passfile (mode 0600, inside the container only) and leaves the environment
# before PostgreSQL starts: no command line, setting or log line holds it.
set -euo pipefail
: "${PGDATA:?PGDATA is not set}"
bin=/usr/lib/postgresql/15/bin
primary=timescaledb
user="${STOCKULA_REPLICATOR_USER:-stockula_replicator}"
slot=stockula_replica
[ -n "${STOCKULA_REPLICATOR_PASSWORD:-}" ] || { echo "STOCKULA_REPLICATOR_PASSWORD must be set" >&2; exit 1; }

umask 077
mkdir -p /tmp/stockula-replica
passfile=/tmp/stockula-replica/pgpass
# .pgpass fields escape ':' and '\'.
escaped=$(printf '%s' "$STOCKULA_REPLICATOR_PASSWORD" | sed 's/[\\:]/\\&/g')
printf '%s:5432:*:%s:%s\n' "$primary" "$user" "$escaped" > "$passfile"
unset STOCKULA_REPLICATOR_PASSWORD escaped
export PGPASSFILE="$passfile"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until "$bin/pg_isready" -q -h "$primary" -p 5432; do echo "replica: waiting for $primary"; sleep 2; done
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"
  # -C creates the slot; a slot left by an earlier clone (a lost volume) is reused instead.
  if ! "$bin/pg_basebackup" -D "$PGDATA" -h "$primary" -p 5432 -U "$user" -X stream -S "$slot" -C -c fast -w; then
    find "$PGDATA" -mindepth 1 -delete
    "$bin/pg_basebackup" -D "$PGDATA" -h "$primary" -p 5432 -U "$user" -X stream -S "$slot" -c fast -w
  fi
  touch "$PGDATA/standby.signal"
fi

# The primary's postgresql.conf came with the copy (it includes /etc/stockula/*.conf, mounted here too);
# the standby's own settings follow it, so they win.
cat > "$PGDATA/stockula.replica.conf" <<CONF
# Written by infra/docker/replica-entrypoint.sh on every start.
hot_standby = on
primary_conninfo = 'host=$primary port=5432 user=$user passfile=$passfile application_name=stockula_replica'
primary_slot_name = '$slot'
hot_standby_feedback = on
max_standby_streaming_delay = 30s
archive_mode = off
CONF
grep -q "^include_if_exists 'stockula.replica.conf'" "$PGDATA/postgresql.conf" \
  || echo "include_if_exists 'stockula.replica.conf'" >> "$PGDATA/postgresql.conf"
exec "$bin/postgres" -D "$PGDATA"
