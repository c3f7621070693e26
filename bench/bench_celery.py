"""The same backfill with the default multiprocess executor and with Celery on two local workers.

    python bench/bench_celery.py [--symbols 50] [--range 2024-11-01...2024-11-29]

Creates the scratch databases ``stockula_bench_celery`` (migrated) and ``dagster_bench_celery`` (Dagster's
storage), loads ``market/stocks``, then runs one partition-range backfill of the daily ingestion assets
(bars and option chains, with their checks) through ``dagster asset materialize`` twice, side by side in
this run: ``STOCKULA_EXECUTOR=multiprocess`` (the project's default: steps forked from a server that
preloaded the code location), then ``STOCKULA_EXECUTOR=celery`` with two ``stockula celery worker``
processes (started before the runs, idle during the others), then multiprocess again with Dagster's stock
start method (``spawn``: every step process starts cold). The tables are emptied before each run and
compared after.

Prints ``name: value`` lines. ``celery_2_workers_vs_multiprocess_ratio`` is the multiprocess run's wall
time divided by the Celery run's: above 1 Celery is faster. Walls are the runs' own (RUN_START to
RUN_SUCCESS in the event log); the ``*_command_wall_s`` lines add the command's start-up. Never fails on
time. Both databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import yaml
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # runnable as a plain script from a checkout
    sys.path.insert(0, str(ROOT))

from stockula_pipelines.lib.celery_workers import (  # noqa: E402
    LocalWorkers,
    materialize,
    recreate_database,
    table_digest,
    write_instance_dir,
)
from stockula_pipelines.lib.db.migrate import migrate  # noqa: E402
from stockula_pipelines.settings import Role, get_settings  # noqa: E402

BENCH_DB = "stockula_bench_celery"
DAGSTER_DB = "dagster_bench_celery"
SELECTION = "market/price_history,market/options_calls,market/options_puts"
TABLES = ("price_history", "options_calls", "options_puts")


def run_wall(instance, run_id: str) -> float:
    stats = instance.get_run_stats(run_id)
    return stats.end_time - stats.start_time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--range", dest="partition_range", default="2024-11-01...2024-11-29")
    args = parser.parse_args(argv)

    import dagster as dg

    settings = get_settings()
    recreate_database(settings, BENCH_DB, Role.admin)
    recreate_database(settings, DAGSTER_DB, Role.dagster)
    migrate(settings.dsn(Role.admin, direct=True, dbname=BENCH_DB), ROOT / "sql", writer_user=settings.writer_user,
            analyst_user=settings.analyst_user, backup_user=settings.backup_user)
    instance = None
    try:
        with tempfile.TemporaryDirectory(prefix="bench_celery_") as tmp:
            home = write_instance_dir(Path(tmp), dagster_db=DAGSTER_DB)
            env = dict(os.environ, DAGSTER_HOME=str(home), STOCKULA_DB_NAME=BENCH_DB,
                       STOCKULA_SYNTHETIC_UNIVERSE_SIZE=str(args.symbols), STOCKULA_EXECUTOR="multiprocess")
            env.pop("STOCKULA_HISTORY_START", None)
            instance = dg.DagsterInstance.from_config(str(home))
            materialize(env, "--select", "market/stocks")
            results: dict[str, dict] = {}
            celery_env = dict(env, STOCKULA_EXECUTOR="celery")
            spawn = home / "spawn.yaml"
            spawn.write_text(yaml.safe_dump({"execution": {"config": {"multiprocess": {"start_method": {
                "spawn": {}}}}}}))
            runs = (("multiprocess", env, ()), ("celery_2_workers", celery_env, ()),
                    ("multiprocess_spawn", env, ("--config", str(spawn))))
            with LocalWorkers(2, celery_env, home / "worker-logs", prefix="bench-worker"):
                for label, run_env, extra in runs:
                    with psycopg.connect(settings.dsn(Role.admin, direct=True, dbname=BENCH_DB), autocommit=True) as c:
                        c.execute(sql.SQL("TRUNCATE {}").format(
                            sql.SQL(", ").join(sql.Identifier("market", t) for t in TABLES)))
                    started = time.monotonic()
                    materialize(run_env, "--select", SELECTION, "--partition-range", args.partition_range, *extra)
                    command_wall = time.monotonic() - started
                    (run,) = instance.get_runs(limit=1)
                    with psycopg.connect(settings.dsn(Role.writer, dbname=BENCH_DB), prepare_threshold=None) as c:
                        digests = {t: table_digest(c, "market", t) for t in TABLES}
                    results[label] = {"wall": run_wall(instance, run.run_id), "command": command_wall,
                                      "digests": digests, "status": run.status}
        mp, ce, sp = results["multiprocess"], results["celery_2_workers"], results["multiprocess_spawn"]
        rows = sum(count for count, _ in mp["digests"].values())
        print(f"celery_bench_symbols: {args.symbols}")
        print(f"celery_bench_partition_range: {args.partition_range}")
        print(f"celery_bench_rows_loaded: {rows}")
        print(f"multiprocess_wall_s: {mp['wall']:.1f}")
        print(f"celery_2_workers_wall_s: {ce['wall']:.1f}")
        print(f"multiprocess_command_wall_s: {mp['command']:.1f}")
        print(f"celery_2_workers_command_wall_s: {ce['command']:.1f}")
        print(f"celery_2_workers_vs_multiprocess_ratio: {mp['wall'] / ce['wall']:.2f}  "
              "(multiprocess wall / Celery wall; above 1 = Celery faster)")
        # Dagster's stock start method starts every step in a fresh interpreter that imports the code
        # location; the project's default forkserver and the Celery workers pay that once. This pair shows
        # what the warm start is worth apart from the two workers.
        print(f"multiprocess_spawn_wall_s: {sp['wall']:.1f}")
        print(f"celery_2_workers_vs_multiprocess_spawn_ratio: {sp['wall'] / ce['wall']:.2f}  "
              "(multiprocess with Dagster's stock spawn / Celery; above 1 = Celery faster)")
        print(f"celery_rows_equal_multiprocess: {int(mp['digests'] == ce['digests'] == sp['digests'])}")
        ok = all(r["status"] == dg.DagsterRunStatus.SUCCESS for r in results.values())
        print(f"celery_bench_runs_succeeded: {int(ok)}")
    finally:
        if instance is not None:
            instance.dispose()
        with psycopg.connect(settings.dsn(Role.admin, direct=True, dbname="postgres"), autocommit=True) as conn:
            for name in (BENCH_DB, DAGSTER_DB):
                conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
