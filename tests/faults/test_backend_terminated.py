"""A backend terminated (``pg_terminate_backend`` from an admin connection) in the middle of each step
that writes: the COPY and the delete of a load, an aggregate refresh, a logical backup and a restore drill.

Each statement is caught mid-flight, not by luck: the test holds a lock (or an uncommitted row with a
key the step will write) so the step's backend blocks, a watcher sees it in ``pg_stat_activity``
waiting on that lock, terminates it, then releases the lock. Every test then checks that the step
failed with an error that says what happened, that nothing of it is visible, and that running it again
gives exactly the rows of the same scenario run undisturbed (row counts and md5 of every row).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import psycopg
import pytest
from ops_support import SYMBOLS, minute_bars
from psycopg import sql
from stack_faults import BackendKiller, HeldLock, empty, fingerprints

from stockula_pipelines.lib.ingest import load_window
from stockula_pipelines.resources.timescale import TimescaleResource
from stockula_pipelines.settings import Role

pytestmark = [pytest.mark.integration, pytest.mark.faults]

START = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)
WINDOW = (START, START + timedelta(hours=4))
LOAD_TABLES = ["market.price_history", "quality.quarantine", "ops.ingest_log"]
KILLED = "terminating connection due to administrator command"


def _frames() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The stored window before the load, the load's 360 rows, and 2 rows validation rejected."""
    before = minute_bars(START, 60, seed=40)
    frame = minute_bars(START, 120, seed=41)
    rejected = frame.head(2).with_columns(
        pl.col("time") + timedelta(hours=3, minutes=30), rule=pl.lit("low_above_high"),
        detail=pl.lit("low 2 > high 1 (rule low_above_high)"))
    return before, frame, rejected


def _load(conn_or_resource, frame: pl.DataFrame, rejected: pl.DataFrame | None = None, **kw):
    if isinstance(conn_or_resource, TimescaleResource):
        with conn_or_resource.connection() as conn:  # the pooled connection an asset gets
            return _load(conn, frame, rejected, **kw)
    return load_window(conn_or_resource, "price_history", frame, window=WINDOW, symbols=SYMBOLS, source="test",
                       rejected=rejected, run_id="fault", partition_key="2024-03-04", **kw)


def _state(db) -> dict[str, tuple[int, str]]:
    with db.connect(Role.admin, direct=True) as conn:
        return fingerprints(conn, LOAD_TABLES)


def _undisturbed_load(db) -> dict[str, tuple[int, str]]:
    before, frame, rejected = _frames()
    empty(db, *LOAD_TABLES)
    with db.connect(Role.writer, direct=True) as conn:
        _load(conn, before)
        _load(conn, frame, rejected)
    reference = _state(db)
    empty(db, *LOAD_TABLES)
    with db.connect(Role.writer, direct=True) as conn:
        _load(conn, before)
    return reference


def _error_text(exc: BaseException) -> str:
    parts = []
    while exc is not None:
        parts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return " <- ".join(parts)


def test_backend_terminated_during_copy_through_pgbouncer(clean_db):
    reference = _undisturbed_load(clean_db)
    before_state = _state(clean_db)
    _before, frame, rejected = _frames()
    last = frame.row(-1, named=True)
    # An uncommitted row with the key of the frame's last row: the COPY, 359 rows in, waits for it.
    blocker = HeldLock(
        clean_db.dsn(Role.admin, direct=True),
        "INSERT INTO market.price_history (time, symbol, interval, date, open_price, high_price, low_price, "
        "close_price, volume, source) VALUES (%(time)s, %(symbol)s, %(interval)s, %(date)s, 1, 1, 1, 1, 0, 'blocker')",
        last)
    killer = BackendKiller(clean_db.dsn(Role.admin, direct=True), clean_db.name, query_like="COPY %",
                           application_name="fault-copy", waiting=True, after=blocker.release).start()
    resource = TimescaleResource(dsn=clean_db.dsn(Role.writer) + "?application_name=fault-copy")
    try:
        with pytest.raises(psycopg.OperationalError) as failure:
            _load(resource, frame, rejected)
    finally:
        blocker.release()
        resource.close()
    victim = killer.result()
    assert victim.query.startswith("COPY") and '"market"."price_history"' in victim.query
    # psycopg alone would raise a bare ValueError here (two errors end the COPY through PgBouncer).
    message = str(failure.value)
    assert 'lost during COPY into "market"."price_history"' in message and KILLED in message, message
    assert _state(clean_db) == before_state  # not one of the 359 rows, nor the quarantine, nor the log

    resource = TimescaleResource(dsn=clean_db.dsn(Role.writer))
    try:
        retried = _load(resource, frame, rejected)
    finally:
        resource.close()
    assert (retried.rows_deleted, retried.rows_loaded, retried.rows_quarantined) == (180, 360, 2)
    assert _state(clean_db) == reference


