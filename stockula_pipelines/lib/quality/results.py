"""The one check definition and the one check result of the package, and the history they land in.

Every Dagster asset check of the project is a :class:`CheckSpec` (its name, severity, whether it
blocks what is downstream, what it checks), and every evaluation of one is a :class:`CheckOutcome`:
the ingestion suites and the calendar, source-coverage and freshness checks, the checks of derived
tables and backtests, and the curated models' ``.yml`` tests alike. ``defs/quality/results.py``
turns specs and outcomes into Dagster's types (the only place that does); :func:`record_results`
appends outcomes to ``quality.data_quality_results``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from stockula_pipelines.lib.db.sqlfiles import SqlFiles

_SQL = SqlFiles(__file__)
SEVERITIES = ("ERROR", "WARN")
MAX_LISTED_FAILURES = 10  # failed expectations listed in the markdown table of a result


class Markdown(str):
    """A metadata entry to be shown as markdown rather than as plain text."""


@dataclass(frozen=True)
class CheckSpec:
    """One named check of one asset.

    ``max_rate`` is only read by the row-count checks of derived tables (``derived.py``): the share of
    failing rows tolerated, where None means the ``STOCKULA_MAX_UNSOLVED_IV_SHARE`` setting.
    ``metadata`` is shown on the check's definition beside its severity (a curated test: its kind).
    """

    name: str
    description: str
    severity: str = "ERROR"
    blocking: bool = True
    max_rate: float | None = 0.0
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"check {self.name}: severity {self.severity!r} is not one of {SEVERITIES}")


@dataclass(frozen=True)
class CheckOutcome:
    """One evaluation of one check: a row of ``quality.data_quality_results`` and a Dagster result.

    ``shown`` replaces the standard metadata entries (:attr:`metadata`) when a check reports
    something else (a curated test shows its query; a check with nothing to judge, a note).
    """

    asset_key: str  # "market/price_history"
    check_name: str
    severity: str  # 'ERROR' | 'WARN'
    blocking: bool
    passed: bool
    window: tuple[datetime, datetime] | None = None
    partition_key: str | None = None
    failing_count: int = 0
    total_count: int | None = None
    observed_value: float | None = None
    details: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    shown: Mapping[str, Any] | None = None

    @classmethod
    def of(cls, spec: CheckSpec, asset_key: str, *, passed: bool, **values: Any) -> CheckOutcome:
        """An outcome of ``spec``: its name, severity, blocking flag and description."""
        return cls(asset_key=asset_key, check_name=spec.name, severity=spec.severity, blocking=spec.blocking,
                   passed=passed, description=spec.description, **values)

    @property
    def summary(self) -> str:
        state = "passed" if self.passed else f"FAILED ({self.failing_count} failing)"
        where = f" window {self.window[0].isoformat()}..{self.window[1].isoformat()}" if self.window else ""
        return f"{self.asset_key} {self.check_name} [{self.severity}]{where}: {state}"

    @property
    def metadata(self) -> dict[str, Any]:
        """What Dagster shows with the result: counts, window, details, and for failed suites a table
        of the failed expectations (``shown`` instead, when set)."""
        if self.shown is not None:
            return dict(self.shown)
        window = f"{self.window[0].isoformat()} .. {self.window[1].isoformat()}" if self.window else "whole table"
        entries: dict[str, Any] = {"failing_count": int(self.failing_count), "window": window,
                                   "details": self.details}
        if self.total_count is not None:
            entries["total_count"] = int(self.total_count)
        if self.observed_value is not None:
            entries["failing_rate"] = float(self.observed_value)
        failed = self.details.get("failed_expectations") or []
        if failed:
            lines = [f"| {f['expectation']} | {f.get('column') or ''} | {f['unexpected_count']} |"
                     for f in failed[:MAX_LISTED_FAILURES]]
            entries["failing_expectations"] = Markdown(
                "| expectation | column | unexpected |\n|---|---|---|\n" + "\n".join(lines))
        if "message" in self.details:
            entries["message"] = str(self.details["message"])
        return entries


def record_results(conn: psycopg.Connection, results: Iterable[CheckOutcome], *, run_id: str | None = None) -> int:
    """Append ``results`` to ``quality.data_quality_results`` (the caller's transaction, if any)."""
    rows = [
        {
            "asset_key": r.asset_key, "check_name": r.check_name, "severity": r.severity, "passed": r.passed,
            "window_start": r.window[0] if r.window else None, "window_end": r.window[1] if r.window else None,
            "partition_key": r.partition_key, "observed_value": r.observed_value,
            "failing_count": r.failing_count, "total_count": r.total_count, "details": Jsonb(r.details),
            "run_id": run_id,
        }
        for r in results
    ]
    if rows:
        with conn.cursor() as cur:
            cur.executemany(_SQL("insert_data_quality_result"), rows)
    return len(rows)
