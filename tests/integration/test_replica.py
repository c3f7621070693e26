"""The read replica (issue 15, docs/replica.md): the local stack's optional streaming standby, started here
through `stack up` with the replica on, and removed at the end (standby stopped, slot dropped, data
deleted), so the stack is left as it was found. Real processes only: the primary, pg_basebackup, the
standby, postgres_exporter and Prometheus of the stack.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from stockula_pipelines.settings import Role, Settings
from stockula_pipelines.stack import drop_replica, postgres, replica, stack_status, stack_up
from stockula_pipelines.stack.envfile import SERVICE_SECRETS
from stockula_pipelines.stack.layout import RunAs, StackLayout

pytestmark = pytest.mark.integration
VISIBLE_WITHIN = 30.0  # a functional wait for replay, never a timing assertion
SCRAPE_WITHIN = 60.0  # Prometheus scrapes every 15 s


@dataclass
class Standby:
    settings: Settings  # the replica on, with the stack's passwords
    layout: StackLayout
    log: list[str]
    started_at: float


def _slot_active(s: Settings, layout: StackLayout) -> bool | None:
    with postgres.superuser_connection(s, layout, RunAs.for_current_process()) as conn:
        row = conn.execute("SELECT active FROM pg_replication_slots WHERE slot_name = %s", (replica.SLOT,)).fetchone()
    return None if row is None else row[0]


@pytest.fixture(scope="module")
def standby(stack_settings: Settings):
    layout = StackLayout.from_settings(stack_settings)
    # A standby the developer runs stays; one this module creates is removed again.
    found = replica.running(layout) or replica.cloned(layout)
    before = [(s.name, s.up) for s in stack_status(stack_settings)]
    settings = stack_settings.model_copy(update={"replica": True})
    lines: list[str] = []
    try:
        started = time.time()
        info = stack_up(settings, log=lines.append)
        yield Standby(info.settings, layout, lines, started)
    finally:
        if not found:
            drop_replica(settings, log=lines.append)
            assert not replica.running(layout) and not replica.data_dir(layout).exists()
            assert _slot_active(stack_settings, layout) is None, "the slot would keep WAL on the primary"
            assert [(s.name, s.up) for s in stack_status(stack_settings)] == before


def _standby_conn(sb: Standby, role: Role = Role.admin, dbname: str | None = None) -> psycopg.Connection:
    s = sb.settings
    return psycopg.connect(host=s.replica_host, port=s.replica_port, user=s.user_for(role),
                           password=s.password_for(role), dbname=dbname or s.db_name, autocommit=True,
                           connect_timeout=5)


def _caught_up(sb: Standby) -> None:
    """Wait until the standby has replayed everything the primary has written so far (the session's test
    database may have been created and migrated just now)."""
    with psycopg.connect(sb.settings.dsn(Role.admin, direct=True), autocommit=True) as conn:
        target = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    deadline = time.monotonic() + VISIBLE_WITHIN
    with _standby_conn(sb) as conn:
        while not conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)).fetchone()[0]:
            assert time.monotonic() < deadline, f"the standby did not replay up to {target}"
            time.sleep(0.05)


@pytest.fixture()
def replayed_db(standby: Standby, test_db):
    _caught_up(standby)
    return test_db


def _analyst_on_replica(sb: Standby) -> Settings:
    return sb.settings.model_copy(update={"analyst_use_replica": True})


def test_stack_up_clones_the_primary_and_streams(standby: Standby) -> None:
    s, layout = standby.settings, standby.layout
    if not any("base backup of" in line for line in standby.log):
        pytest.skip("a standby was already running before this module (left as found)")
    assert any(line.startswith("replica: ready on 127.0.0.1:") for line in standby.log)
    status = {st.name: st for st in stack_status(s)}
    assert status["replica"].up and status["replica"].port == s.replica_port
    assert status["replica"].pid == replica.pid(layout)
    with psycopg.connect(s.dsn(Role.admin, direct=True), autocommit=True) as conn:
        # A standby started beside a busy primary first replays what it missed ('catchup'), then streams.
        deadline = time.monotonic() + 60
        while True:
            rows = conn.execute("SELECT usename, state FROM pg_stat_replication WHERE application_name = %s",
                                (replica.APPLICATION_NAME,)).fetchall()
            if rows != [(s.replicator_user, "catchup")] or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert rows == [(s.replicator_user, "streaming")]
    assert _slot_active(s, layout) is True
    # A copy of the whole cluster: the same system identifier, in recovery, streaming through the slot.
    with _standby_conn(standby) as conn:
        in_recovery, slot, status_ = conn.execute(
            "SELECT pg_is_in_recovery(), slot_name, status FROM pg_stat_wal_receiver").fetchone()
        standby_id = conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()[0]
    with psycopg.connect(s.dsn(Role.admin, direct=True)) as conn:
        primary_id = conn.execute("SELECT system_identifier FROM pg_control_system()").fetchone()[0]
    assert (in_recovery, slot, status_) == (True, replica.SLOT, "streaming")
    assert standby_id == primary_id


def test_a_row_committed_on_the_primary_becomes_visible_on_the_standby(standby: Standby, replayed_db) -> None:
    test_db = replayed_db
    symbol = f"ZR{os.getpid() % 10000:04d}"
    analyst = _analyst_on_replica(standby)

    def on_standby() -> list[tuple]:
        with psycopg.connect(analyst.dsn(Role.analyst, dbname=test_db.name), autocommit=True) as conn:
            return conn.execute("SELECT name FROM market.stocks WHERE symbol = %s", (symbol,)).fetchall()

    def wait_until(expected: list[tuple]) -> list[tuple]:
        deadline = time.monotonic() + VISIBLE_WITHIN
        while (seen := on_standby()) != expected and time.monotonic() < deadline:
            time.sleep(0.1)
        return seen

    assert on_standby() == []
    # The writer commits through PgBouncer, as the pipeline does.
    with test_db.connect(Role.writer, autocommit=True) as conn:
        conn.execute("INSERT INTO market.stocks (symbol, name) VALUES (%s, 'Replica test')", (symbol,))
    try:
        assert wait_until([("Replica test",)]) == [("Replica test",)]
        with test_db.connect(Role.writer, autocommit=True) as conn:
            conn.execute("UPDATE market.stocks SET name = 'Replica test 2' WHERE symbol = %s", (symbol,))
        assert wait_until([("Replica test 2",)]) == [("Replica test 2",)]
    finally:
        with test_db.connect(Role.writer, autocommit=True) as conn:
            conn.execute("DELETE FROM market.stocks WHERE symbol = %s", (symbol,))
    assert wait_until([]) == []


def test_the_standby_refuses_writes(standby: Standby, replayed_db) -> None:
    test_db = replayed_db
    # Even the superuser: a hot standby is read-only whoever asks.
    with _standby_conn(standby, Role.admin, test_db.name) as conn:
        assert conn.execute("SELECT pg_is_in_recovery(), current_setting('transaction_read_only')").fetchone() \
            == (True, "on")
        for statement in ("INSERT INTO market.stocks (symbol, name) VALUES ('ZZRO', 'x')",
                          "UPDATE market.stocks SET name = name", "DELETE FROM market.stocks",
                          "CREATE TABLE public.replica_write_test (x int)"):
            with pytest.raises(errors.ReadOnlySqlTransaction):
                conn.execute(statement)
        with pytest.raises(errors.FeatureNotSupported, match="during recovery"):
            conn.execute("SET transaction_read_only = off")


def test_the_analyst_dsn_reads_the_standby_and_the_writer_stays_on_the_primary(standby: Standby,
                                                                              replayed_db) -> None:
    test_db = replayed_db
    s = _analyst_on_replica(standby)
    dsn = s.dsn(Role.analyst, dbname=test_db.name)
    assert f"@{s.replica_host}:{s.replica_port}/" in dsn and not s.through_pgbouncer(dsn)
    assert s.dsn(Role.analyst, direct=True) == s.dsn(Role.analyst)
    with psycopg.connect(dsn, autocommit=True) as conn:
        user, port, in_recovery = conn.execute(
            "SELECT current_user, inet_server_port(), pg_is_in_recovery()").fetchone()
        # The analyst's read grants came with the copy.
        conn.execute("SELECT count(*) FROM aggregates.price_history_daily").fetchone()
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM quality.quarantine")
    assert (user, port, in_recovery) == (s.analyst_user, s.replica_port, True)
    writer = s.dsn(Role.writer, dbname=test_db.name)
    assert s.through_pgbouncer(writer)
    with psycopg.connect(writer, prepare_threshold=None) as conn:
        assert conn.execute("SELECT inet_server_port(), pg_is_in_recovery()").fetchone() == (s.pg_port, False)
    # Without the setting the analyst goes through PgBouncer to the primary, as before.
    assert standby.settings.through_pgbouncer(standby.settings.dsn(Role.analyst))


def _metric(text: str, name: str) -> float | None:
    """The sample of ``name`` for the stack's standby (labelled by application_name, or slot_name)."""
    label = f'slot_name="{replica.SLOT}"' if "_slot_" in name else f'application_name="{replica.APPLICATION_NAME}"'
    match = re.search(rf"^{name}\{{[^}}]*{label}[^}}]*\}} (\S+)$", text, re.M)
    return None if match is None else float(match.group(1))


