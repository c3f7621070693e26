"""The great-expectations engine: validate one window with GE's own validator.

One ephemeral GE context per process. The window reaches GE as SQL text (see ``windows``); building
a context and a datasource (an SQLAlchemy engine with its pool) costs far more than validating a
small window, so both live for the whole process; each window adds a throw-away query asset that is
removed again after validation. Suites are built once per table.

This engine is the reference the compiled engine (``compiled.py``) is tested against; it costs a fixed
~0.2-0.6 s per window in GE's metric graph, plus seconds to import great_expectations.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from datetime import datetime
from typing import Any

from .engines import SAMPLE_ROWS, ExpectationOutcome, SuiteOutcome, column_label, jsonable
from .suites import build_suite
from .windows import is_intraday, window_query


def _error(info: Any) -> str | None:
    """GE nests exception info per metric; the first raised exception's message, if any."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))[:500]
    for value in info.values():
        if (found := _error(value)) is not None:
            return found
    return None


def _outcome(res: Any) -> ExpectationOutcome:
    cfg = res.expectation_config
    kwargs = dict(cfg.kwargs)
    result = dict(res.result or {})
    error = _error(res.exception_info)
    if cfg.type == "unexpected_rows_expectation":
        count = int(result.get("observed_value") or 0)
        rows = (result.get("details") or {}).get("unexpected_rows") or []
        sample = [jsonable(r) for r in rows[:SAMPLE_ROWS]]
        total = None
    else:
        count = int(result.get("unexpected_count") or 0)
        total = result.get("element_count")
        sample = [jsonable(v) for v in (result.get("partial_unexpected_list") or [])[:SAMPLE_ROWS]]
    return ExpectationOutcome(
        check=str((cfg.meta or {}).get("check", cfg.type)), expectation=cfg.type, column=column_label(kwargs),
        success=bool(res.success) and error is None, unexpected_count=count,
        element_count=int(total) if total is not None else None, sample=sample, error=error,
    )


class SuiteRunner:
    """Process-wide: one ephemeral context, one datasource per DSN, one suite per table."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._context: Any = None
        self._datasources: dict[str, Any] = {}
        self._suites: dict[tuple[str, bool], Any] = {}

    def _context_(self) -> Any:
        if self._context is None:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            context = gx.get_context(mode="ephemeral")
            # tqdm bars on every validation only clutter Dagster's captured logs.
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            self._context = context
        return self._context

    def _datasource(self, dsn: str) -> Any:
        # The DSN holds a password: key on its digest, never log or name anything after it.
        key = hashlib.sha256(dsn.encode()).hexdigest()[:16]
        ds = self._datasources.get(key)
        if ds is None:
            url = dsn.replace("postgresql://", "postgresql+psycopg://", 1).replace("postgres://", "postgresql+psycopg://", 1)
            ds = self._context_().data_sources.add_postgres(
                name=f"stockula_{key}", connection_string=url,
                # PgBouncer in transaction mode cannot keep server-side prepared statements.
                kwargs={"connect_args": {"prepare_threshold": None}, "pool_pre_ping": True},
            )
            self._datasources[key] = ds
        return ds

    def suite(self, table: str, intraday: bool = False) -> Any:
        key = (table, intraday)
        if key not in self._suites:
            self._suites[key] = build_suite(table, intraday=intraday)
        return self._suites[key]

    def validate(self, dsn: str, table: str, window: tuple[datetime, datetime] | None,
                 *, interval: str | None = None) -> SuiteOutcome:
        import time

        started = time.perf_counter()
        query = window_query(table, window, interval)
        intraday = is_intraday(table, interval)
        with self._lock:  # GE's context is not documented as thread-safe
            ds = self._datasource(dsn)
            suite = self.suite(table, intraday)
            asset_name = f"{table}_{uuid.uuid4().hex[:12]}"
            asset = ds.add_query_asset(name=asset_name, query=query)
            try:
                batch = asset.add_batch_definition_whole_table("window").get_batch()
                # Only COMPLETE makes UnexpectedRowsExpectation return the offending rows (GE ignores
                # per-expectation formats at run time); it costs nothing extra while data is clean.
                result = batch.validate(suite, result_format={"result_format": "COMPLETE",
                                                              "partial_unexpected_count": SAMPLE_ROWS})
            finally:
                ds.delete_asset(asset_name)
        outcomes = tuple(_outcome(r) for r in result.results)
        rows = max((o.element_count for o in outcomes if o.element_count is not None), default=None)
        return SuiteOutcome(table=table, suite=suite.name, window=window, row_count=rows,
                            expectations=outcomes, seconds=time.perf_counter() - started)


_RUNNER: SuiteRunner | None = None
_RUNNER_LOCK = threading.Lock()


def get_runner() -> SuiteRunner:
    global _RUNNER
    with _RUNNER_LOCK:
        if _RUNNER is None:
            _RUNNER = SuiteRunner()
        return _RUNNER
