#!/bin/sh
# Celery's broker Redis in docker-compose (issue 15): the ACL file from the environment (the default user
# off, Celery's user with the SHA-256 of its password), then Redis in the foreground on
# infra/config/redis.broker.conf (noeviction, append-only). The rules are the native stack's
# (stockula_pipelines/stack/broker.py: broker_acl).
set -eu
: "${STOCKULA_BROKER_REDIS_PASSWORD:?STOCKULA_BROKER_REDIS_PASSWORD must be set}"
user="${STOCKULA_BROKER_REDIS_USER:-stockula_celery}"
digest=$(printf '%s' "$STOCKULA_BROKER_REDIS_PASSWORD" | sha256sum | cut -d' ' -f1)
umask 077
mkdir -p /tmp/redis
{
  echo "user default off resetpass resetkeys resetchannels -@all"
  echo "user $user on #$digest resetkeys ~* resetchannels &* -@all +@read +@write +@keyspace +@connection +@transaction +@pubsub +@scripting +time -@dangerous"
} > /tmp/redis/users.acl
chown -R redis /tmp/redis /data 2>/dev/null || true
exec docker-entrypoint.sh redis-server /usr/local/etc/redis/redis.conf --bind 0.0.0.0 --port 6379 \
  --dir /data --aclfile /tmp/redis/users.acl
