"""Celery's broker and result backend: a second Redis instance of the local stack.

Separate from the response cache on purpose (docs/executors.md): the cache is an LRU with a 256 MB
budget, which may evict a queued task; this one runs ``noeviction`` with its own budget and an
append-only file (infra/config/redis.broker.conf). Its only login is Celery's ACL user, whose password
is generated into stack.env like the others; only its SHA-256 is written to the ACL file.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import redis

from stockula_pipelines.settings import Settings

from .layout import RunAs, StackLayout
from .render import render_template, shared_config, write_config

NAME = "celery_redis"
BINARY = Path("/usr/bin/redis-server")
# Celery and kombu use lists, sets, sorted sets, hashes and strings (queues, the unacked index, results),
# Lua scripts and pub/sub (result notifications, the worker control channel). Every key and channel of
# this instance is Celery's; administrative and dangerous commands stay off.
BROKER_PERMISSIONS = ("resetkeys ~* resetchannels &* -@all +@read +@write +@keyspace +@connection "
                      "+@transaction +@pubsub +@scripting +time -@dangerous")
DEFAULT_USER = "user default off resetpass resetkeys resetchannels -@all"


def broker_acl(user: str, password: str) -> str:
    digest = hashlib.sha256(password.encode("utf-8")).hexdigest()
    return f"{DEFAULT_USER}\nuser {user} on #{digest} {BROKER_PERMISSIONS}\n"


def data_dir(layout: StackLayout) -> Path:
    return layout.root / "celery-redis"


def configure(settings: Settings, layout: StackLayout, run_as: RunAs, pw: object) -> bool:
    data = data_dir(layout)
    data.mkdir(exist_ok=True)
    layout.chown_to(data, run_as, 0o750)
    common = layout.conf / "redis.broker.conf"
    acl_file = layout.conf / "celery-redis-users.acl"
    changed = write_config(common, shared_config("redis.broker.conf"), run_as)
    acl = broker_acl(settings.broker_redis_user, settings.secret("broker_redis_password", "Celery's broker Redis"))
    changed |= write_config(acl_file, acl, run_as, 0o600)
    conf = render_template(
        "redis-broker.conf.tmpl", common_conf=common, port=settings.broker_redis_port,
        pid_file=layout.run / f"{NAME}.pid", log_file=layout.log / f"{NAME}.log", data_dir=data,
        acl_file=acl_file,
    )
    return write_config(layout.conf / "celery-redis.conf", conf, run_as) or changed


def launch(settings: Settings, layout: StackLayout, run_as: RunAs, pw: object) -> None:
    run_as.run([str(BINARY), str(layout.conf / "celery-redis.conf")])


def probe(settings: Settings, pw: object) -> bool:
    client = redis.Redis.from_url(settings.celery_redis_url(settings.celery_broker_db), socket_timeout=3)
    try:
        return bool(client.ping())
    finally:
        client.close()
