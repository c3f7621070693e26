"""`stockula backfill`: load a range of partitions of the ingestion assets in one run, with checks.

    stockula backfill market/price_history --from 2000-01-03 --to 2000-12-29 [--downstream]

Dates are calendar dates: the range snaps to the trading days (or months) inside it. A range outside
the partitions is refused with one line naming the partitions' range and the setting that moves it
(``dagster asset materialize --partition-range`` answers the same request with a traceback). The run is
recorded in the Dagster instance of ``DAGSTER_HOME`` like any other, so it shows in the UI.
"""

from __future__ import annotations

import argparse
import sys
import time

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def register(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("backfill", help="load a range of partitions of one or more ingestion assets in one run")
    cmd.add_argument("assets", nargs="+", help="asset keys such as market/price_history (same partitions)")
    cmd.add_argument("--from", dest="start", required=True, help="first day (YYYY-MM-DD) or month (YYYY-MM)")
    cmd.add_argument("--to", dest="end", required=True, help="last day or month, inclusive")
    cmd.add_argument("--downstream", action="store_true",
                     help="then run every unpartitioned asset downstream (metrics, aggregates, curated models) "
                          "instead of waiting for the automation sensor")
    cmd.set_defaults(func=cmd_backfill)


def _keys_between(partitions, start: str, end: str) -> list[str]:
    """The partition keys whose own key falls in [start, end] (string order is time order)."""
    every = partitions.get_partition_keys()
    width = len(every[0]) if every else len(start)
    lo, hi = start[:width], end[:width]
    return [k for k in every if lo <= k[: len(lo)] and k[: len(hi)] <= hi]


def cmd_backfill(args: argparse.Namespace) -> int:
    import dagster as dg

    from stockula_pipelines.cli.demo import QUIET, _instance
    from stockula_pipelines.definitions import defs
    from stockula_pipelines.partitions import PartitionRangeError, check_keys_in_range

    job = defs.resolve_implicit_global_asset_job_def()
    keys = [dg.AssetKey.from_user_string(a) for a in args.assets]
    unknown = [k.to_user_string() for k in keys if k not in job.asset_layer.executable_asset_keys]
    if unknown:
        print(f"stockula backfill: unknown asset(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    partition_defs = {job.asset_layer.get(k).partitions_def for k in keys}
    if len(partition_defs) != 1 or None in partition_defs:
        print("stockula backfill: the assets must share one partitions definition (run them separately)",
              file=sys.stderr)
        return 2
    partitions = partition_defs.pop()
    width = len(partitions.get_first_partition_key() or "")
    what = "intraday" if width > 10 else "monthly" if width == 7 else "daily"
    first, last = partitions.get_first_partition_key(), partitions.get_last_partition_key()
    try:
        for bound in (args.start, args.end):
            if bound < first[: len(bound)] or bound[: len(last)] > last:
                check_keys_in_range(partitions, [bound], what=what)
        selected = _keys_between(partitions, args.start, args.end)
        if not selected:
            raise PartitionRangeError(f"no {what} partition between {args.start} and {args.end} "
                                      f"(the {what} partitions run {first}..{last})")
    except PartitionRangeError as exc:
        print(f"stockula backfill: {exc}", file=sys.stderr)
        return 2

    instance = _instance()
    started = time.monotonic()
    print(f"stockula backfill: {', '.join(args.assets)}: {len(selected)} {what} partition(s) "
          f"{selected[0]}..{selected[-1]} in one run", flush=True)
    result = job.execute_in_process(
        run_config=QUIET, asset_selection=keys, instance=instance, raise_on_error=False,
        tags={RANGE_START_TAG: selected[0], RANGE_END_TAG: selected[-1], "stockula/backfill": "cli"},
    )
    status = _report(result, started)
    if status or not args.downstream:
        return status
    below = dg.AssetSelection.assets(*keys).downstream(include_self=False).resolve(defs.resolve_asset_graph())
    downstream = sorted(k for k in below if k in job.asset_layer.executable_asset_keys
                        and job.asset_layer.get(k).partitions_def is None)
    print(f"stockula backfill: {len(downstream)} downstream asset(s)", flush=True)
    started = time.monotonic()
    return _report(job.execute_in_process(run_config=QUIET, asset_selection=downstream, instance=instance,
                                          raise_on_error=False),
                   started)


def _report(result, started: float) -> int:
    from stockula_pipelines.cli.demo import checks_line, print_failures

    print(f"      {'ok' if result.success else 'FAILED'} in {time.monotonic() - started:.1f}s (run {result.run_id})"
          + checks_line(result), flush=True)
    if not result.success:
        print_failures(result)
        return 1
    return 0
