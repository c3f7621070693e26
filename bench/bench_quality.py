"""Suite time of a window vs the load time of the same window (same data, one run).

Creates (or recreates) a scratch database ``STOCKULA_BENCH_DB`` (default ``stockula_bench_quality``) and
materialises the real ingestion assets with their quality checks, partition by partition, as the
nightly and intraday schedules do, on the synthetic source (``STOCKULA_BENCH_SYMBOLS`` symbols, 50 by
default: the demo's universe). For each window it reads

* the load time: the ingestion asset's step in that run (fetch, row validation and quarantine, COPY,
  ingest log) from Dagster's step statistics, and the loader's own COPY-transaction time;
* the suite time: ``suite_seconds`` the check recorded in ``quality.data_quality_results``.

``quality_vs_load_time_ratio`` is the largest suite/step ratio over the daily, intraday and options
windows (the issue's target: < 0.1). The ``*_vs_copy_ratio`` lines compare the suite with the bare COPY
transaction instead, and ``ge_engine_*`` lines time great-expectations' own validator on the same
windows, for comparison. Prints ``name: value`` lines.
"""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path

import dagster as dg
import psycopg
from psycopg import sql

from stockula_pipelines.defs.market_data.assets import price_history, price_history_intraday, stocks
from stockula_pipelines.defs.options.assets import option_chains
from stockula_pipelines.defs.quality.checks import ingestion_checks
from stockula_pipelines.lib.calendar import trading_days
from stockula_pipelines.lib.db.migrate import migrate
from stockula_pipelines.lib.quality.engines import validate_window
from stockula_pipelines.partitions import partition_window
from stockula_pipelines.resources.market_data import MarketDataResource
from stockula_pipelines.resources.timescale import TimescaleResource
from stockula_pipelines.settings import Role, get_settings

PROJECT = Path(__file__).resolve().parents[1]
ASSETS = [stocks, price_history, price_history_intraday, option_chains]
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}  # the name: value lines stay readable


def fresh_database(name: str) -> None:
    settings = get_settings()
    with psycopg.connect(settings.dsn(Role.admin, direct=True, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name),
                                                                   sql.Identifier(settings.admin_user)))
    migrate(settings.dsn(Role.admin, direct=True, dbname=name), PROJECT / "sql", writer_user=settings.writer_user,
            analyst_user=settings.analyst_user, backup_user=settings.backup_user)


def step_seconds(instance: dg.DagsterInstance, run_id: str, step_key: str) -> float:
    stats = {s.step_key: s for s in instance.get_run_step_stats(run_id)}
    s = stats[step_key]
    return float(s.end_time - s.start_time)


def main() -> None:
    name = os.environ.get("STOCKULA_BENCH_DB", "stockula_bench_quality")
    symbols = int(os.environ.get("STOCKULA_BENCH_SYMBOLS", "50"))
    fresh_database(name)
    dsn = get_settings().dsn(Role.writer, dbname=name)
    resources = {"timescale": TimescaleResource(dsn=dsn),
                 "market_data": MarketDataResource(source="synthetic", seed=42, universe_size=symbols, use_cache=False)}
    checks = ingestion_checks()
    instance = dg.DagsterInstance.ephemeral()

    def run(selection: list[str], partition: str | None = None, with_checks: bool = True) -> dg.ExecuteInProcessResult:
        chosen = dg.AssetSelection.assets(*[dg.AssetKey.from_user_string(s) for s in selection])
        if not with_checks:
            chosen = chosen.without_checks()
        return dg.materialize([*ASSETS, *checks], selection=chosen, partition_key=partition,
                              resources=resources, instance=instance, run_config=QUIET)

    run(["market/stocks"], with_checks=False)
    days = trading_days(date(2024, 2, 1), date(2024, 3, 8))
    for d in days[:-1]:  # history, so the jump and gap checks have previous bars to look at
        run(["market/price_history"], d.isoformat(), with_checks=False)
    day = days[-1].isoformat()
    print(f"symbols: {symbols}")

    # (label, assets of the step, partition, the step's key, tables the suites validate, interval)
    cases = [("daily", ["market/price_history"], day, "market__price_history", ["price_history"], "1d"),
             ("intraday", ["market/price_history_intraday"], f"{day}-10:30", "market__price_history_intraday",
              ["price_history"], get_settings().intraday_interval),
             ("options", ["market/options_calls", "market/options_puts"], day, "option_chains",
              ["options_calls", "options_puts"], None)]
    ratios = {}
    with psycopg.connect(dsn, prepare_threshold=None, autocommit=True) as conn:
        for label, selection, partition, step, tables, interval in cases:
            run(selection, partition)  # warm: first use of this suite and this asset in the process
            result = run(selection, partition)
            load_s = step_seconds(instance, result.run_id, step)
            # One suite per asset of the step (options: calls and puts); the checks of an asset share it.
            per_asset = conn.execute(
                "SELECT asset_key, max((details->>'suite_seconds')::float8), bool_and(passed) "
                "FROM quality.data_quality_results WHERE run_id = %s AND asset_key = ANY(%s) "
                "AND details ? 'suite_seconds' GROUP BY asset_key", (result.run_id, selection)).fetchall()
            assert len(per_asset) == len(selection), f"{label}: the checks recorded no suite time"
            assert all(ok for _, _, ok in per_asset), f"{label}: a check failed on clean synthetic data"
            suite_s = sum(seconds for _, seconds, _ in per_asset)
            rows = conn.execute("SELECT sum(rows_loaded) FROM ops.ingest_log WHERE run_id = %s",
                                (result.run_id,)).fetchone()[0]
            window = partition_window(partition)
            # The loader's own transactions (delete + COPY + ingest log) for the same rows, summed.
            copy_seconds = sum(float(e.materialization.metadata["load_seconds"].value)
                               for e in result.get_asset_materialization_events())
            ratios[label] = suite_s / load_s
            print(f"{label}_rows: {rows}")
            print(f"{label}_load_step_seconds: {load_s:.4f}")
            print(f"{label}_copy_seconds: {copy_seconds:.4f}")
            print(f"{label}_suite_seconds: {suite_s:.4f}")
            print(f"{label}_suite_vs_copy_ratio: {suite_s / copy_seconds:.3f}")
            print(f"{label}_quality_vs_load_time_ratio: {ratios[label]:.3f}")
            if os.environ.get("STOCKULA_BENCH_GE", "1") != "0":
                for t_name in tables:  # GE's import and each suite's first use
                    validate_window(conn, dsn, t_name, window, interval=interval, engine="great_expectations")
                t = time.perf_counter()
                for t_name in tables:
                    validate_window(conn, dsn, t_name, window, interval=interval, engine="great_expectations")
                ge_s = time.perf_counter() - t
                print(f"ge_engine_{label}_suite_seconds: {ge_s:.4f}")
                print(f"ge_engine_{label}_vs_load_time_ratio: {ge_s / load_s:.3f}")
    print(f"quality_vs_load_time_ratio: {max(ratios.values()):.3f}")
    print("quality_vs_load_time_ratio_target: 0.1")


if __name__ == "__main__":
    main()