def test_backend_terminated_during_the_delete(clean_db):
    reference = _undisturbed_load(clean_db)
    before_state = _state(clean_db)
    _before, frame, rejected = _frames()
    # A stored row of the window locked FOR UPDATE: the load's DELETE waits on it.
    blocker = HeldLock(clean_db.dsn(Role.admin, direct=True),
                       "SELECT 1 FROM market.price_history WHERE symbol = 'BBB' AND time = %s FOR UPDATE", (START,))
    killer = BackendKiller(clean_db.dsn(Role.admin, direct=True), clean_db.name, query_like="%DELETE FROM%",
                           application_name="fault-delete", waiting=True, after=blocker.release).start()
    try:
        with psycopg.connect(clean_db.dsn(Role.writer, direct=True), application_name="fault-delete",
                             prepare_threshold=None) as conn, pytest.raises(psycopg.errors.AdminShutdown) as failure:
            _load(conn, frame, rejected)
    finally:
        blocker.release()
    victim = killer.result()
    assert '"market"."price_history"' in victim.query and victim.wait_event_type == "Lock"
    assert KILLED in str(failure.value)
    assert _state(clean_db) == before_state

    with clean_db.connect(Role.writer, direct=True) as conn:
        retried = _load(conn, frame, rejected)
    assert (retried.rows_deleted, retried.rows_loaded, retried.rows_quarantined) == (180, 360, 2)
    assert _state(clean_db) == reference


# --- aggregate refresh ---------------------------------------------------------------------------------
AGGREGATE = "price_history_daily"  # fed by the 5-minute bars
AGGREGATE_TABLES = [f"aggregates.{AGGREGATE}", "ops.refresh_log", "ops.refresh_covered"]


def _five_minute_bars(day: int, seed: int) -> pl.DataFrame:
    start = datetime(2024, 3, day, 14, 30, tzinfo=UTC)
    return minute_bars(start, 78, seed).with_columns(interval=pl.lit("5m"))


def _load_five_minute_days(db) -> None:
    with db.connect(Role.writer, direct=True) as conn:
        for day in (4, 5, 6):
            frame = _five_minute_bars(day, seed=day)
            start = datetime(2024, 3, day, 14, 30, tzinfo=UTC)
            load_window(conn, "price_history", frame, window=(start, start + timedelta(hours=7)), symbols=SYMBOLS,
                        source="test")


def _aggregate_state(db) -> dict[str, tuple[int, str]]:
    with db.connect(Role.admin, direct=True) as conn:
        return fingerprints(conn, AGGREGATE_TABLES)


def test_backend_terminated_during_an_aggregate_refresh(clean_db):
    from stockula_pipelines.lib.aggregates import refresh_aggregate

    _load_five_minute_days(clean_db)
    with clean_db.connect(Role.writer, direct=True, autocommit=True) as conn:
        undisturbed = refresh_aggregate(conn, AGGREGATE)
    assert undisturbed.rows_written == 9  # 3 symbols x 3 days
    reference = _aggregate_state(clean_db)
    empty(clean_db, *AGGREGATE_TABLES)
    before_state = _aggregate_state(clean_db)
    assert before_state[f"aggregates.{AGGREGATE}"][0] == 0

    # SHARE mode lets readers in and keeps the refresh's DELETE out.
    blocker = HeldLock(clean_db.dsn(Role.admin, direct=True),
                       sql.SQL("LOCK TABLE {} IN SHARE MODE").format(sql.Identifier("aggregates", AGGREGATE)))
    killer = BackendKiller(clean_db.dsn(Role.admin, direct=True), clean_db.name, query_like=f"%DELETE FROM%{AGGREGATE}%",
                           application_name="fault-refresh", waiting=True, after=blocker.release).start()
    try:
        with psycopg.connect(clean_db.dsn(Role.writer, direct=True), application_name="fault-refresh",
                             autocommit=True, prepare_threshold=None) as conn, \
                pytest.raises(psycopg.errors.AdminShutdown) as failure:
            refresh_aggregate(conn, AGGREGATE)
    finally:
        blocker.release()
    killer.result()
    assert KILLED in str(failure.value)
    assert _aggregate_state(clean_db) == before_state  # no bucket, no refresh logged, no load marked covered

    with clean_db.connect(Role.writer, direct=True, autocommit=True) as conn:
        retried = refresh_aggregate(conn, AGGREGATE)
    assert (retried.rows_written, retried.loads) == (undisturbed.rows_written, undisturbed.loads)
    assert _aggregate_state(clean_db) == reference


