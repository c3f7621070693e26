#!/bin/sh
# Redis in docker-compose: writes the ACL file from the environment (only the SHA-256 of the password
# lands on disk, readable by Redis alone), then runs Redis in the foreground on it. The rules are the
# native stack's (stockula_pipelines/stack/services.py: redis_acl).
set -eu
: "${STOCKULA_REDIS_PASSWORD:?STOCKULA_REDIS_PASSWORD must be set}"
user="${STOCKULA_REDIS_USER:-stockula}"
digest=$(printf '%s' "$STOCKULA_REDIS_PASSWORD" | sha256sum | cut -d' ' -f1)
umask 077
mkdir -p /tmp/redis
{
  echo "user default off resetpass resetkeys resetchannels -@all"
  echo "user $user on #$digest resetkeys ~stockula:* resetchannels -@all +@read +@write +@keyspace +@connection +@transaction -@dangerous"
} > /tmp/redis/users.acl
chown -R redis /tmp/redis 2>/dev/null || true
# The image's own entrypoint drops to the redis user before starting the server.
exec docker-entrypoint.sh redis-server /usr/local/etc/redis/redis.conf --bind 0.0.0.0 --port 6379 \
  --aclfile /tmp/redis/users.acl
