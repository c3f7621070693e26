"""The native stack with real processes: idempotent up, status, SCRAM-only TCP, PgBouncer, Redis,
clear port conflicts, and a throwaway second stack that `down` must leave with no process."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis

from stockula_pipelines.settings import Role, Settings, get_settings, project_dir
from stockula_pipelines.stack import PortInUseError, StackInfo, stack_down, stack_status, stack_up
from stockula_pipelines.stack.postgres import POSTGRES
from stockula_pipelines.stack.procs import is_alive, pids_mentioning
from stockula_pipelines.stack.services import SERVICES

pytestmark = pytest.mark.integration
BINARIES = {"postgres": POSTGRES} | {s.name: s.binary for s in SERVICES}


@pytest.fixture(scope="module")
def stack() -> StackInfo:
    return stack_up(get_settings(), log=lambda line: None)


def _free_ports(count: int) -> list[int]:
    socks = []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        socks.append(sock)
    ports = [s.getsockname()[1] for s in socks]
    for sock in socks:
        sock.close()
    return ports


def _reachable_tmpdir() -> Iterator[Path]:
    # pytest's tmp_path lives under a 0700 directory the postgres OS user cannot traverse.
    path = Path(tempfile.mkdtemp(prefix="stockula-stack-test-", dir="/var/tmp"))
    path.chmod(0o755)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def test_up_twice_is_harmless(stack: StackInfo) -> None:
    before = {s.name: s.pid for s in stack.services}
    again = stack_up(get_settings(), log=lambda line: None)
    assert {s.name: s.pid for s in again.services} == before
    assert all(s.up for s in again.services)


def test_status_reports_every_service_up(stack: StackInfo) -> None:
    statuses = stack_status(get_settings())
    assert [s.name for s in statuses] == ["postgres", "pgbouncer", "redis", "celery_redis", "postgres_exporter",
                                              "prometheus"]
    assert all(s.up and s.pid for s in statuses), statuses


def test_stack_env_is_private_and_complete(stack: StackInfo) -> None:
    assert stack.env_file.stat().st_mode & 0o777 == 0o600
    text = stack.env_file.read_text()
    for key in ("STOCKULA_ADMIN_PASSWORD", "STOCKULA_WRITER_PASSWORD", "STOCKULA_PG_PORT", "DAGSTER_PG_HOST",
                "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):
        assert f"\n{key}=" in text


def test_wrong_password_is_refused_over_tcp(stack: StackInfo) -> None:
    s = stack.settings
    for port in (s.pg_port, s.pgbouncer_port):
        with pytest.raises(psycopg.OperationalError, match="authentication failed"):
            psycopg.connect(host="127.0.0.1", port=port, user=s.writer_user, password="not-the-password",
                            dbname=s.db_name, connect_timeout=5)


def test_admin_connects_directly_with_expected_settings(stack: StackInfo) -> None:
    s = stack.settings
    with psycopg.connect(s.dsn(Role.admin, direct=True)) as conn:
        def show(name: str) -> str:
            return conn.execute("SELECT current_setting(%s)", (name,)).fetchone()[0]

        assert show("shared_preload_libraries") == "timescaledb,pg_stat_statements"
        assert show("password_encryption") == "scram-sha-256"
        assert show("wal_level") == "replica" and show("archive_mode") == "on"
        assert show("listen_addresses") == "127.0.0.1"
        assert show("timescaledb.telemetry_level") == "off"
        assert int(show("max_connections")) == s.tune_max_conns
        exts = {r[0] for r in conn.execute("SELECT extname FROM pg_extension")}
        assert {"timescaledb", "pg_stat_statements"} <= exts
        dbs = dict(conn.execute("SELECT datname, pg_get_userbyid(datdba) FROM pg_database").fetchall())
        assert dbs[s.db_name] == s.admin_user and dbs[s.dagster_db_name] == s.dagster_user


def test_writer_connects_through_pgbouncer(stack: StackInfo) -> None:
    s = stack.settings
    dsn = s.dsn(Role.writer)
    assert s.through_pgbouncer(dsn)
    with psycopg.connect(dsn, prepare_threshold=None) as conn:
        user, server_port = conn.execute("SELECT current_user, inet_server_port()").fetchone()
        for _ in range(8):  # past psycopg's default prepare threshold: must not prepare through the pooler
            assert conn.execute("SELECT %s::int + 1", (1,)).fetchone() == (2,)
    assert user == s.writer_user
    assert server_port == s.pg_port  # PgBouncer forwarded to PostgreSQL


def test_redis_answers(stack: StackInfo) -> None:
    client = redis.Redis.from_url(stack.settings.redis_url)
    try:
        assert client.ping() is True
        client.set("stockula:test-stack", "ok", ex=30)
        assert client.get("stockula:test-stack") == b"ok"
        # The cache's ACL user runs data commands only: reading the server's configuration is refused.
        with pytest.raises(redis.exceptions.NoPermissionError):
            client.config_get("appendonly")
    finally:
        client.close()


def test_docker_init_script_matches_native_bootstrap(stack: StackInfo) -> None:
    """The compose init script, run against the native server, is idempotent and keeps every login."""
    s = stack.settings
    env = {"PATH": os.environ["PATH"], "PGHOST": "127.0.0.1", "PGPORT": str(s.pg_port),
           "PGPASSWORD": s.password_for(Role.admin), "POSTGRES_USER": s.admin_user,
           "STOCKULA_DB_NAME": s.db_name, "STOCKULA_DAGSTER_DB_NAME": s.dagster_db_name}
    for role in Role:
        env[f"STOCKULA_{role.value.upper()}_USER"] = s.user_for(role)
        env[f"STOCKULA_{role.value.upper()}_PASSWORD"] = s.password_for(role)
    script = project_dir() / "infra/docker/initdb/20-stockula-roles.sh"
    proc = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    with psycopg.connect(s.dsn(Role.admin, direct=True)) as conn:
        rows = conn.execute(
            "SELECT rolname, rolsuper, rolreplication, pg_has_role(rolname, 'pg_monitor', 'MEMBER') "
            "FROM pg_roles WHERE rolname = ANY(%s)", ([s.user_for(r) for r in Role],)).fetchall()
    attrs = {name: (sup, repl, mon) for name, sup, repl, mon in rows}
    assert attrs[s.admin_user][0] is True
    assert attrs[s.backup_user][1] is True
    assert attrs[s.replicator_user] == (False, True, False)  # the read replica's stream (issue 15)
    assert attrs[s.monitor_user][2] is True
    assert attrs[s.writer_user] == (False, False, False)
    for role in (Role.writer, Role.analyst):
        with psycopg.connect(s.dsn(role), prepare_threshold=None) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)


def test_port_in_use_gives_a_clear_error(stack: StackInfo) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="stockula-port-test-") as tmp:
        other = get_settings().model_copy(update={"stack_dir": Path(tmp) / "stack", "pg_port": port})
        try:
            with pytest.raises(PortInUseError) as excinfo:
                stack_up(other, log=lambda line: None)
        finally:
            listener.close()
        assert not (Path(tmp) / "stack").exists()  # failed before touching anything
    message = str(excinfo.value)
    assert str(port) in message and "postgres" in message and "STOCKULA_PG_PORT" in message


@pytest.mark.slow
def test_down_leaves_no_process_of_a_throwaway_stack(stack: StackInfo) -> None:
    for root in _reachable_tmpdir():
        pg, bouncer, rds, prom, exporter, broker = _free_ports(6)
        other: Settings = get_settings().model_copy(update={
            "stack_dir": root / "stack", "pg_port": pg, "pgbouncer_port": bouncer, "redis_port": rds,
            "prometheus_port": prom, "postgres_exporter_port": exporter, "tune_memory": "256MB",
            "broker_redis_port": broker,
        })
        info = stack_up(other, log=lambda line: None)
        pids = [s.pid for s in info.services]
        assert all(s.up for s in info.services) and all(pids)
        assert stack_up(other, log=lambda line: None).services == info.services

        stack_down(other, log=lambda line: None)
        for status in info.services:
            assert not is_alive(status.pid, BINARIES[status.name]), status
        assert pids_mentioning(root / "stack", list(BINARIES.values())) == []
        assert not any(s.up for s in stack_status(other))
        stack_down(other, log=lambda line: None)  # twice is harmless too
    # The main stack was not disturbed.
    assert all(s.up for s in stack_status(get_settings()))
