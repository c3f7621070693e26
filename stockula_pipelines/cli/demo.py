"""`stockula demo`: load a recent window from the synthetic source through the real Dagster assets.

Each step is one Dagster run recorded in the instance (so it shows in the UI): reference data, the
daily bars and corporate actions since the partitions' start as single-run backfills, option chains
for the last sessions, intraday bars for the last sessions, then every unpartitioned asset downstream
(derived metrics, aggregates, curated models, quality checks).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime

RANGE_START_TAG = "dagster/asset_partition_range_start"
# The console shows INFO and above: Dagster's DEBUG events (one per step output and check) are in the
# run's event log in the UI, not worth hundreds of terminal lines.
QUIET = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
RANGE_END_TAG = "dagster/asset_partition_range_end"


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="load a recent window of synthetic market data through the assets")
    demo.add_argument("--option-days", type=int, default=3, help="sessions of option chains (default 3)")
    demo.add_argument("--intraday-days", type=int, default=2, help="sessions of intraday bars (default 2)")
    demo.add_argument("--daily-days", type=int, default=None,
                      help="sessions of daily bars (default STOCKULA_DEMO_TRADING_DAYS)")
    # The browser tests load their data through the demo but need no backup of the whole cluster.
    demo.add_argument("--no-backup", action="store_true", help="skip the closing backup and restore drill")
    demo.set_defaults(func=cmd_demo)


def checks_line(result) -> str:
    """", failed checks: a, b" for the checks that failed in ``result`` (each named once), or ""."""
    import dagster as dg

    failed = sorted({e.asset_check_evaluation_data.check_name for e in result.all_events
                     if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
                     and not e.asset_check_evaluation_data.passed})
    return f", failed checks: {', '.join(failed)}" if failed else ""


def print_failures(result) -> None:
    for event in result.all_events:
        if event.is_failure:
            print(f"      {event.message}", file=sys.stderr)


def _instance():
    import dagster as dg

    home = os.environ.get("DAGSTER_HOME")
    if home and os.path.exists(os.path.join(home, "dagster.yaml")):
        return dg.DagsterInstance.get()
    return dg.DagsterInstance.ephemeral()


def cmd_demo(args: argparse.Namespace) -> int:
    os.environ.setdefault("STOCKULA_SOURCE", "synthetic")
    from stockula_pipelines.settings import reload_settings

    settings = reload_settings()
    if settings.source != "synthetic":
        print(f"stockula demo: runs on the synthetic source (STOCKULA_SOURCE={settings.source})", file=sys.stderr)
        return 2
    import dagster as dg

    from stockula_pipelines.definitions import defs
    from stockula_pipelines.lib.calendar import get_calendar
    from stockula_pipelines.partitions import (
        corporate_action_partitions,
        daily_partitions,
        intraday_partitions,
    )

    cal = get_calendar(settings.exchange)
    last = cal.last_completed_session(datetime.now(UTC))
    daily_keys = daily_partitions.get_partition_keys()
    daily_keys = [k for k in daily_keys if k <= last.isoformat()][-(args.daily_days or settings.demo_trading_days):]
    if not daily_keys:
        print("stockula demo: no trading day to load in the partitions' range", file=sys.stderr)
        return 2
    # Corporate actions from the first bar's month on: a bar's adjustment depends only on the actions
    # after it, so earlier months (back to STOCKULA_HISTORY_START) would change nothing the demo shows.
    months = [k for k in corporate_action_partitions.get_partition_keys()
              if daily_keys[0][:7] <= k <= last.isoformat()[:7]]
    recent = daily_keys[-max(args.option_days, args.intraday_days):]
    intraday_days = set(recent[-args.intraday_days:])
    intraday_keys = [k for k in intraday_partitions.get_partition_keys() if k[:10] in intraday_days]

    job = defs.resolve_implicit_global_asset_job_def()
    instance = _instance()
    all_keys = {k for k in job.asset_layer.executable_asset_keys}
    partitioned = {
        dg.AssetKey(["market", "price_history"]), dg.AssetKey(["market", "price_history_intraday"]),
        dg.AssetKey(["market", "options_calls"]), dg.AssetKey(["market", "options_puts"]),
        dg.AssetKey(["market", "dividends"]), dg.AssetKey(["market", "splits"]),
    }
    steps = [
        ("reference data", [dg.AssetKey(["market", "stocks"])], {}),
        (f"corporate actions {months[0]}..{months[-1]}",
         [dg.AssetKey(["market", "dividends"]), dg.AssetKey(["market", "splits"])],
         {RANGE_START_TAG: months[0], RANGE_END_TAG: months[-1]}),
        (f"daily bars {daily_keys[0]}..{daily_keys[-1]}", [dg.AssetKey(["market", "price_history"])],
         {RANGE_START_TAG: daily_keys[0], RANGE_END_TAG: daily_keys[-1]}),
        (f"option chains {recent[-args.option_days]}..{recent[-1]}",
         [dg.AssetKey(["market", "options_calls"]), dg.AssetKey(["market", "options_puts"])],
         {RANGE_START_TAG: recent[-args.option_days], RANGE_END_TAG: recent[-1]}),
        (f"intraday bars {intraday_keys[0]}..{intraday_keys[-1]}",
         [dg.AssetKey(["market", "price_history_intraday"])],
         {RANGE_START_TAG: intraday_keys[0], RANGE_END_TAG: intraday_keys[-1]}),
        ("derived metrics, aggregates, curated models, checks", sorted(all_keys - partitioned), {}),
    ]
    print(f"stockula demo: {len(steps)} runs on the synthetic source (seed {settings.synthetic_seed}), "
          f"instance: {'persistent (DAGSTER_HOME)' if not instance.is_ephemeral else 'ephemeral'}")
    for n, (label, keys, tags) in enumerate(steps, 1):
        started = time.monotonic()
        print(f"[{n}/{len(steps)}] {label} ...", flush=True)
        result = job.execute_in_process(
            run_config=QUIET,
            asset_selection=keys, instance=instance, tags={"stockula/source": "synthetic", **tags},
            raise_on_error=False,
        )
        # A ranged run records one materialization per partition with the run's counts: count once.
        per_asset: dict[dg.AssetKey, int] = {}
        for event in result.get_asset_materialization_events():
            meta = event.materialization.metadata
            value = meta.get("rows_in_run") or meta.get("dagster/row_count")
            per_asset[event.asset_key] = int(value.value) if value is not None else 0
        rows = sum(per_asset.values())
        status = "ok" if result.success else "FAILED"
        print(f"      {status} in {time.monotonic() - started:.1f}s: {len(keys)} asset(s), {rows:,} row(s)"
              + checks_line(result), flush=True)
        if not result.success:
            print_failures(result)
            return 1
    _print_summary(settings)
    return 0 if args.no_backup else _verified_backup(settings)


def _verified_backup(settings) -> int:
    """Leave the demo with a backup that has passed a restore drill (the Operations section of the README)."""
    from stockula_pipelines.lib.backup import physical
    from stockula_pipelines.lib.backup.catalog import Target
    from stockula_pipelines.lib.backup.drill import run_drill
    from stockula_pipelines.lib.backup.errors import BackupError

    target = Target.default(settings)
    try:
        record = physical.run_physical(target, "incr", log=lambda m: print(f"      {m}", flush=True))
        drill = run_drill(target, record.backup_id, log=lambda m: print(f"      {m}", flush=True))
    except BackupError as exc:
        print(f"stockula demo: backup or drill failed: {exc}", file=sys.stderr)
        return 1
    print(f"backup: {record.backup_id} ({record.kind}) verified by a restore drill in {drill.seconds:.1f}s "
          "(`stockula backup list`)")
    return 0


def _print_summary(settings) -> None:
    import psycopg

    from stockula_pipelines.settings import Role

    queries = [
        ("market.stocks", "SELECT count(*), NULL::timestamptz, NULL::timestamptz FROM market.stocks"),
        ("market.price_history (1d)",
         "SELECT count(*), min(time), max(time) FROM market.price_history WHERE interval = '1d'"),
        ("market.price_history (intraday)",
         "SELECT count(*), min(time), max(time) FROM market.price_history WHERE interval <> '1d'"),
        ("market.options_calls", "SELECT count(*), min(time), max(time) FROM market.options_calls"),
        ("market.options_puts", "SELECT count(*), min(time), max(time) FROM market.options_puts"),
        ("market.dividends", "SELECT count(*), min(time), max(time) FROM market.dividends"),
        ("market.splits", "SELECT count(*), min(time), max(time) FROM market.splits"),
        ("analytics.strategies", "SELECT count(*), min(created_at), max(updated_at) FROM analytics.strategies"),
        ("analytics.strategy_performance",
         "SELECT count(*), min(time), max(time) FROM analytics.strategy_performance"),
        ("quality.quarantine (open)", "SELECT count(*), min(time), max(time) FROM quality.quarantine WHERE resolved_at IS NULL"),
    ]
    print("\nloaded:")
    print(f"  {'table':34} {'rows':>10}  {'from':25} {'to':25}")
    with psycopg.connect(settings.dsn(Role.writer), prepare_threshold=None) as conn:
        for label, query in queries:
            count, lo, hi = conn.execute(query).fetchone()
            print(f"  {label:34} {count:>10,}  {lo.isoformat() if lo else '-':25} {hi.isoformat() if hi else '-':25}")
    print(
        "\nopen the Dagster UI: make ui   (http://127.0.0.1:"
        f"{settings.dagster_webserver_port}; runs, lineage and checks of this demo are there)\n"
        "query as an analyst: psql \"$(.venv/bin/stockula db url --role analyst)\""
    )
