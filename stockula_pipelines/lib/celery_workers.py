"""Celery workers on this machine, started and stopped as child processes (the Celery test, the benchmark,
a laptop trying STOCKULA_EXECUTOR=celery), and a Dagster instance directory they can share.

A Celery run needs an instance every process reaches: the run's process and each worker write the same
event log, and steps hand their outputs over through the instance's artifact storage. The directory
:func:`write_instance_dir` makes keeps run and event storage in PostgreSQL (from the ``DAGSTER_PG_*``
variables, like the project's dagster.yaml), the project's pools, and absolute paths for artifacts and
compute logs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import yaml
from psycopg import sql

from stockula_pipelines.settings import Role, Settings, project_dir

# Columns that record when a row was written, not what it says: left out when two loads are compared.
WRITE_TIME_COLUMNS = frozenset({"loaded_at", "fetched_at", "created_at", "updated_at"})


def write_instance_dir(home: Path, *, dagster_db: str | None = None) -> Path:
    """``home/dagster.yaml``: PostgreSQL storage from the ``DAGSTER_PG_*`` environment (the database
    ``dagster_db`` when given), the project's concurrency pools, artifacts and compute logs under ``home``
    (absolute paths). Returns ``home``."""
    project = yaml.safe_load((project_dir() / "dagster.yaml").read_text())
    home.mkdir(parents=True, exist_ok=True)
    storage = project["storage"]
    if dagster_db is not None:
        # storage: postgres: {postgres_db: ...}, or the project's pooled class: custom: {config: {postgres_db: ...}}
        kind, body = next(iter(storage.items()))
        (body["config"] if kind == "custom" else body)["postgres_db"]["db_name"] = dagster_db
    config = {
        "storage": storage,
        "concurrency": project["concurrency"],
        "local_artifact_storage": {"module": "dagster._core.storage.root", "class": "LocalArtifactStorage",
                                   "config": {"base_dir": str(home / "artifacts")}},
        "compute_logs": {"module": "dagster._core.storage.local_compute_log_manager",
                         "class": "LocalComputeLogManager",
                         "config": {"base_dir": str(home / "compute_logs")}},
        "telemetry": {"enabled": False},
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return home


def recreate_database(settings: Settings, name: str, owner: Role) -> None:
    """Drop ``name`` (sessions and all) and create it empty, owned by ``owner``'s login role."""
    with psycopg.connect(settings.dsn(Role.admin, direct=True, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name),
                                                                  sql.Identifier(settings.user_for(owner))))


def table_digest(conn: psycopg.Connection, schema: str, table: str) -> tuple[int, str]:
    """Row count and md5 of every row of ``schema.table`` (write-time columns left out), in text order."""
    columns = [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "ORDER BY ordinal_position", (schema, table)) if r[0] not in WRITE_TIME_COLUMNS]
    query = sql.SQL("SELECT count(*), md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) "
                    "FROM (SELECT {} FROM {}) AS t").format(sql.SQL(", ").join(map(sql.Identifier, columns)),
                                                            sql.Identifier(schema, table))
    count, digest = conn.execute(query).fetchone()
    return count, digest


def materialize(env: Mapping[str, str], *args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    """``dagster asset materialize -m stockula_pipelines.definitions ARGS`` from the checkout with ``env``;
    a non-zero exit raises with the end of its output."""
    exe = Path(sys.executable).with_name("dagster")
    proc = subprocess.run([str(exe), "asset", "materialize", "-m", "stockula_pipelines.definitions", *args],  # noqa: S603
                          cwd=project_dir(), env=dict(env), capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"dagster asset materialize {' '.join(args)} failed ({proc.returncode}):\n"
                           + proc.stdout[-2000:] + proc.stderr[-4000:])
    return proc


@dataclass
class LocalWorkers:
    """``count`` ``stockula celery worker`` processes with ``env``; a context manager that always stops
    them (SIGTERM, a warm shutdown, then SIGKILL after ``stop_timeout``)."""

    count: int
    env: Mapping[str, str]
    log_dir: Path
    prefix: str = "stockula-worker"
    stop_timeout: float = 20.0
    procs: list[subprocess.Popen] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [f"{self.prefix}{i + 1}@{os.uname().nodename}" for i in range(self.count)]

    def start(self, ready_timeout: float = 60.0) -> LocalWorkers:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        exe = Path(sys.executable).with_name("stockula")
        try:
            for name in self.names:
                log = (self.log_dir / f"{name.split('@')[0]}.log").open("w")
                self.procs.append(subprocess.Popen(  # noqa: S603 - our own entry point
                    [str(exe), "celery", "worker", "--name", name, "--concurrency", "1", "--loglevel", "INFO"],
                    env=dict(self.env), stdout=log, stderr=subprocess.STDOUT, cwd=project_dir(),
                    start_new_session=True))
                log.close()
            self.wait_ready(ready_timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float) -> None:
        """Until every worker answers a ping on the broker (its own process, built from settings)."""
        from stockula_pipelines.celery_app import app

        deadline = time.monotonic() + timeout
        answered: set[str] = set()
        while time.monotonic() < deadline:
            dead = [p.pid for p in self.procs if p.poll() is not None]
            if dead:
                raise RuntimeError(f"Celery worker(s) {dead} exited at start; see {self.log_dir}")
            for reply in app.control.ping(timeout=1.0) or []:
                answered |= set(reply)
            if set(self.names) <= answered:
                return
        raise TimeoutError(f"Celery workers {sorted(set(self.names) - answered)} did not answer within "
                           f"{timeout:.0f} s; see {self.log_dir}")

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for proc in self.procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        self.procs.clear()

    def __enter__(self) -> LocalWorkers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
