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


from collections.abc import Iterator

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (  # not exported by dagster
    AssetCheckEvaluationTargetMaterializationData,
)

from stockula_pipelines.lib.expectations.suites import MISSING_DAYS, SOURCE_COVERAGE, TABLE_CHECKS, CheckDef
from stockula_pipelines.lib.validation import quality
from stockula_pipelines.partitions import (
    corporate_action_partitions,
    daily_partitions,
    intraday_partitions,
    partition_window,
)
from stockula_pipelines.resources.timescale import TimescaleResource
from stockula_pipelines.settings import get_settings

MAX_LISTED_FAILURES = 10
MAX_PARTITION_EVALUATIONS = 100


def to_check_result(result: quality.CheckResult) -> dg.AssetCheckResult:
    severity = dg.AssetCheckSeverity.ERROR if result.severity == "ERROR" else dg.AssetCheckSeverity.WARN
    details = result.details
    metadata: dict[str, object] = {
        "failing_count": dg.MetadataValue.int(int(result.failing_count)),
        "window": dg.MetadataValue.text(
            f"{result.window[0].isoformat()} .. {result.window[1].isoformat()}" if result.window else "whole table"),
        "details": dg.MetadataValue.json(details),
    }
    if result.total_count is not None:
        metadata["total_count"] = dg.MetadataValue.int(int(result.total_count))
    if result.observed_value is not None:
        metadata["failing_rate"] = dg.MetadataValue.float(float(result.observed_value))
    failed = details.get("failed_expectations") or []
    if failed:
        lines = [f"| {f['expectation']} | {f.get('column') or ''} | {f['unexpected_count']} |"
                 for f in failed[:MAX_LISTED_FAILURES]]
        metadata["failing_expectations"] = dg.MetadataValue.md(
            "| expectation | column | unexpected |\n|---|---|---|\n" + "\n".join(lines))
    if "message" in details:
        metadata["message"] = dg.MetadataValue.text(str(details["message"]))
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey(result.asset_key.split("/")), check_name=result.check_name, passed=result.passed,
        severity=severity, metadata=metadata, description=result.summary,
    )


def _specs(key: dg.AssetKey, checks: tuple[CheckDef, ...], partitions_def) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(c.name, asset=key, blocking=c.blocking, description=c.description,
                          partitions_def=partitions_def, metadata={"severity": c.severity})
        for c in checks
    ]


def _window(context, timescale: TimescaleResource, table: str, interval: str | None):
    """(window, partition label) the check validates, or None when nothing was ever loaded."""
    op = context.op_execution_context
    if op.has_partition_key:
        return partition_window(op.partition_key), op.partition_key
    if op.has_partition_key_range:
        keys = list(op.partition_keys)
        return (partition_window(keys[0])[0], partition_window(keys[-1])[1]), f"{keys[0]}...{keys[-1]}"
    with timescale.connection() as conn:
        return quality.latest_ingest_window(conn, table, interval)


def _log_partition_evaluations(context, key: dg.AssetKey, results: list[quality.CheckResult],
                               recheck) -> None:
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
    for partition in keys:
        per_day = recheck(partition_window(partition), partition) if failed else results
        for r in per_day:
            op.log_event(dg.AssetCheckEvaluation(
                asset_key=key, check_name=r.check_name, passed=r.passed, partition=partition,
                target_materialization_data=targets.get(partition),
                severity=dg.AssetCheckSeverity.ERROR if r.severity == "ERROR" else dg.AssetCheckSeverity.WARN,
                metadata={"failing_count": dg.MetadataValue.int(int(r.failing_count)),
                          "checked_in": dg.MetadataValue.text(
                              f"range run {keys[0]}...{keys[-1]}" if not failed else "this partition")},
                description=r.summary,
            ))


def _latest_materializations(context, key: dg.AssetKey, partitions: list[str]) -> dict[str, object]:
    """partition -> its latest materialisation. Dagster counts a partition's check result as current
    only when it names the materialisation it judged; without it the UI shows the partition unchecked."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=partitions), limit=len(partitions) * 2).records
    latest: dict[str, object] = {}
    for record in records:  # newest first
        partition = record.event_log_entry.dagster_event.partition
        if partition not in latest:
            latest[partition] = AssetCheckEvaluationTargetMaterializationData(
                storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp)
    return latest


def price_checks(key: dg.AssetKey, *, intraday: bool) -> dg.AssetChecksDefinition:
    partitions_def = intraday_partitions if intraday else daily_partitions
    checks = (*TABLE_CHECKS["price_history"], MISSING_DAYS, SOURCE_COVERAGE)

    @dg.multi_asset_check(
        name=f"{'_'.join(key.path)}_quality", specs=_specs(key, checks, partitions_def), can_subset=False,
    )
    def _check(context: dg.AssetCheckExecutionContext, timescale: TimescaleResource) -> Iterator[dg.AssetCheckResult]:
        interval = get_settings().intraday_interval if intraday else "1d"
        found = _window(context, timescale, "price_history", interval)
        if found is None:
            yield from _nothing_loaded(key, checks)
            return
        window, partition_key = found

        def run(window, partition_key, record=True):
            with timescale.connection() as conn:
                return quality.run_price_checks(
                    conn, timescale.resolved_dsn(), window, asset_key=key.to_user_string(), interval=interval,
                    partition_key=partition_key, run_id=context.op_execution_context.run_id,
                    exchange=get_settings().exchange, record=record)

        results = run(window, partition_key)
        _log_partition_evaluations(context, key, results, lambda w, p: run(w, p, record=False))
        for r in results:
            yield to_check_result(r)

    return _check


def table_checks(key: dg.AssetKey, table: str, *, partitions_def=daily_partitions) -> dg.AssetChecksDefinition:
    """The table's suite on ``key``; ``partitions_def`` must be the asset's own (None: unpartitioned)."""
    checks = TABLE_CHECKS[table] if table == "stocks" else (*TABLE_CHECKS[table], SOURCE_COVERAGE)

    @dg.multi_asset_check(
        name=f"{'_'.join(key.path)}_quality", specs=_specs(key, checks, partitions_def), can_subset=False,
    )
    def _check(context: dg.AssetCheckExecutionContext, timescale: TimescaleResource) -> Iterator[dg.AssetCheckResult]:
        if table == "stocks":
            found = (None, None)
        else:
            found = _window(context, timescale, table, None)
            if found is None:
                yield from _nothing_loaded(key, checks)
                return
        window, partition_key = found

        def run(window, partition_key, record=True):
            with timescale.connection() as conn:
                return quality.run_table_checks(
                    conn, timescale.resolved_dsn(), table, window, asset_key=key.to_user_string(),
                    partition_key=partition_key, run_id=context.op_execution_context.run_id, record=record)

        results = run(window, partition_key)
        if table != "stocks":
            _log_partition_evaluations(context, key, results, lambda w, p: run(w, p, record=False))
        for r in results:
            yield to_check_result(r)

    return _check


def _nothing_loaded(key: dg.AssetKey, checks: tuple[CheckDef, ...]) -> Iterator[dg.AssetCheckResult]:
    for c in checks:
        yield dg.AssetCheckResult(
            asset_key=key, check_name=c.name, passed=True, severity=dg.AssetCheckSeverity.WARN,
            metadata={"note": dg.MetadataValue.text("nothing loaded yet: no ops.ingest_log row for this asset")},
        )


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
