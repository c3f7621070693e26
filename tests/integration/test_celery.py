"""STOCKULA_EXECUTOR=celery with two real worker processes on the stack's broker Redis.

One partitioned backfill of the daily ingestion assets (bars and option chains, with their checks) runs
twice through ``dagster asset materialize``: with the default multiprocess executor, then with Celery and
two ``stockula celery worker`` processes this module starts and always stops. Both runs share one Dagster
instance (its own PostgreSQL database, the project's pools). The Celery run must spread its steps over
both workers, end with exactly the rows of the multiprocess run, keep the ``market_data_source`` pool
(one source step at a time), keep the writer's connections within the pools' bound, and never show the
broker's password in run config, events, worker logs or command lines.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import psycopg
import pytest
import redis
from conftest import TestDatabase
from ladder_support import Ladder
from psycopg import sql

from stockula_pipelines.lib.celery_workers import (
    LocalWorkers,
    materialize,
    recreate_database,
    table_digest,
    write_instance_dir,
)
from stockula_pipelines.settings import Role, Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAGSTER_DB = "dagster_celery_test"
WORKERS = 2
UNIVERSE = 6
# One week of sessions.
PARTITION_RANGE = "2024-12-02...2024-12-06"
SESSIONS = 5
SELECTION = "market/price_history,market/options_calls,market/options_puts"
TABLES = ("price_history", "options_calls", "options_puts")
# The steps that call the market-data source (pool market_data_source, limit 1 in dagster.yaml).
SOURCE_STEPS = {"market__price_history", "option_chains"}


@dataclass
class ConnectionSampler:
    """Every ``interval`` s, the writer's connections to the test database: its sessions in PostgreSQL
    (pg_stat_activity) and its client connections to PgBouncer (SHOW CLIENTS on the console), where the
    steps' resource pools connect."""

    settings: Settings
    database: str
    interval: float = 0.2
    samples: list[int] = field(default_factory=list)
    clients: list[int] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _run(self) -> None:
        from stockula_pipelines.stack.console import console_connection

        with (psycopg.connect(self.settings.dsn(Role.admin, direct=True, dbname="postgres"), autocommit=True) as conn,
              console_connection(self.settings) as console):
            while not self._stop.is_set():
                (count,) = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND datname = %s",
                                        (self.settings.writer_user, self.database)).fetchone()
                self.samples.append(count)
                cursor = console.execute("SHOW CLIENTS")
                names = [d.name for d in cursor.description]
                rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
                self.clients.append(sum(1 for r in rows if r["user"] == self.settings.writer_user
                                        and r["database"] == self.database))
                self._stop.wait(self.interval)

    def __enter__(self) -> ConnectionSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=10)


@dataclass
class Backfill:
    run_id: str
    digests: dict[str, tuple[int, str]]
    wall_s: float


@dataclass
class Outcome:
    home: Path
    instance: dg.DagsterInstance
    multiprocess: Backfill
    celery: Backfill
    connections: list[int]
    clients: list[int]
    worker_names: list[str]
    worker_cmdlines: list[str]


def latest_run_id(instance: dg.DagsterInstance) -> str:
    (run,) = instance.get_runs(limit=1)
    assert run.status == dg.DagsterRunStatus.SUCCESS, run.status
    return run.run_id


def empty_loaded_tables(db: TestDatabase) -> None:
    with db.connect(Role.admin, direct=True, autocommit=True) as conn:
        conn.execute(sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(sql.Identifier("market", t) for t in TABLES)))


def backfill(db: TestDatabase, env: dict[str, str], instance: dg.DagsterInstance, *extra: str) -> Backfill:
    empty_loaded_tables(db)
    started = time.monotonic()
    materialize(env, "--select", SELECTION, "--partition-range", PARTITION_RANGE, *extra)
    wall = time.monotonic() - started
    with db.connect(Role.writer) as conn:
        digests = {t: table_digest(conn, "market", t) for t in TABLES}
    return Backfill(latest_run_id(instance), digests, wall)


