"""The read replica (issue 15): how long a clone takes, and how far the standby falls behind under writes.

    python bench/bench_replica.py [--fill-rows 2000000] [--load-seconds 20] [--batch-rows 20000]

Needs the local stack up. Creates the scratch database ``stockula_bench_replica`` (admin DSN, direct)
and fills it with ``--fill-rows`` bar-like rows, so the clone copies a cluster of some size; then clones
the standby (`stack up` with the replica on, unless one already runs: then no clone figures), writes
batches of ``--batch-rows`` rows as fast as one connection can for ``--load-seconds`` while sampling the
primary's pg_stat_replication every 0.2 s, and finally times how soon single committed rows are
visible on the standby. Prints `name: value` lines. Drops the scratch database, and the standby if it
made it. Never fails on time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stockula_pipelines.settings import Role, get_settings  # noqa: E402
from stockula_pipelines.stack import replica  # noqa: E402
from stockula_pipelines.stack.layout import RunAs, StackLayout  # noqa: E402

DATABASE = "stockula_bench_replica"
CREATE_TABLE = """
CREATE TABLE bars (id bigint PRIMARY KEY, time timestamptz NOT NULL, symbol text NOT NULL,
                   close_price double precision NOT NULL, volume bigint NOT NULL)
"""
INSERT_ROWS = """
INSERT INTO bars (id, time, symbol, close_price, volume)
SELECT i, timestamptz '2000-01-03' + (i / 2000) * interval '1 day', 'S' || lpad((i %% 2000)::text, 4, '0'),
       100 + (i %% 997) / 10.0, 1000 + i %% 5000
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS i
"""
SAMPLE_LAG = """
SELECT coalesce(extract(epoch FROM replay_lag), 0), pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)
FROM pg_stat_replication WHERE application_name = %s
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fill-rows", type=int, default=2_000_000)
    parser.add_argument("--load-seconds", type=float, default=20.0)
    parser.add_argument("--batch-rows", type=int, default=20_000)
    args = parser.parse_args()

    settings = get_settings().model_copy(update={"replica": True})
    layout, run_as = StackLayout.from_settings(settings), RunAs.for_current_process()
    admin = settings.dsn(Role.admin, direct=True, dbname="postgres")
    scratch = settings.dsn(Role.admin, direct=True, dbname=DATABASE)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    made_standby = not (replica.running(layout) or replica.cloned(layout))
    try:
        with psycopg.connect(scratch, autocommit=True) as conn:
            conn.execute(CREATE_TABLE)
            started = time.monotonic()
            conn.execute(INSERT_ROWS, {"first": 1, "last": args.fill_rows})
            print(f"replica_fill_rows: {args.fill_rows}")
            print(f"replica_fill_seconds: {time.monotonic() - started:.2f}")
            conn.execute("CHECKPOINT")
            cluster = conn.execute("SELECT sum(pg_database_size(datname)) FROM pg_database").fetchone()[0]
        print(f"replica_cluster_mb: {cluster / 2**20:.0f}")

        passwords = {role: settings.password_for(role) for role in Role}
        clone = replica.ensure(settings, layout, run_as, passwords, log=lambda _line: None)
        if clone is not None:
            print(f"replica_basebackup_seconds: {clone.seconds:.2f}")
            print(f"replica_basebackup_mb: {clone.bytes / 2**20:.0f}")
            print(f"replica_basebackup_mb_per_second: {clone.bytes / 2**20 / clone.seconds:.0f}")

        lag = _lag_under_load(settings, scratch, args.fill_rows + 1, args.batch_rows, args.load_seconds)
        for name, value in lag.items():
            print(f"{name}: {value}")
        visible = _visibility_ms(settings, scratch)
        print(f"replica_visibility_median_ms: {statistics.median(visible):.1f}")
        print(f"replica_visibility_max_ms: {max(visible):.1f}")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
        if made_standby:
            replica.drop(settings, layout, run_as, log=lambda _line: None)


def _lag_under_load(settings, scratch: str, first_id: int, batch: int, seconds: float) -> dict[str, str]:
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        with psycopg.connect(settings.dsn(Role.admin, direct=True), autocommit=True) as conn:
            while not stop.is_set():
                row = conn.execute(SAMPLE_LAG, (replica.APPLICATION_NAME,)).fetchone()
                if row is not None:
                    samples.append((float(row[0]), float(row[1] or 0)))
                time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    rows, next_id = 0, first_id
    with psycopg.connect(scratch, autocommit=True) as conn:
        wal_start = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            conn.execute(INSERT_ROWS, {"first": next_id, "last": next_id + batch - 1})
            next_id += batch
            rows += batch
        elapsed = time.monotonic() - started
        wal = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)", (wal_start,)).fetchone()[0]
    time.sleep(1.0)  # the tail of the load, as the standby catches up
    stop.set()
    sampler.join()
    lags = sorted(s for s, _ in samples)
    behind = sorted(b for _, b in samples)
    p95 = lambda values: values[int(0.95 * (len(values) - 1))]  # noqa: E731
    return {
        "replica_load_rows_per_second": f"{rows / elapsed:.0f}",
        "replica_load_wal_mb_per_second": f"{float(wal) / 2**20 / elapsed:.1f}",
        "replica_lag_samples": str(len(samples)),
        "replica_lag_p95_seconds": f"{p95(lags):.3f}",
        "replica_lag_max_seconds": f"{lags[-1]:.3f}",
        "replica_lag_p95_mb": f"{p95(behind) / 2**20:.1f}",
        "replica_lag_max_mb": f"{behind[-1] / 2**20:.1f}",
    }


def _visibility_ms(settings, scratch: str, probes: int = 20) -> list[float]:
    """From the primary's COMMIT returning to the row being readable on the standby."""
    standby = psycopg.connect(host=settings.replica_host, port=settings.replica_port, user=settings.admin_user,
                              password=settings.password_for(Role.admin), dbname=DATABASE, autocommit=True)
    out = []
    with psycopg.connect(scratch, autocommit=True) as primary, standby:
        for k in range(probes):
            row_id = -1 - k
            primary.execute("INSERT INTO bars VALUES (%s, now(), 'PROBE', 1, 1)", (row_id,))
            committed = time.monotonic()
            while standby.execute("SELECT 1 FROM bars WHERE id = %s", (row_id,)).fetchone() is None:
                time.sleep(0.001)
            out.append((time.monotonic() - committed) * 1000)
    return out


if __name__ == "__main__":
    main()
