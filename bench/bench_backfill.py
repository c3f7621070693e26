"""Long backfills as CI and operators run them: how much of the wall time is data work, and the memory.

    python bench/bench_backfill.py [--years 5] [--symbols 500] [--long-years 20] [--long-symbols 2000]
                                   [--minute-symbols 100] [--skip-long]

Every run is the command CI uses, ``dagster asset materialize --select ... --partition-range A...B``, on
the code location ``bench/backfill_location.py`` (the project's definitions plus a no-op asset on the same
daily partitions), the default multiprocess executor, the synthetic source, a scratch warehouse database
and a scratch Dagster instance whose storage is configured as this checkout's ``dagster.yaml``. The
resident memory of the run's whole process tree (the command and its step processes) is sampled every
0.2 s.

Prints ``name: value`` lines, then the targets; never fails on time:

- ``backfill_data_share``: data work / wall time of the daily bars over ``--years`` × ``--symbols``. Data
  work is what the run reports it spent fetching, validating and loading (the asset's ``fetch_seconds``,
  ``validate_seconds``, ``load_seconds``) plus its checks' ``suite_seconds``.
- ``backfill_overhead_vs_noop_ratio``: the rest of that run's wall time (Dagster, process start, events)
  over the wall time of the no-op asset on the same partitions: the project's per-partition cost beside
  Dagster's own.
- ``backfill_unchanged_rerun_rows_written``: the same backfill run again: rows it deleted or wrote.
- ``backfill_20y_2000_symbols_peak_rss_mb`` and ``minute_bars_1y_100_symbols_peak_rss_mb``.

The scratch databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable as a plain script from a checkout
    sys.path.insert(0, str(ROOT))

from stockula_pipelines.lib.celery_workers import recreate_database, write_instance_dir  # noqa: E402
from stockula_pipelines.lib.db.migrate import migrate  # noqa: E402
from stockula_pipelines.settings import Role, Settings, get_settings  # noqa: E402

WAREHOUSE_DB = "stockula_bench_backfill"
DAGSTER_DB = "dagster_bench_backfill"
LOCATION = ROOT / "bench" / "backfill_location.py"
DAGSTER = ROOT / ".venv" / "bin" / "dagster"
TARGETS = {"backfill_data_share_target": 0.5, "backfill_overhead_vs_noop_ratio_target": 1.2,
           "backfill_unchanged_rerun_rows_written_target": 0,
           "backfill_20y_2000_symbols_peak_rss_mb_target": 2048, "minute_bars_1y_100_symbols_peak_rss_mb_target": 2048}
PAGE = os.sysconf("SC_PAGE_SIZE")


def tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and every process descending from it."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as fh:
                rss[int(entry)] = int(fh.read().split()[1]) * PAGE
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        parents[int(entry)] = int(fields[1])
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(child for child, parent in parents.items() if parent == pid)
    return total


@dataclass
class Run:
    wall: float
    peak_rss_mb: float
    run_id: str


class Bench:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = Path(tempfile.mkdtemp(prefix="stockula_bench_backfill_"))
        self.admin_postgres = settings.dsn(Role.admin, direct=True, dbname="postgres")

    # --- scratch databases and instance --------------------------------------------------------------
    def create(self) -> None:
        recreate_database(self.settings, WAREHOUSE_DB, Role.admin)
        recreate_database(self.settings, DAGSTER_DB, Role.dagster)
        migrate(self.settings.dsn(Role.admin, direct=True, dbname=WAREHOUSE_DB), ROOT / "sql",
                writer_user=self.settings.writer_user, analyst_user=self.settings.analyst_user,
                backup_user=self.settings.backup_user)
        write_instance_dir(self.home, dagster_db=DAGSTER_DB)  # the project's storage and pools

    def drop(self) -> None:
        with psycopg.connect(self.admin_postgres, autocommit=True) as conn:
            for name in (WAREHOUSE_DB, DAGSTER_DB):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def cleanup(self) -> None:
        self.drop()
        shutil.rmtree(self.home, ignore_errors=True)

    # --- runs ----------------------------------------------------------------------------------------
    def env(self, **settings: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"DAGSTER_HOME": str(self.home), "DAGSTER_PG_DB": DAGSTER_DB, "STOCKULA_DB_NAME": WAREHOUSE_DB,
                    "STOCKULA_SOURCE": "synthetic"})
        env.update({f"STOCKULA_{k.upper()}": v for k, v in settings.items()})
        return env

    def materialize(self, select: str, partition_range: str | None, **settings: str) -> Run:
        command = [str(DAGSTER), "asset", "materialize", "-f", str(LOCATION), "--select", select]
        if partition_range:
            command += ["--partition-range", partition_range]
        log = self.home / f"run_{len(list(self.home.glob('run_*.log'))) + 1}.log"
        peak = 0
        with open(log, "wb") as out:
            started = time.perf_counter()
            proc = subprocess.Popen(command, env=self.env(**settings), stdout=out, stderr=subprocess.STDOUT,
                                    cwd=ROOT)
            done = threading.Event()

            def sample() -> None:
                nonlocal peak
                while not done.is_set():
                    peak = max(peak, tree_rss(proc.pid))
                    done.wait(0.2)

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            code = proc.wait()
            wall = time.perf_counter() - started
            done.set()
            sampler.join()
        if code != 0:
            tail = log.read_text(errors="replace").splitlines()[-30:]
            raise SystemExit(f"bench_backfill: {select} {partition_range or ''} failed ({code}):\n" + "\n".join(tail))
        return Run(wall=wall, peak_rss_mb=peak / 2**20, run_id=self.last_run_id())

    def last_run_id(self) -> str:
        with psycopg.connect(self.settings.dsn(Role.dagster, direct=True, dbname=DAGSTER_DB)) as conn:
            return conn.execute("SELECT run_id FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0]  # type: ignore[index]

    def run_metadata(self, run_id: str) -> tuple[dict, float]:
        """The run's last materialisation's metadata, and the longest ``suite_seconds`` of its checks."""
        import dagster as dg

        os.environ["DAGSTER_HOME"], os.environ["DAGSTER_PG_DB"] = str(self.home), DAGSTER_DB
        with dg.DagsterInstance.get() as instance:
            materialized = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
            checked = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        meta = {k: v.value for k, v in materialized[-1].dagster_event.event_specific_data.materialization.metadata.items()}
        suites = [e.dagster_event.event_specific_data.metadata.get("suite_seconds") for e in checked]
        return meta, max((s.value for s in suites if s is not None), default=0.0)

    def daily_range(self, start: date, years: int) -> str:
        """The partition range of ``years`` calendar years of trading days from ``start``."""
        from stockula_pipelines.partitions import build_daily_partitions

        keys = build_daily_partitions(start=start).get_partition_keys()
        last = date(start.year + years - 1, 12, 31).isoformat()
        inside = [k for k in keys if k <= last]
        return f"{inside[0]}...{inside[-1]}"


def data_seconds(meta: dict, suite: float) -> float:
    return sum(float(meta.get(k, 0.0)) for k in ("fetch_seconds", "validate_seconds", "load_seconds")) + suite


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--long-years", type=int, default=20)
    parser.add_argument("--long-symbols", type=int, default=2000)
    parser.add_argument("--minute-symbols", type=int, default=100)
    parser.add_argument("--skip-long", action="store_true", help="only the 5-year runs (no memory figures)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases and instance to inspect")
    args = parser.parse_args(argv)
    bench = Bench(get_settings())
    bench.create()
    try:
        # --- 5 years of daily bars: data share, against the no-op, then the same range again ------------
        start = date(2021, 1, 4)
        shape = {"history_start": start.isoformat(), "synthetic_universe_size": str(args.symbols)}
        bench.materialize("market/stocks", None, **shape)
        span = bench.daily_range(start, args.years)
        print(f"backfill_partition_range: {span}")
        ours = bench.materialize("market/price_history", span, **shape)
        meta, suite = bench.run_metadata(ours.run_id)
        data = data_seconds(meta, suite)
        noop = bench.materialize("bench/noop_daily", span, **shape)
        print(f"backfill_rows: {meta['rows_in_run']}")
        print(f"backfill_wall_s: {ours.wall:.1f}")
        for key in ("fetch_seconds", "validate_seconds", "load_seconds"):
            print(f"backfill_{key[:-8]}_s: {float(meta[key]):.1f}")
        print(f"backfill_checks_s: {suite:.1f}")
        print(f"backfill_load_batches: {meta['load_batches']}")
        print(f"backfill_peak_rss_mb: {ours.peak_rss_mb:.0f}")
        print(f"noop_backfill_wall_s: {noop.wall:.1f}")
        print(f"backfill_data_share: {data / ours.wall:.3f}")
        print(f"backfill_overhead_vs_noop_ratio: {(ours.wall - data) / noop.wall:.3f}")
        again = bench.materialize("market/price_history", span, **shape)
        rerun, _ = bench.run_metadata(again.run_id)
        print(f"backfill_unchanged_rerun_wall_s: {again.wall:.1f}")
        print(f"backfill_unchanged_rerun_rows_written: {rerun['rows_in_run'] + rerun['rows_replaced']}")
        print(f"backfill_unchanged_rerun_rows_unchanged: {rerun['rows_unchanged']}")

        if not args.skip_long:
            # --- 20 years × 2,000 symbols of daily bars: memory ---------------------------------------
            start = date(2006, 1, 3)
            shape = {"history_start": start.isoformat(), "synthetic_universe_size": str(args.long_symbols)}
            bench.materialize("market/stocks", None, **shape)
            span = bench.daily_range(start, args.long_years)
            long = bench.materialize("market/price_history", span, **shape)
            meta, _ = bench.run_metadata(long.run_id)
            print(f"backfill_20y_partition_range: {span}")
            print(f"backfill_20y_rows: {meta['rows_in_run']} in {meta['load_batches']} batches")
            print(f"backfill_20y_wall_s: {long.wall:.1f}")
            print(f"backfill_{args.long_years}y_{args.long_symbols}_symbols_peak_rss_mb: {long.peak_rss_mb:.0f}")

            # --- a year of 1-minute bars of 100 symbols: memory ----------------------------------------
            shape = {"history_start": "2021-01-04", "intraday_history_start": "2025-01-02", "intraday_interval": "1m",
                     "synthetic_universe_size": str(args.minute_symbols)}
            bench.materialize("market/stocks", None, **shape)
            span = "2025-01-02-09:30...2025-12-31-15:30"
            minute = bench.materialize("market/price_history_intraday", span, **shape)
            meta, _ = bench.run_metadata(minute.run_id)
            print(f"minute_bars_1y_rows: {meta['rows_in_run']} in {meta['load_batches']} batches")
            print(f"minute_bars_1y_wall_s: {minute.wall:.1f}")
            print(f"minute_bars_1y_{args.minute_symbols}_symbols_peak_rss_mb: {minute.peak_rss_mb:.0f}")
        for name, value in TARGETS.items():
            print(f"{name}: {value}")
    finally:
        if args.keep:
            print(f"kept: DAGSTER_HOME={bench.home} DAGSTER_PG_DB={DAGSTER_DB} STOCKULA_DB_NAME={WAREHOUSE_DB}")
        else:
            bench.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
