"""Asset checks of every ingestion asset: its great-expectations suite plus, for bars, the calendar check.

One ``multi_asset_check`` per asset runs the suite once per window (on the engine
``STOCKULA_QUALITY_ENGINE`` names: compiled SQL by default) and yields every named check from
it. The checks share the asset's partitions definition (Dagster 1.13 supports partitioned checks), so
each run checks exactly the window it loaded: one partition, or every day of a range run. Run without
a partition (e.g. from the UI), a check validates the window of the latest load in ``ops.ingest_log``.
Every result is also written to ``quality.data_quality_results``.

Dagster files the result of a range run under no partition, which the UI shows as "Skipped" for each
partition; so a range of up to :data:`MAX_PARTITION_EVALUATIONS` partitions also records one
evaluation per partition (each day re-checked on its own when the range failed, so a failure lands on
the days that caused it). Longer backfills keep the one range result: thousands of events per check
would cost more than the load.
"""


import time
from collections.abc import Callable, Iterator

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (  # not exported by dagster
    AssetCheckEvaluationTargetMaterializationData,
)

from stockula_pipelines.defs.quality.results import check_spec, partition_evaluation, to_check_result
from stockula_pipelines.lib.quality import ingestion
from stockula_pipelines.lib.quality.results import CheckOutcome, CheckSpec
from stockula_pipelines.lib.quality.suites import MISSING_DAYS, SOURCE_COVERAGE, TABLE_CHECKS
from stockula_pipelines.partitions import (
    corporate_action_partitions,
    daily_partitions,
    intraday_partitions,
    partition_window,
)
from stockula_pipelines.resources.timescale import TimescaleResource
from stockula_pipelines.settings import get_settings

MAX_PARTITION_EVALUATIONS = 100
NOTHING_LOADED = "nothing loaded yet: no ops.ingest_log row for this asset"


def _window(context, timescale: TimescaleResource, table: str, interval: str | None):
    """(window, partition label) the check validates, or None when nothing was ever loaded."""
    op = context.op_execution_context
    if op.has_partition_key:
        return partition_window(op.partition_key), op.partition_key
    if op.has_partition_key_range:
        keys = list(op.partition_keys)
        return (partition_window(keys[0])[0], partition_window(keys[-1])[1]), f"{keys[0]}...{keys[-1]}"
    with timescale.connection() as conn:
        return ingestion.latest_ingest_window(conn, table, interval)


def _log_partition_evaluations(context, key: dg.AssetKey, results: list[CheckOutcome], recheck) -> None:
    """One evaluation per partition of a range run (see the module docstring)."""
    op = context.op_execution_context
    if op.has_partition_key or not op.has_partition_key_range:
        return
    keys = list(op.partition_keys)
    if len(keys) > MAX_PARTITION_EVALUATIONS:
        context.log.info(f"{key.to_user_string()}: {len(keys)} partitions checked as one range "
                         f"(per-partition results only up to {MAX_PARTITION_EVALUATIONS})")
        return
    failed = any(not r.passed for r in results)
    targets = _latest_materializations(context, key, keys)
    checked_in = "this partition" if failed else f"range run {keys[0]}...{keys[-1]}"
    for partition in keys:
        per_day = recheck(partition_window(partition), partition) if failed else results
        for r in per_day:
            op.log_event(partition_evaluation(r, partition, checked_in, targets.get(partition)))


def _latest_materializations(context, key: dg.AssetKey,
                             partitions: list[str]) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """partition -> its latest materialisation. Dagster counts a partition's check result as current
    only when it names the materialisation it judged; without it the UI shows the partition unchecked."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=partitions), limit=len(partitions) * 2).records
    latest: dict[str, AssetCheckEvaluationTargetMaterializationData] = {}
    for record in records:  # newest first
        partition = record.event_log_entry.dagster_event.partition
        if partition not in latest:
            latest[partition] = AssetCheckEvaluationTargetMaterializationData(
                storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp)
    return latest


def _nothing_loaded(key: dg.AssetKey, checks: tuple[CheckSpec, ...]) -> Iterator[dg.AssetCheckResult]:
    for c in checks:
        yield to_check_result(CheckOutcome(asset_key=key.to_user_string(), check_name=c.name, severity="WARN",
                                           blocking=c.blocking, passed=True, shown={"note": NOTHING_LOADED}))


def _suite_checks(key: dg.AssetKey, table: str, checks: tuple[CheckSpec, ...], partitions_def,
                  interval: Callable[[], str | None]) -> dg.AssetChecksDefinition:
    """Every check of ``table`` on ``key`` as one multi-asset check; ``interval()`` is read at run time
    (the bars' interval, None for the other tables). Reference data (stocks) has no window."""
    windowed = table != "stocks"

    @dg.multi_asset_check(
        name=f"{'_'.join(key.path)}_quality",
        specs=[check_spec(key, c, partitions_def=partitions_def) for c in checks], can_subset=False,
    )
    def _check(context: dg.AssetCheckExecutionContext, timescale: TimescaleResource) -> Iterator[dg.AssetCheckResult]:
        every = interval()
        found = _window(context, timescale, table, every) if windowed else (None, None)
        if found is None:
            yield from _nothing_loaded(key, checks)
            return
        window, partition_key = found

        def run(window, partition_key, record=True):
            with timescale.connection() as conn:
                return ingestion.run_table_checks(
                    conn, timescale.resolved_dsn(), table, window, asset_key=key.to_user_string(), interval=every,
                    partition_key=partition_key, run_id=context.op_execution_context.run_id,
                    exchange=get_settings().exchange, record=record)

        started = time.perf_counter()
        results = run(window, partition_key)
        if windowed:
            _log_partition_evaluations(context, key, results, lambda w, p: run(w, p, record=False))
        # The suite's own time (every check of the asset, evaluated together), for tuning and the bench.
        timing = {"suite_seconds": round(time.perf_counter() - started, 4)}
        for r in results:
            yield to_check_result(r, timing)

    return _check


def price_checks(key: dg.AssetKey, *, intraday: bool) -> dg.AssetChecksDefinition:
    """The bars' suite, the trading-day calendar and the source coverage on ``key``."""
    return _suite_checks(key, "price_history", (*TABLE_CHECKS["price_history"], MISSING_DAYS, SOURCE_COVERAGE),
                         intraday_partitions if intraday else daily_partitions,
                         lambda: get_settings().intraday_interval if intraday else "1d")


def table_checks(key: dg.AssetKey, table: str, *, partitions_def=daily_partitions) -> dg.AssetChecksDefinition:
    """The table's suite on ``key``; ``partitions_def`` must be the asset's own (None: unpartitioned)."""
    checks = TABLE_CHECKS[table] if table == "stocks" else (*TABLE_CHECKS[table], SOURCE_COVERAGE)
    return _suite_checks(key, table, checks, partitions_def, lambda: None)


def ingestion_checks() -> list[dg.AssetChecksDefinition]:
    return [
        table_checks(dg.AssetKey(["market", "stocks"]), "stocks", partitions_def=None),
        price_checks(dg.AssetKey(["market", "price_history"]), intraday=False),
        price_checks(dg.AssetKey(["market", "price_history_intraday"]), intraday=True),
        table_checks(dg.AssetKey(["market", "options_calls"]), "options_calls"),
        table_checks(dg.AssetKey(["market", "options_puts"]), "options_puts"),
        table_checks(dg.AssetKey(["market", "dividends"]), "dividends", partitions_def=corporate_action_partitions),
        table_checks(dg.AssetKey(["market", "splits"]), "splits", partitions_def=corporate_action_partitions),
    ]
