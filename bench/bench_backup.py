"""How fast is a restore drill compared with copying the data directory, how far does the WAL archive lag
a burst of loads, and does a backup taken during loads fail any of them?

    python bench/bench_backup.py [--symbols 50] [--days 20]

Creates the scratch database ``stockula_bench_backup`` (admin DSN, direct), migrates it, loads
``--days`` sessions of 5-minute bars for ``--symbols`` symbols through the real loader, then:

* takes a full pgBackRest backup while loads keep running in another thread (``loads_failed_during_backup``);
* restores that set into a scratch cluster, to its restore point, until promoted (the drill's restore),
  and times a plain ``cp -a`` of the live data directory as the service account
  (``restore_vs_copy_ratio`` = copy seconds / restore seconds, one run, target >= 0.5), and the same
  copy once synced to disk, which a restore's files are (``restore_vs_synced_copy_ratio``);
* after a burst of loads, waits without forcing a WAL switch until the segment holding the last write
  is archived (``wal_archive_lag_seconds``, target <= 60: the stack sets archive_timeout = 60 s);
* runs the whole drill (``drill_seconds``).

Prints ``name: value`` lines; never fails on time. Drops the database and every scratch copy at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stockula_pipelines.lib import schemas  # noqa: E402
from stockula_pipelines.lib.backup import physical, restore  # noqa: E402
from stockula_pipelines.lib.backup.catalog import Target  # noqa: E402
from stockula_pipelines.lib.backup.drill import run_drill  # noqa: E402
from stockula_pipelines.lib.backup.pgbackrest import BackupPaths  # noqa: E402
from stockula_pipelines.lib.db.migrate import migrate  # noqa: E402
from stockula_pipelines.lib.ingest import load_window  # noqa: E402
from stockula_pipelines.settings import Role, get_settings, project_dir  # noqa: E402
from stockula_pipelines.stack.layout import RunAs, StackLayout  # noqa: E402

DB = "stockula_bench_backup"
QUIET = {"log": lambda _m: None}


def _bars(symbols: list[str], day: datetime, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n = 78
    rows = len(symbols) * n
    close = 100 + rng.normal(0, 1, rows).cumsum() / 20
    spread = rng.uniform(0.01, 0.3, rows)
    frame = pl.DataFrame({
        "time": [day + i * timedelta(minutes=5) for _ in symbols for i in range(n)],
        "symbol": [s for s in symbols for _ in range(n)], "interval": "5m",
        "open_price": close + spread / 2, "high_price": close + spread, "low_price": close - spread,
        "close_price": close, "volume": rng.integers(0, 10_000, rows), "source": "bench",
    }).with_columns(pl.col("time").cast(schemas.UTC_TS), pl.col("time").dt.date().alias("date"))
    return schemas.conform(frame, "price_history")


def _load(dsn: str, symbols: list[str], day_index: int) -> None:
    day = datetime(2024, 1, 2, 14, 30, tzinfo=UTC) + timedelta(days=day_index)
    with psycopg.connect(dsn, prepare_threshold=None) as conn:
        load_window(conn, "price_history", _bars(symbols, day, day_index), window=(day, day + timedelta(hours=7)),
                    symbols=symbols, source="bench")


def _recreate(settings) -> None:
    with psycopg.connect(settings.dsn(Role.admin, direct=True, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(DB), sql.Identifier(settings.admin_user)))


def _drop(settings) -> None:
    with psycopg.connect(settings.dsn(Role.admin, direct=True, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DB)))


def _copy_seconds(settings) -> tuple[float, float]:
    """A plain copy of the live data directory, as the service account, into the scratch area:
    (seconds of `cp -a`, seconds until it is also synced to disk, as a restore's files are)."""
    run_as = RunAs.for_current_process()
    paths = BackupPaths.from_settings(settings)
    paths.scratch.mkdir(parents=True, exist_ok=True)
    dest = Path(tempfile.mkdtemp(prefix="copy-", dir=paths.scratch))
    try:
        if run_as.drop:
            os.chown(dest, run_as.uid, run_as.gid)
        started = time.monotonic()
        run_as.run(["/bin/cp", "-a", str(StackLayout.from_settings(settings).pgdata), str(dest / "pgdata")],
                   check=False, timeout=3600)
        copied = time.monotonic() - started
        run_as.run(["/bin/sync", "-f", str(dest / "pgdata")], check=False, timeout=3600)
        return copied, time.monotonic() - started
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def _archive_lag(target: Target, timeout: float = 180.0) -> float:
    """Seconds from the last write until its WAL segment is archived, without forcing a switch."""
    with target.connect(Role.admin, dbname="postgres", autocommit=True) as conn:
        segment = conn.execute("SELECT pg_walfile_name(pg_current_wal_insert_lsn())").fetchone()[0]
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            last = conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()[0]
            if last and last >= segment:
                return time.monotonic() - started
            time.sleep(0.25)
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--days", type=int, default=20)
    args = parser.parse_args()
    settings = get_settings()
    symbols = [f"B{i:03d}" for i in range(args.symbols)]
    _recreate(settings)
    target = Target(settings, DB)
    writer = settings.dsn(Role.writer, direct=True, dbname=DB)
    try:
        migrate(settings.dsn(Role.admin, direct=True, dbname=DB), project_dir() / "sql",
                writer_user=settings.writer_user, analyst_user=settings.analyst_user, backup_user=settings.backup_user)
        for day in range(args.days):
            _load(writer, symbols, day)
        print(f"rows_loaded: {args.symbols * 78 * args.days}")

        failures: list[str] = []
        stop = threading.Event()

        def keep_loading() -> None:
            day = args.days
            while not stop.is_set():
                try:
                    _load(writer, symbols, day)
                except Exception as exc:  # noqa: BLE001 - counted and reported
                    failures.append(str(exc))
                day += 1

        loader = threading.Thread(target=keep_loading)
        loader.start()
        started = time.monotonic()
        full = physical.run_physical(target, "full", force_full=True, **QUIET)
        backup_seconds = time.monotonic() - started
        stop.set()
        loader.join()
        print(f"full_backup_seconds: {backup_seconds:.2f}")
        print(f"full_backup_size_bytes: {full.size_bytes}")
        print(f"loads_failed_during_backup: {len(failures)}")

        restored = restore.restore_physical(target, full.backup_id, verify_only=True, **QUIET)
        copy, synced = _copy_seconds(settings)
        print(f"restore_seconds: {restored.seconds:.2f}")
        print(f"copy_seconds: {copy:.2f}")
        print(f"copy_synced_seconds: {synced:.2f}")
        print(f"restore_vs_copy_ratio: {copy / restored.seconds:.3f}")
        print(f"restore_vs_synced_copy_ratio: {synced / restored.seconds:.3f}")
        print("restore_vs_copy_ratio_target: 0.5")

        for day in range(args.days + 100, args.days + 110):
            _load(writer, symbols, day)
        print(f"wal_archive_lag_seconds: {_archive_lag(target):.2f}")
        print("wal_archive_lag_seconds_target: 60")

        drill = run_drill(target, full.backup_id, **QUIET)
        print(f"drill_seconds: {drill.seconds:.2f}")
        print(f"drill_passed: {drill.passed}")
    finally:
        _drop(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