# --- backups and drills ----------------------------------------------------------------------------------
def _listing(directory) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_backend_terminated_during_a_logical_backup(clean_db):
    from ops_support import load_day

    from stockula_pipelines.lib.backup import catalog, logical
    from stockula_pipelines.lib.backup.catalog import Target
    from stockula_pipelines.lib.backup.errors import BackupError
    from stockula_pipelines.lib.backup.pgbackrest import BackupPaths

    target = Target(clean_db.settings, clean_db.name)
    load_day(clean_db, 11, direct=True)
    undisturbed = logical.run_logical(target, log=lambda _m: None)
    directory = BackupPaths.from_settings(clean_db.settings).logical
    files_before = _listing(directory)

    # pg_dump locks every table it dumps before reading any: the one the manifest leaves out
    # (ops.backups, written after the snapshot) held exclusively makes it wait mid-backup.
    blocker = HeldLock(clean_db.dsn(Role.admin, direct=True), "LOCK TABLE ops.backups IN ACCESS EXCLUSIVE MODE")
    killer = BackendKiller(clean_db.dsn(Role.admin, direct=True), clean_db.name, application_name="pg_dump",
                           waiting=True, after=blocker.release).start()
    try:
        with pytest.raises(BackupError) as failure:
            logical.run_logical(target, log=lambda _m: None)
    finally:
        blocker.release()
    victim = killer.result()
    assert "ops.backups" in victim.query
    assert "pg_dump failed" in str(failure.value) and KILLED in str(failure.value)
    assert _listing(directory) == files_before  # no .partial dump, no manifest
    rows = catalog.list_backups(target)
    assert [r["status"] for r in rows[:2]] == ["failed", "complete"]
    assert rows[1]["backup_id"] == undisturbed.backup_id

    retried = logical.run_logical(target, log=lambda _m: None)
    assert retried.manifest["tables"] == undisturbed.manifest["tables"]
    assert logical.verify_file(logical.LogicalFiles.of(directory, retried.backup_id))["sha256"]


def test_backend_terminated_during_a_restore_drill(clean_db):
    from ops_support import live_checksums, load_day

    from stockula_pipelines.lib.backup import logical
    from stockula_pipelines.lib.backup.catalog import Target
    from stockula_pipelines.lib.backup.drill import run_drill
    from stockula_pipelines.lib.backup.errors import ConnectionLost

    target = Target(clean_db.settings, clean_db.name)
    load_day(clean_db, 12, direct=True)
    backup = logical.run_logical(target, log=lambda _m: None)
    scratch = f"{clean_db.name}_drill"
    # pg_restore's one connection to the scratch database, whatever it is doing when seen.
    killer = BackendKiller(clean_db.dsn(Role.admin, direct=True), scratch, application_name="pg_restore",
                           active=False).start()
    with pytest.raises(ConnectionLost) as failure:  # exit 1, retried: not "verification failed" (exit 4)
        run_drill(target, backup.backup_id, log=lambda _m: None)
    killer.result()
    message = str(failure.value)
    assert message.startswith("pg_restore into stockula_test_drill failed") and (
        "terminating connection" in message or "server closed the connection" in message), message
    with clean_db.connect(Role.admin, direct=True) as conn:
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (scratch,)).fetchone() == (0,)
        # An interrupted drill is no verdict: the backup is not marked as failing verification.
        assert conn.execute("SELECT count(*) FROM ops.backup_verifications WHERE backup_id = %s",
                            (backup.backup_id,)).fetchone() == (0,)

    retried = run_drill(target, backup.backup_id, log=lambda _m: None)
    assert retried.passed and retried.mismatches == [] and retried.tables_checked > 10
    assert retried.tables_checked == len(backup.manifest["tables"])
    assert live_checksums(clean_db) == backup.manifest["tables"]  # nothing changed since the dump


def test_backend_terminated_during_a_physical_backup(clean_db):
    from ops_support import load_day

    from stockula_pipelines.lib.backup import catalog, physical
    from stockula_pipelines.lib.backup.catalog import Target
    from stockula_pipelines.lib.backup.errors import BackupError
    from stockula_pipelines.lib.backup.pgbackrest import BackupPaths, PgBackRest

    target = Target(clean_db.settings, clean_db.name)
    load_day(clean_db, 13, direct=True)
    undisturbed = physical.run_physical(target, "incr", log=lambda _m: None)
    rest = PgBackRest(BackupPaths.from_settings(clean_db.settings))
    sets_before = [b["label"] for b in rest.info()]

    # pgBackRest's own session: once it has started the backup it sits idle while it copies files.
    killer = BackendKiller(clean_db.dsn(Role.admin, direct=True), "postgres", query_like="%pg_backup_start%",
                           active=False).start()
    with pytest.raises(BackupError) as failure:
        physical.run_physical(target, "incr", log=lambda _m: None)
    victim = killer.result()
    assert victim.application_name.startswith("pgBackRest")
    assert str(failure.value).startswith("pgbackrest backup failed (exit ")  # pgBackRest's own words follow
    assert [b["label"] for b in rest.info()] == sets_before  # no partial set listed
    newest, previous = catalog.list_backups(target)[:2]
    assert newest["status"] == "failed" and previous["backup_id"] == undisturbed.backup_id

    retried = physical.run_physical(target, "incr", log=lambda _m: None)
    assert retried.manifest["tables"] == undisturbed.manifest["tables"]