def test_replication_lag_is_exported_and_scraped(standby: Standby) -> None:
    s = standby.settings
    with urllib.request.urlopen(f"http://127.0.0.1:{s.postgres_exporter_port}/metrics", timeout=10) as resp:  # noqa: S310
        text = resp.read().decode()
    lag_seconds = _metric(text, "stockula_replication_replay_lag_seconds")
    lag_bytes = _metric(text, "stockula_replication_replay_lag_bytes")
    assert lag_seconds is not None and math.isfinite(lag_seconds) and 0 <= lag_seconds < 60
    assert lag_bytes is not None and lag_bytes >= 0
    assert _metric(text, "stockula_replication_streaming") == 1
    assert _metric(text, "stockula_replication_slot_active") == 1
    assert _metric(text, "stockula_replication_slot_retained_bytes") is not None

    # And through Prometheus: a sample scraped after the standby started (timestamp() is the scrape's time;
    # an instant query's own timestamp is merely the evaluation time).
    expr = f'stockula_replication_replay_lag_seconds{{application_name="{replica.APPLICATION_NAME}"}}'
    deadline, sample = time.monotonic() + SCRAPE_WITHIN, None
    while sample is None and time.monotonic() < deadline:
        scraped = _prometheus(s, f"timestamp({expr})")
        if scraped and float(scraped[0]["value"][1]) >= standby.started_at:
            sample = _prometheus(s, expr)[0]
        else:
            time.sleep(1)
    assert sample is not None, f"Prometheus never scraped {expr} after the standby started"
    assert sample["metric"]["job"] == "postgres_exporter" and math.isfinite(float(sample["value"][1]))


