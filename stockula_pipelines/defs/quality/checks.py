"""Asset checks of every ingestion asset: its great-expectations suite plus, for bars, the calendar check.

One ``multi_asset_check`` per asset runs the suite once per window (on the engine
``STOCKULA_QUALITY_ENGINE`` names: compiled SQL by default) and yields every named check from
it. The checks share the asset's partitions definition (Dagster 1.13 supports partitioned checks), so
each run checks exactly the window it loaded; run without a partition (e.g. from the UI), a check
validates the window of the latest load in ``ops.ingest_log``. Every result is also written to
``quality.data_quality_results``.
"""


from collections.abc import Iterator

import dagster as dg

from stockula_pipelines.lib.expectations.suites import MISSING_DAYS, TABLE_CHECKS, CheckDef
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
    """(window, partition_key) the check validates, or None when nothing was ever loaded."""
    if context.has_partition_key:
        key = context.partition_key
        return partition_window(key), key
    with timescale.connection() as conn:
        return quality.latest_ingest_window(conn, table, interval)


def price_checks(key: dg.AssetKey, *, intraday: bool) -> dg.AssetChecksDefinition:
    partitions_def = intraday_partitions if intraday else daily_partitions
    checks = (*TABLE_CHECKS["price_history"], MISSING_DAYS)

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
        with timescale.connection() as conn:
            results = quality.run_price_checks(
                conn, timescale.resolved_dsn(), window, asset_key=key.to_user_string(), interval=interval,
                partition_key=partition_key, run_id=context.op_execution_context.run_id, exchange=get_settings().exchange,
            )
        for r in results:
            yield to_check_result(r)

    return _check


def table_checks(key: dg.AssetKey, table: str, *, partitions_def=daily_partitions) -> dg.AssetChecksDefinition:
    """The table's suite on ``key``; ``partitions_def`` must be the asset's own (None: unpartitioned)."""
    checks = TABLE_CHECKS[table]

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
        with timescale.connection() as conn:
            results = quality.run_table_checks(
                conn, timescale.resolved_dsn(), table, window, asset_key=key.to_user_string(),
                partition_key=partition_key, run_id=context.op_execution_context.run_id,
            )
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
