"""PgBouncer, Redis, postgres_exporter and Prometheus as native processes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import redis

from stockula_pipelines.settings import Role, Settings

from . import broker as celery_broker  # issue 15: Celery's own Redis
from .layout import RunAs, StackLayout
from .procs import read_pid, spawn
from .render import render_template, shared_config, write_config

Passwords = dict[Role, str]


@dataclass(frozen=True)
class Service:
    name: str
    binary: Path
    port_field: str  # the Settings attribute holding the port
    configure: Callable[[Settings, StackLayout, RunAs, Passwords], bool]
    launch: Callable[[Settings, StackLayout, RunAs, Passwords], None]
    probe: Callable[[Settings, Passwords], bool]
    reloads_on_hup: bool = False
    # A changed configuration is applied by a restart (a cache with nothing to lose).
    restarts_on_change: bool = False

    @property
    def env_var(self) -> str:
        return f"STOCKULA_{self.port_field.upper()}"

    def port(self, settings: Settings) -> int:
        return int(getattr(settings, self.port_field))

    def pid_file(self, layout: StackLayout) -> Path:
        return layout.run / f"{self.name}.pid"

    def log_file(self, layout: StackLayout) -> Path:
        return layout.log / f"{self.name}.log"

    def pid(self, layout: StackLayout) -> int | None:
        return read_pid(self.pid_file(layout))

    def reload(self, layout: StackLayout) -> None:
        pid = self.pid(layout)
        if pid:
            os.kill(pid, signal.SIGHUP)


def _http_ok(url: str, must_contain: str | None = None) -> bool:
    with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - loopback URL built here
        body = response.read().decode(errors="replace")
        return response.status == 200 and (must_contain is None or must_contain in body)


# --- PgBouncer -------------------------------------------------------------------------------------------
# The roles PgBouncer pools: the pipeline's writer and the analysts. Nobody else gets an entry.
POOLED_ROLES = (Role.writer, Role.analyst)


def _pgbouncer_configure(settings: Settings, layout: StackLayout, run_as: RunAs, pw: Passwords) -> bool:
    common = layout.conf / "pgbouncer.common.ini"
    auth_file = layout.conf / "pgbouncer.userlist.txt"
    hba_file = layout.conf / "pgbouncer_hba.conf"
    changed = write_config(common, shared_config("pgbouncer.common.ini"), run_as)
    # Plain-text entries let PgBouncer run SCRAM both to the client and to the server; the file is
    # as private as stack.env, which holds the same secrets. The console identity is PgBouncer's own:
    # no PostgreSQL role of that name exists, and the hba file keeps it to the console.
    console_user = settings.pgbouncer_admin_user
    entries = [(settings.user_for(r), pw[r]) for r in POOLED_ROLES]
    entries.append((console_user, settings.secret("pgbouncer_admin_password", "PgBouncer's console")))
    users = "".join(f'"{user}" "{password}"\n' for user, password in entries)
    changed |= write_config(auth_file, users, run_as, 0o600)
    refused = ["pgbouncer", "postgres", "template0", "template1", settings.dagster_db_name]
    hba = render_template("pgbouncer_hba.conf.tmpl", console_user=console_user,
                          refused_databases=",".join(dict.fromkeys(refused)),
                          app_users=",".join(settings.user_for(r) for r in POOLED_ROLES))
    changed |= write_config(hba_file, hba, run_as, 0o600)
    ini = render_template(
        "pgbouncer.ini.tmpl", db_name=settings.db_name, pg_port=settings.pg_port, common_ini=common,
        port=settings.pgbouncer_port, socket_dir=layout.run, auth_file=auth_file, hba_file=hba_file,
        console_user=console_user, log_file=layout.log / "pgbouncer.log", pid_file=layout.run / "pgbouncer.pid",
    )
    changed |= write_config(layout.conf / "pgbouncer.ini", ini, run_as)
    return changed


def _pgbouncer_launch(settings: Settings, layout: StackLayout, run_as: RunAs, pw: Passwords) -> None:
    # -d: PgBouncer daemonises itself and writes the pid file named in its config.
    run_as.run(["/usr/sbin/pgbouncer", "-d", "-q", str(layout.conf / "pgbouncer.ini")])


def _pgbouncer_probe(settings: Settings, pw: Passwords) -> bool:
    with psycopg.connect(host=settings.pgbouncer_host, port=settings.pgbouncer_port,
                         user=settings.writer_user, password=pw[Role.writer], dbname=settings.db_name,
                         prepare_threshold=None, connect_timeout=3) as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)


# --- Redis -------------------------------------------------------------------------------------------------
# The cache's ACL user: its own key space, the data commands the cache runs, nothing administrative.
# The default user is switched off (and has no password, so protected mode stays quiet about it).
REDIS_DEFAULT_USER = "user default off resetpass resetkeys resetchannels -@all"
REDIS_CACHE_PERMISSIONS = "resetkeys ~stockula:* resetchannels -@all +@read +@write +@keyspace +@connection +@transaction -@dangerous"


def redis_acl(user: str, password: str) -> str:
    """The ACL file: only the password's SHA-256 is written (Redis compares hashes)."""
    digest = hashlib.sha256(password.encode("utf-8")).hexdigest()
    return f"{REDIS_DEFAULT_USER}\nuser {user} on #{digest} {REDIS_CACHE_PERMISSIONS}\n"