def _prometheus(s: Settings, expr: str) -> list[dict]:
    url = f"http://127.0.0.1:{s.prometheus_port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310 - loopback
        result = json.loads(resp.read())
    assert result["status"] == "success", result
    return result["data"]["result"]


def _secrets(s: Settings) -> dict[str, str]:
    values = {f"{r.value} password": s.password_for(r) for r in Role}
    values |= {field: s.secret(field) for field in SERVICE_SECRETS}
    return values


def test_nothing_of_the_replica_exposes_a_password(standby: Standby) -> None:
    s, layout = standby.settings, standby.layout
    values = _secrets(s)
    leaks: list[str] = []
    # Every process's command line (pg_basebackup has come and gone; its log lines are checked below),
    # and the environment of the standby's processes.
    standby_pids = {replica.pid(layout)}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
            if replica.data_dir(layout).as_posix() in cmdline:
                standby_pids.add(int(entry.name))
            leaks += [f"cmdline of {entry.name}: {n}" for n, v in values.items() if v in cmdline]
        except OSError:
            continue
    for pid in standby_pids - {None}:
        environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
        leaks += [f"environment of {pid}: {n}" for n, v in values.items() if v in environ]
    # The logs, the stack's output, the standby's settings files.
    for path in [replica.log_file(layout), replica.data_dir(layout) / "stockula.conf",
                 replica.data_dir(layout) / "postgresql.auto.conf", replica.data_dir(layout) / "postgresql.conf"]:
        text = path.read_text(errors="replace")
        leaks += [f"{path.name}: {n}" for n, v in values.items() if v in text]
    leaks += [f"stack up's output: {n}" for n, v in values.items() for line in standby.log if v in line]
    # What the monitor (pg_read_all_settings, pg_read_all_stats) reads on the standby.
    with _standby_conn(standby, Role.monitor) as conn:
        conninfo = conn.execute("SHOW primary_conninfo").fetchone()[0]
        receiver = conn.execute("SELECT conninfo FROM pg_stat_wal_receiver").fetchone()[0]
    assert f"passfile={replica.passfile(layout)}" in conninfo and "password" not in conninfo
    for text in (conninfo, receiver):
        leaks += [f"the standby's conninfo: {n}" for n, v in values.items() if v in text]
    assert leaks == []
    # The one file that holds the replication password is private to the services' account.
    mode = replica.passfile(layout).stat()
    assert stat.S_IMODE(mode.st_mode) == 0o600 and mode.st_uid == RunAs.for_current_process().uid
    assert s.password_for(Role.replicator) in replica.passfile(layout).read_text()


def test_a_second_stack_up_keeps_the_standby(standby: Standby) -> None:
    pid_before = replica.pid(standby.layout)
    lines: list[str] = []
    stack_up(standby.settings, log=lines.append)
    assert replica.pid(standby.layout) == pid_before
    assert f"replica: already running (pid {pid_before})" in lines
    assert not any("pg_basebackup" in line for line in lines)
