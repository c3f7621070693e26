"""`stockula materialize`: `dagster asset materialize` with an exit code CI can trust.

    stockula materialize --select market/price_history --partition 2024-11-29
    stockula materialize --select 'market/price_history+' --partition-range 2024-11-25...2024-11-29

Same selection syntax and partition flags as ``dagster asset materialize -m stockula_pipelines.definitions``,
and the run is recorded in the instance of ``DAGSTER_HOME`` the same way. The difference is the exit code:
Dagster's command exits 0 when a non-blocking check fails (only a blocking one fails the run), although the
rows it judged stay in the table. Here:

    0  the run succeeded and no ERROR-severity check failed (failed WARN checks are printed, not fatal)
    1  the run failed, or any ERROR-severity check failed, blocking or not
    2  the command line or the selection is wrong
"""

from __future__ import annotations

import argparse
import sys
import time

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def register(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("materialize", help="materialize a selection; non-zero exit on any failed ERROR check")
    cmd.add_argument("--select", required=True,
                     help="asset selection, as for `dagster asset materialize --select` (e.g. 'market/price_history+')")
    where = cmd.add_mutually_exclusive_group()
    where.add_argument("--partition", help="one partition key")
    where.add_argument("--partition-range", help="FIRST...LAST partition keys, run as one run")
    cmd.set_defaults(func=cmd_materialize)


def failed_checks(result) -> tuple[list[str], list[str]]:
    """(ERROR, WARN) check names that failed in ``result``, each named once as asset:check."""
    import dagster as dg

    errors: set[str] = set()
    warnings: set[str] = set()
    for event in result.all_events:
        if event.event_type != dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            continue
        data = event.asset_check_evaluation_data
        if data.passed:
            continue
        name = f"{data.asset_key.to_user_string()}:{data.check_name}"
        (errors if data.severity == dg.AssetCheckSeverity.ERROR else warnings).add(name)
    return sorted(errors), sorted(warnings)


def _resolve(defs, select: str):
    import dagster as dg

    # The selected assets' checks run with them, as with `dagster asset materialize`.
    return sorted(dg.AssetSelection.from_string(select).resolve(defs.resolve_asset_graph()))


def cmd_materialize(args: argparse.Namespace) -> int:
    from stockula_pipelines.cli.demo import QUIET, _instance, print_failures
    from stockula_pipelines.definitions import defs

    try:
        keys = _resolve(defs, args.select)
    except Exception as exc:  # Dagster raises several types for a bad selection string
        print(f"stockula materialize: bad selection {args.select!r}: {exc}", file=sys.stderr)
        return 2
    if not keys:
        print(f"stockula materialize: {args.select!r} selects no asset", file=sys.stderr)
        return 2
    job = defs.resolve_implicit_global_asset_job_def()
    tags: dict[str, str] = {"stockula/materialize": "cli"}
    partition_key = None
    if args.partition_range:
        first, sep, last = args.partition_range.partition("...")
        if not sep or not first or not last:
            print("stockula materialize: --partition-range takes FIRST...LAST", file=sys.stderr)
            return 2
        tags.update({RANGE_START_TAG: first, RANGE_END_TAG: last})
    else:
        partition_key = args.partition

    started = time.monotonic()
    print(f"stockula materialize: {len(keys)} asset(s)"
          + (f", partition {partition_key}" if partition_key else "")
          + (f", partitions {args.partition_range}" if args.partition_range else ""), flush=True)
    try:
        result = job.execute_in_process(
            run_config=QUIET, asset_selection=keys, instance=_instance(),
            partition_key=partition_key, tags=tags, raise_on_error=False,
        )
    except Exception as exc:  # an unknown partition key is refused before the run starts
        print(f"stockula materialize: {exc}", file=sys.stderr)
        return 2
    errors, warnings = failed_checks(result)
    print(f"      {'ok' if result.success else 'FAILED'} in {time.monotonic() - started:.1f}s (run {result.run_id})",
          flush=True)
    for name in warnings:
        print(f"      WARN check failed: {name}", flush=True)
    for name in errors:
        print(f"      ERROR check failed: {name}", file=sys.stderr, flush=True)
    if not result.success:
        print_failures(result)
        return 1
    return 1 if errors else 0
