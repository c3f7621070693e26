"""The one translation of the package's checks into Dagster's: specs, results, partition evaluations.

Every asset check of the code location is declared from a ``lib.quality.CheckSpec`` (:func:`check_spec`,
:func:`spec_metadata`) and reports its ``lib.quality.CheckOutcome`` objects through :func:`to_check_result`,
the only constructor of ``dg.AssetCheckResult`` in the package.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (  # not exported by dagster
    AssetCheckEvaluationTargetMaterializationData,
)

from stockula_pipelines.lib.quality.results import CheckOutcome, CheckSpec, Markdown


def severity(outcome: CheckOutcome) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.ERROR if outcome.severity == "ERROR" else dg.AssetCheckSeverity.WARN


def spec_metadata(spec: CheckSpec) -> dict[str, str]:
    """What the check's definition shows: its severity (Dagster's spec has no field for it) and any
    entries of the spec's own."""
    return {"severity": spec.severity, **spec.metadata}


def check_spec(key: dg.AssetKey, spec: CheckSpec, *, partitions_def=None) -> dg.AssetCheckSpec:
    """``spec`` on the asset ``key``; ``partitions_def`` must be the asset's own (None: unpartitioned)."""
    return dg.AssetCheckSpec(spec.name, asset=key, blocking=spec.blocking, description=spec.description,
                             partitions_def=partitions_def, metadata=spec_metadata(spec))


def _value(value: Any) -> dg.MetadataValue:
    if isinstance(value, dg.MetadataValue):
        return value
    if isinstance(value, Markdown):
        return dg.MetadataValue.md(str(value))
    if isinstance(value, bool):
        return dg.MetadataValue.bool(value)
    if isinstance(value, int):
        return dg.MetadataValue.int(value)
    if isinstance(value, float):
        return dg.MetadataValue.float(value)
    if isinstance(value, str):
        return dg.MetadataValue.text(value)
    if isinstance(value, Mapping | list):
        return dg.MetadataValue.json(value)
    raise TypeError(f"no Dagster metadata type for {type(value).__name__}: {value!r}")


def to_metadata(entries: Mapping[str, Any]) -> dict[str, dg.MetadataValue]:
    return {name: _value(value) for name, value in entries.items()}


def to_check_result(outcome: CheckOutcome, extra: Mapping[str, Any] | None = None) -> dg.AssetCheckResult:
    """The Dagster result of one check evaluation (``extra``: metadata of the run, e.g. its timing)."""
    return dg.AssetCheckResult(
        asset_key=dg.AssetKey(outcome.asset_key.split("/")), check_name=outcome.check_name, passed=outcome.passed,
        severity=severity(outcome), metadata=to_metadata({**outcome.metadata, **(extra or {})}),
        description=outcome.summary,
    )


def partition_evaluation(outcome: CheckOutcome, partition: str, checked_in: str,
                         target: AssetCheckEvaluationTargetMaterializationData | None) -> dg.AssetCheckEvaluation:
    """The evaluation of one partition of a range run, logged beside the range's result: Dagster files
    the range result under no partition, so only these let the UI show each partition's state.
    ``target`` is the partition's materialisation the evaluation judged."""
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(outcome.asset_key.split("/")), check_name=outcome.check_name, passed=outcome.passed,
        partition=partition, target_materialization_data=target, severity=severity(outcome),
        metadata=to_metadata({"failing_count": int(outcome.failing_count), "checked_in": checked_in}),
        description=outcome.summary,
    )