def _redis_configure(settings: Settings, layout: StackLayout, run_as: RunAs, pw: Passwords) -> bool:
    common = layout.conf / "redis.common.conf"
    acl_file = layout.conf / "redis-users.acl"
    changed = write_config(common, shared_config("redis.common.conf"), run_as)
    changed |= write_config(acl_file, redis_acl(settings.redis_user, settings.secret("redis_password", "Redis")),
                            run_as, 0o600)
    conf = render_template(
        "redis.conf.tmpl", common_conf=common, port=settings.redis_port, pid_file=layout.run / "redis.pid",
        log_file=layout.log / "redis.log", data_dir=layout.redis_data, acl_file=acl_file,
    )
    return write_config(layout.conf / "redis.conf", conf, run_as) or changed


def _redis_launch(settings: Settings, layout: StackLayout, run_as: RunAs, pw: Passwords) -> None:
    run_as.run(["/usr/bin/redis-server", str(layout.conf / "redis.conf")])


def _redis_probe(settings: Settings, pw: Passwords) -> bool:
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=3)
    try:
        return bool(client.ping())
    finally:
        client.close()


# --- postgres_exporter -------------------------------------------------------------------------------------
EXPORTER = Path("/usr/bin/prometheus-postgres-exporter")


def _exporter_configure(settings: Settings, layout: StackLayout, run_as: RunAs, pw: Passwords) -> bool:
    # Read once at start: a changed file restarts the exporter (restarts_on_change; it keeps no state).
    return write_config(layout.conf / "postgres_exporter_queries.yml", shared_config("postgres_exporter_queries.yml"),
                        run_as)


def _exporter_launch(settings: Settings, layout: StackLayout, run_as: RunAs, pw: Passwords) -> None:
    dsn = (f"postgresql://{quote(settings.monitor_user, safe='')}:{quote(pw[Role.monitor], safe='')}"
           f"@{settings.pg_host}:{settings.pg_port}/{settings.db_name}?sslmode=disable")
    # The DSN travels in the environment, which only root and the service account can read.
    env = run_as.env(DATA_SOURCE_NAME=dsn)
    spawn([str(EXPORTER), f"--web.listen-address=127.0.0.1:{settings.postgres_exporter_port}", "--log.level=warn",
           f"--extend.query-path={layout.conf / 'postgres_exporter_queries.yml'}"],
          run_as, env=env, log_file=layout.log / "postgres_exporter.log",
          pid_file=layout.run / "postgres_exporter.pid")


def _exporter_probe(settings: Settings, pw: Passwords) -> bool:
    return _http_ok(f"http://127.0.0.1:{settings.postgres_exporter_port}/metrics", "pg_up 1")


# --- Prometheus --------------------------------------------------------------------------------------------
def _prometheus_configure(settings: Settings, layout: StackLayout, run_as: RunAs, pw: Passwords) -> bool:
    changed = write_config(layout.conf / "prometheus.yml", shared_config("prometheus.yml"), run_as)
    changed |= write_config(layout.conf / "alerts.yml", shared_config("alerts.yml"), run_as)
    targets = {
        "prometheus": settings.prometheus_port,
        "postgres_exporter": settings.postgres_exporter_port,
    }
    for job, port in targets.items():
        content = json.dumps([{"targets": [f"127.0.0.1:{port}"], "labels": {"stack": "local"}}], indent=2)
        changed |= write_config(layout.conf / "targets" / f"{job}.json", content + "\n", run_as)
    return changed


def _prometheus_launch(settings: Settings, layout: StackLayout, run_as: RunAs, pw: Passwords) -> None:
    spawn([
        "/usr/bin/prometheus", f"--config.file={layout.conf / 'prometheus.yml'}",
        f"--storage.tsdb.path={layout.prometheus_data}", "--storage.tsdb.retention.time=15d",
        f"--web.listen-address=127.0.0.1:{settings.prometheus_port}", "--log.level=warn",
    ], run_as, env=run_as.env(), log_file=layout.log / "prometheus.log",
        pid_file=layout.run / "prometheus.pid")


def _prometheus_probe(settings: Settings, pw: Passwords) -> bool:
    return _http_ok(f"http://127.0.0.1:{settings.prometheus_port}/-/ready")


def _no_config(settings: Settings, layout: StackLayout, run_as: RunAs, pw: Passwords) -> bool:
    return False


# PostgreSQL is handled by postgres.py; these follow it, in start order.
SERVICES: tuple[Service, ...] = (
    Service("pgbouncer", Path("/usr/sbin/pgbouncer"), "pgbouncer_port", _pgbouncer_configure,
            _pgbouncer_launch, _pgbouncer_probe, reloads_on_hup=True),
    Service("redis", Path("/usr/bin/redis-server"), "redis_port", _redis_configure, _redis_launch,
            _redis_probe, restarts_on_change=True),
    # --- Celery's broker and result backend (issue 15, stack/broker.py) ---
    Service(celery_broker.NAME, celery_broker.BINARY, "broker_redis_port", celery_broker.configure,
            celery_broker.launch, celery_broker.probe, restarts_on_change=True),
    # --- end Celery ---
    Service("postgres_exporter", EXPORTER, "postgres_exporter_port", _exporter_configure, _exporter_launch,
            _exporter_probe, restarts_on_change=True),
    Service("prometheus", Path("/usr/bin/prometheus"), "prometheus_port", _prometheus_configure,
            _prometheus_launch, _prometheus_probe, reloads_on_hup=True),
)
