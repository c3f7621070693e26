"""Ingest throughput of the loader against the machine's limit, pandas' to_sql and a re-load.

    python bench/bench_ingest.py [--rows 1000000] [--repeat 3] [--pandas-rows 50000] [--direct]

Creates the scratch database ``stockula_bench``, migrates it, and times, into the same hypertable with
the same indexes (emptied between runs, CHECKPOINT before each):

(a) ``load_window`` end to end from a polars frame, committed, as the writer (through PgBouncer unless
    ``--direct``);
(b) a server-side ``COPY ... FROM '<file>' (FORMAT BINARY)`` of the same rows as admin: no client,
    no network, the server's own insert rate;
(c) ``load_window`` of the already-loaded window again with the same rows: compared, nothing written
    (``unchanged_reload_rows_written`` counts the rows it deleted or wrote, and the rows whose xmin
    moved; the WAL it added is printed beside);
(d) ``load_window`` of the window again with every row changed (delete + copy of every symbol);
(e) ``pandas.DataFrame.to_sql(method='multi')`` through SQLAlchemy + psycopg, on a subset.

Prints ``name: value`` lines, best and median of ``--repeat`` runs, and the targets. Never fails on
time. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable as a plain script from a checkout
    sys.path.insert(0, str(ROOT))

from stockula_pipelines.lib import schemas  # noqa: E402
from stockula_pipelines.lib.db.migrate import migrate  # noqa: E402
from stockula_pipelines.lib.ingest import encode_frame, load_window  # noqa: E402
from stockula_pipelines.settings import Role, Settings, get_settings  # noqa: E402

BENCH_DB = "stockula_bench"
TABLE = sql.Identifier("market", "price_history")
TARGETS = {"ingest_vs_raw_copy_ratio_target": 0.8, "rewrite_reload_vs_raw_copy_ratio_target": 0.5,
           "unchanged_reload_rows_written_target": 0, "unchanged_reload_vs_raw_copy_ratio_target": 1.0,
           "ingest_vs_pandas_to_sql_ratio_target": 10.0}
START = datetime(2024, 1, 2, tzinfo=UTC)


def generate_bars(rows: int, n_symbols: int = 50, seed: int = 7) -> tuple[pl.DataFrame, tuple[datetime, datetime]]:
    """``rows`` one-minute bars over ``n_symbols`` symbols as a random walk; same seed, same frame."""
    per_symbol = -(-rows // n_symbols)
    rng = np.random.default_rng(seed)
    steps = rng.normal(0, 0.0005, (n_symbols, per_symbol))
    close = (rng.uniform(20, 500, (n_symbols, 1)) * np.exp(steps.cumsum(axis=1))).ravel()[:rows]
    spread = close * rng.uniform(0.0001, 0.003, close.size)
    open_ = close + spread * rng.uniform(-1, 1, close.size)
    minute = np.tile(np.arange(per_symbol, dtype=np.int64), n_symbols)[:rows]
    symbol_idx = np.repeat(np.arange(n_symbols), per_symbol)[:rows]
    start_us = int(START.timestamp() * 1_000_000)
    frame = pl.DataFrame({
        "time": pl.Series(start_us + minute * 60_000_000).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
        "symbol": pl.Series(np.char.add("SYM", np.char.zfill(symbol_idx.astype(str), 3))),
        "interval": pl.repeat("1m", rows, eager=True),
        "open_price": open_,
        "high_price": np.maximum(open_, close) + spread,
        "low_price": np.minimum(open_, close) - spread,
        "close_price": close,
        "volume": rng.integers(100, 100_000, rows),
        "source": pl.repeat("bench", rows, eager=True),
    }).with_columns(pl.col("time").dt.date().alias("date"))
    window = (START, START + timedelta(minutes=per_symbol))
    return schemas.conform(frame, "price_history"), window


def timed(fn: Callable[[psycopg.Connection], None], dsn: str, *, autocommit: bool = False,
          before: Callable[[], None] = lambda: None) -> float:
    """Seconds ``fn`` takes on a connection opened beforehand (a pooled connection in production)."""
    before()
    with psycopg.connect(dsn, autocommit=autocommit, prepare_threshold=None) as conn:
        started = time.perf_counter()
        fn(conn)
        if not autocommit:
            conn.commit()
        return time.perf_counter() - started


def report(name: str, rows: int, times: list[float]) -> float:
    best = rows / min(times)
    print(f"{name}_rows_per_s: {best:.0f}")
    print(f"{name}_rows_per_s_median: {rows / statistics.median(times):.0f}")
    return best


class Bench:
    def __init__(self, settings: Settings, rows: int, repeat: int, pandas_rows: int, direct: bool) -> None:
        self.settings, self.rows, self.repeat, self.pandas_rows = settings, rows, repeat, pandas_rows
        self.writer_dsn = settings.dsn(Role.writer, direct=direct, dbname=BENCH_DB)
        self.admin_dsn = settings.dsn(Role.admin, direct=True, dbname=BENCH_DB)
        self.unchanged_results: list = []

    # --- database lifecycle ----------------------------------------------------------------------
    def create(self) -> None:
        self.drop()
        with psycopg.connect(self.settings.dsn(Role.admin, direct=True, dbname="postgres"), autocommit=True) as c:
            c.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(BENCH_DB), sql.Identifier(self.settings.admin_user)))
        with psycopg.connect(self.admin_dsn, autocommit=True) as c:
            c.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        migrate(self.admin_dsn, ROOT / "sql", writer_user=self.settings.writer_user,
                analyst_user=self.settings.analyst_user, backup_user=self.settings.backup_user)

    def drop(self) -> None:
        with psycopg.connect(self.settings.dsn(Role.admin, direct=True, dbname="postgres"), autocommit=True) as c:
            c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(BENCH_DB)))

    def admin(self, statement: sql.Composable | str, params: tuple = ()) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as c:
            c.execute(statement, params)

    def empty(self) -> None:
        self.admin(sql.SQL("TRUNCATE {}").format(TABLE))
        self.admin("CHECKPOINT")

    def versions(self) -> tuple[int, int]:
        """(rows, sum of the rows' xmin): a row rewritten in place or deleted and inserted moves its xmin."""
        with psycopg.connect(self.admin_dsn) as c:
            return c.execute(sql.SQL("SELECT count(*), coalesce(sum(xmin::text::bigint), 0) FROM {}").format(
                TABLE)).fetchone()  # type: ignore[return-value]

    def wal_lsn(self) -> int:
        with psycopg.connect(self.admin_dsn) as c:
            return int(c.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn").fetchone()[0])  # type: ignore[index]

    def count(self) -> int:
        with psycopg.connect(self.admin_dsn) as c:
            return c.execute(sql.SQL("SELECT count(*) FROM {}").format(TABLE)).fetchone()[0]  # type: ignore[index]

    # --- the runs ------------------------------------------------------------------------------------
    def run(self) -> None:
        frame, window = generate_bars(self.rows)
        symbols = frame.get_column("symbol").unique().sort().to_list()
        print(f"rows: {frame.height}")
        print(f"symbols: {len(symbols)}")
        print(f"writer_via_pgbouncer: {self.settings.through_pgbouncer(self.writer_dsn)}")

        steps: list[dict[str, float]] = []

        def ours(conn: psycopg.Connection) -> None:
            result = load_window(conn, "price_history", frame, window=window, symbols=symbols,
                                 source="bench", interval="1m")
            steps.append(result.timings)
            self.unchanged_results.append(result)

        def breakdown(name: str) -> None:
            fastest = min(steps, key=lambda t: sum(t.values()))
            for step, seconds in fastest.items():
                print(f"{name}_step_{step}_s: {seconds:.3f}")
            steps.clear()

        started = time.perf_counter()
        stream = encode_frame(frame)
        print(f"encode_only_rows_per_s: {frame.height / (time.perf_counter() - started):.0f}")
        print(f"copy_stream_mb: {len(stream) / 1e6:.1f}")
        fd, path = tempfile.mkstemp(prefix="stockula_bench_", suffix=".pgcopy", dir="/tmp")
        raw_times: list[float] = []
        ingest_times: list[float] = []
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(stream)
            del stream
            os.chmod(path, 0o644)  # the server reads it as its own OS user
            raw_statement = sql.SQL("COPY {} ({}) FROM {} (FORMAT BINARY)").format(
                TABLE, sql.SQL(", ").join(map(sql.Identifier, frame.columns)), sql.Literal(path))
            # Interleaved, so both see the same background load on a shared machine.
            for _ in range(self.repeat):
                raw_times.append(timed(lambda c: c.execute(raw_statement), self.admin_dsn, before=self.empty))
                assert self.count() == frame.height
                ingest_times.append(timed(ours, self.writer_dsn, before=self.empty))
                assert self.count() == frame.height
        finally:
            os.unlink(path)
        raw = report("raw_copy", frame.height, raw_times)
        ingest = report("ingest", frame.height, ingest_times)
        breakdown("ingest")
        self.unchanged_results = []  # from here on: the unchanged reloads
        before, lsn = self.versions(), self.wal_lsn()
        unchanged_times = [timed(ours, self.writer_dsn, before=lambda: self.admin("CHECKPOINT"))
                           for _ in range(self.repeat)]
        wal = self.wal_lsn() - lsn
        after = self.versions()
        assert after[0] == frame.height
        unchanged = report("unchanged_reload", frame.height, unchanged_times)
        breakdown("unchanged_reload")
        written = sum(r.rows_loaded + r.rows_deleted for r in self.unchanged_results) + (before != after) * after[0]
        print(f"unchanged_reload_rows_written: {written}")
        print(f"unchanged_reload_wal_mb_per_run: {wal / self.repeat / 1e6:.2f} (the CHECKPOINTs' included)")

        changed = frame.with_columns(pl.col("volume") + 1)  # every row differs: every symbol is rewritten

        def rewrite(conn: psycopg.Connection) -> None:
            nonlocal changed
            load_window(conn, "price_history", changed, window=window, symbols=symbols, source="bench", interval="1m")
            changed = changed.with_columns(pl.col("volume") + 1)

        rewrite_times = [timed(rewrite, self.writer_dsn, before=lambda: self.admin("CHECKPOINT"))
                         for _ in range(self.repeat)]
        assert self.count() == frame.height
        rewritten = report("rewrite_reload", frame.height, rewrite_times)
        pandas_rate = self.pandas(frame)

        print(f"ingest_vs_raw_copy_ratio: {ingest / raw:.3f}")
        print(f"unchanged_reload_vs_raw_copy_ratio: {unchanged / raw:.3f}")
        print(f"rewrite_reload_vs_raw_copy_ratio: {rewritten / raw:.3f}")
        print(f"ingest_vs_pandas_to_sql_ratio: {ingest / pandas_rate:.1f}")
        for name, value in TARGETS.items():
            print(f"{name}: {value}")

    def pandas(self, frame: pl.DataFrame) -> float:
        from sqlalchemy import create_engine

        subset = frame.head(self.pandas_rows).to_pandas()
        url = self.writer_dsn.replace("postgresql://", "postgresql+psycopg://", 1)
        engine = create_engine(url, connect_args={"prepare_threshold": None})

        def to_sql() -> None:
            subset.to_sql("price_history", engine, schema="market", if_exists="append", index=False,
                          method="multi", chunksize=1_000)

        times = []
        try:
            with engine.connect():  # the pool's connection exists before timing, as for ours
                pass
            for _ in range(self.repeat):
                self.empty()
                started = time.perf_counter()
                to_sql()
                times.append(time.perf_counter() - started)
        finally:
            engine.dispose()
        rate = report("pandas_to_sql", len(subset), times)
        return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pandas-rows", type=int, default=50_000)
    parser.add_argument("--direct", action="store_true", help="writer straight to PostgreSQL, not PgBouncer")
    args = parser.parse_args(argv)
    bench = Bench(get_settings(), args.rows, args.repeat, args.pandas_rows, args.direct)
    bench.create()
    try:
        bench.run()
    finally:
        bench.drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