def process_cmdlines(root_pids: list[int]) -> list[str]:
    """The command lines of ``root_pids`` and all their descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    lines, todo = [], list(root_pids)
    while todo:
        pid = todo.pop()
        try:
            lines.append((Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
        todo += children.get(pid, [])
    return lines


@pytest.fixture(scope="module")
def outcome(test_db: TestDatabase, tmp_path_factory: pytest.TempPathFactory):
    from conftest import empty_data_tables

    settings = test_db.settings
    empty_data_tables(test_db)
    recreate_database(settings, DAGSTER_DB, Role.dagster)
    home = write_instance_dir(tmp_path_factory.mktemp("celery_home"), dagster_db=DAGSTER_DB)
    env = dict(os.environ, DAGSTER_HOME=str(home), STOCKULA_DB_NAME=test_db.name,
               STOCKULA_SYNTHETIC_UNIVERSE_SIZE=str(UNIVERSE), STOCKULA_EXECUTOR="multiprocess")
    env.pop("STOCKULA_HISTORY_START", None)
    instance = dg.DagsterInstance.from_config(str(home))
    try:
        # The reference data both runs build on, loaded once in this process (the ladder's harness).
        Ladder(test_db).assets("market/stocks")
        celery_env = dict(env, STOCKULA_EXECUTOR="celery")
        # The workers start first and wait on the broker while the multiprocess run goes.
        with LocalWorkers(WORKERS, celery_env, home / "worker-logs") as workers:
            # The project's default multiprocess executor: step processes fork from a server that has the
            # code location loaded (Dagster's stock spawn starts each cold: ~5 s of imports per step here).
            multiprocess = backfill(test_db, env, instance)
            cmdlines = process_cmdlines([p.pid for p in workers.procs])
            with ConnectionSampler(settings, test_db.name) as sampler:
                celery = backfill(test_db, celery_env, instance)
            names = workers.names
        # Shown with -s (and on failure): the figures docs/executors.md quotes.
        print(f"celery test: multiprocess command {multiprocess.wall_s:.1f} s, celery command {celery.wall_s:.1f} s, "
              f"writer sessions max {max(sampler.samples, default=0)}, PgBouncer clients max "
              f"{max(sampler.clients, default=0)} over {len(sampler.samples)} samples")
        yield Outcome(home, instance, multiprocess, celery, sampler.samples, sampler.clients, names, cmdlines)
    finally:
        instance.dispose()


def step_events(instance: dg.DagsterInstance, run_id: str) -> list[dg.EventLogEntry]:
    return [e for e in instance.all_logs(run_id) if e.dagster_event is not None]


def test_the_celery_backfill_ends_with_exactly_the_rows_of_the_multiprocess_run(outcome: Outcome):
    assert outcome.celery.digests == outcome.multiprocess.digests
    assert outcome.multiprocess.digests["price_history"][0] == SESSIONS * UNIVERSE
    assert all(count > 0 for count, _ in outcome.multiprocess.digests.values())


def test_the_runs_used_the_executor_the_setting_chose(outcome: Outcome):
    def engine_messages(run_id: str) -> list[str]:
        return [e.dagster_event.message or "" for e in step_events(outcome.instance, run_id)
                if e.dagster_event.event_type == dg.DagsterEventType.ENGINE_EVENT]

    celery, multiprocess = engine_messages(outcome.celery.run_id), engine_messages(outcome.multiprocess.run_id)
    assert any("in celery worker" in m for m in celery), celery
    assert any("multiprocess executor" in m for m in multiprocess), multiprocess
    assert not any("celery" in m.lower() for m in multiprocess)
    assert not any("multiprocess executor" in m for m in celery)


def test_steps_fan_out_over_both_workers(outcome: Outcome):
    by_worker: dict[str, set[str]] = {}
    for entry in step_events(outcome.instance, outcome.celery.run_id):
        data = entry.dagster_event.event_specific_data
        metadata = getattr(data, "metadata", None) or {}
        if "Celery worker" in metadata:
            by_worker.setdefault(metadata["Celery worker"].value, set()).add(entry.step_key)
    assert set(by_worker) == set(outcome.worker_names), by_worker
    # And the steps really ran in different processes (pids of their STEP_START events).
    pids = {e.dagster_event.pid for e in step_events(outcome.instance, outcome.celery.run_id)
            if e.dagster_event.event_type == dg.DagsterEventType.STEP_START}
    assert len(pids) >= WORKERS, pids


def test_the_source_pool_keeps_one_source_step_at_a_time_under_celery(outcome: Outcome):
    spans: dict[str, list[float]] = {}
    for entry in step_events(outcome.instance, outcome.celery.run_id):
        kind = entry.dagster_event.event_type
        if entry.step_key in SOURCE_STEPS and kind in (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS):
            spans.setdefault(entry.step_key, []).append(entry.timestamp)
    assert set(spans) == SOURCE_STEPS, spans
    (a_start, a_end), (b_start, b_end) = sorted(spans.values())
    assert a_end <= b_start, f"two source steps overlapped: {spans}"


def test_the_writer_connections_stay_within_the_pool_bound(outcome: Outcome):
    from stockula_pipelines.settings import get_settings

    sessions, clients = outcome.connections, outcome.clients
    assert len(sessions) > 10 and max(sessions) >= 1 and max(clients) >= 1, (sessions, clients)  # it saw the run
    # One step per worker at a time, each with one TimescaleResource pool of at most pool_max_size
    # connections to PgBouncer, which multiplexes them onto PostgreSQL sessions (never more).
    bound = WORKERS * get_settings().pool_max_size
    assert max(clients) <= bound, clients
    assert max(sessions) <= bound, sessions


def test_results_live_in_their_own_redis_database_and_expire(outcome: Outcome):
    from stockula_pipelines.settings import get_settings

    settings = get_settings()
    results = redis.Redis.from_url(settings.celery_redis_url(settings.celery_result_db))
    try:
        keys = list(results.scan_iter("celery-task-meta-*", count=1000))
        assert keys, "no Celery result in the result database"
        ttls = [results.ttl(k) for k in keys]
        assert all(0 < ttl <= settings.celery_result_expires_seconds for ttl in ttls), ttls
    finally:
        results.close()
    broker = redis.Redis.from_url(settings.celery_redis_url(settings.celery_broker_db))
    try:
        assert not list(broker.scan_iter("celery-task-meta-*", count=1000))
    finally:
        broker.close()


def test_the_broker_password_is_in_no_run_config_event_log_or_command_line(outcome: Outcome):
    from dagster._serdes import serialize_value

    from stockula_pipelines.settings import get_settings

    password = get_settings().secret("broker_redis_password")
    run = outcome.instance.get_run_by_id(outcome.celery.run_id)
    assert password not in serialize_value(run.run_config)
    assert password not in "".join(serialize_value(e) for e in outcome.instance.all_logs(outcome.celery.run_id))
    assert len(outcome.worker_cmdlines) >= WORKERS
    assert not [line for line in outcome.worker_cmdlines if password in line]
    logs = list((outcome.home / "worker-logs").glob("*.log"))
    assert len(logs) == WORKERS
    assert not [log for log in logs if password in log.read_text()]
    compute_logs = [p for p in (outcome.home / "compute_logs").rglob("*") if p.is_file()]
    assert not [p for p in compute_logs if password in p.read_text(errors="replace")]


def test_the_broker_redis_is_celerys_alone(stack_settings: Settings):
    """The running broker: Celery's ACL user only (the cache's user and the default user are refused), no
    administrative command, and the stack rendered it from the noeviction config."""
    s = stack_settings
    broker_url = s.celery_redis_url(s.celery_broker_db)
    cache_user = redis.Redis(host=s.broker_redis_host, port=s.broker_redis_port, username=s.redis_user,
                             password=s.secret("redis_password"), socket_timeout=3)
    default_user = redis.Redis(host=s.broker_redis_host, port=s.broker_redis_port, socket_timeout=3)
    celery_user = redis.Redis.from_url(broker_url, socket_timeout=3)
    try:
        with pytest.raises(redis.AuthenticationError):
            cache_user.ping()
        with pytest.raises((redis.AuthenticationError, redis.ResponseError)):
            default_user.set("x", "1")
        assert celery_user.ping()
        for command in (("CONFIG", "GET", "maxmemory-policy"), ("FLUSHALL",), ("ACL", "LIST")):
            with pytest.raises(redis.exceptions.NoPermissionError):
                celery_user.execute_command(*command)
    finally:
        for client in (cache_user, default_user, celery_user):
            client.close()
    from stockula_pipelines.stack.layout import StackLayout

    conf = StackLayout.from_settings(s).conf
    assert "maxmemory-policy noeviction" in (conf / "redis.broker.conf").read_text()
    assert f"include {conf / 'redis.broker.conf'}" in (conf / "celery-redis.conf").read_text()
