"""Validate one window of a table against its suite, through one ephemeral GE context per process.

Binding the window. GE's SQL query assets take SQL *text*, not bind parameters, and GE runs it on its
own SQLAlchemy connections, so a temporary view created on our psycopg connection would be invisible
to it (and a session object is unsafe behind PgBouncer's transaction pooling anyway). The window is
therefore rendered into the query by ``psycopg.sql.Literal`` -- the driver's own quoting of typed
values -- and only from values that passed :func:`_check_window`: tz-aware ``datetime``s (normalised
to UTC) and an interval from the table's CHECK list. No caller-supplied string reaches the SQL text.

Speed. Building a context and a datasource (an SQLAlchemy engine with its pool) costs far more than
validating a small window, so both live for the whole process; each window adds a throw-away query
asset that is removed again after validation. Suites are built once per table.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from psycopg import sql

from .suites import build_suite

_SQL_DIR = Path(__file__).resolve().parent / "sql"
INTERVALS = frozenset({"1m", "2m", "5m", "15m", "30m", "60m", "90m", "1h", "1d", "5d", "1wk", "1mo"})
DAILY_INTERVALS = frozenset({"1d", "5d", "1wk", "1mo"})
OPTION_TABLES = frozenset({"options_calls", "options_puts"})
SAMPLE_ROWS = 5


@dataclass(frozen=True)
class ExpectationOutcome:
    check: str
    expectation: str  # GE expectation type, e.g. expect_column_values_to_be_between
    column: str | None
    success: bool
    unexpected_count: int
    element_count: int | None
    sample: list[Any] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class SuiteOutcome:
    table: str
    suite: str
    window: tuple[datetime, datetime] | None
    row_count: int | None
    expectations: tuple[ExpectationOutcome, ...]
    seconds: float

    def by_check(self) -> dict[str, list[ExpectationOutcome]]:
        out: dict[str, list[ExpectationOutcome]] = {}
        for e in self.expectations:
            out.setdefault(e.check, []).append(e)
        return out


def _check_window(table: str, window: tuple[datetime, datetime]) -> tuple[datetime, datetime]:
    start, end = window
    for label, value in (("start", start), ("end", end)):
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise ValueError(f"{table}: window {label} {value!r} must be a tz-aware datetime (rule: aware_window)")
    if not start < end:
        raise ValueError(f"{table}: window start {start.isoformat()} is not before end {end.isoformat()}")
    return start.astimezone(UTC), end.astimezone(UTC)


def _template(name: str) -> str:
    """A query file without its comment lines: GE requires query assets to start with SELECT."""
    text = (_SQL_DIR / name).read_text(encoding="utf-8")
    return "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("--")).strip()


def window_query(table: str, window: tuple[datetime, datetime] | None, interval: str | None = None) -> str:
    """The SQL text of ``table``'s rows in ``window`` (see the module docstring for why it is text)."""
    if table == "stocks":
        return _template("select_stocks.sql")
    if window is None:
        raise ValueError(f"{table}: a window is required")
    start, end = _check_window(table, window)
    params: dict[str, sql.Composable] = {"start": sql.Literal(start), "end": sql.Literal(end)}
    if table == "price_history":
        if interval not in INTERVALS:
            raise ValueError(f"price_history: interval {interval!r} is not one of {sorted(INTERVALS)}")
        name, params["interval"] = "select_price_history_window.sql", sql.Literal(interval)
    elif table in OPTION_TABLES:
        name, params["table"] = "select_options_window.sql", sql.Identifier("market", table)
    elif table in ("dividends", "splits"):
        name, params["table"] = "select_corporate_action_window.sql", sql.Identifier("market", table)
    else:
        raise ValueError(f"no window query for table {table!r}")
    return sql.SQL(_template(name)).format(**params).as_string(None)  # type: ignore[arg-type]


def _column(kwargs: Mapping[str, Any]) -> str | None:
    if "column" in kwargs:
        return kwargs["column"]
    if "column_A" in kwargs:
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    if "column_list" in kwargs:
        return ",".join(kwargs["column_list"])
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return str(value)


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
        sample = [_jsonable(r) for r in rows[:SAMPLE_ROWS]]
        total = None
    else:
        count = int(result.get("unexpected_count") or 0)
        total = result.get("element_count")
        sample = [_jsonable(v) for v in (result.get("partial_unexpected_list") or [])[:SAMPLE_ROWS]]
    return ExpectationOutcome(
        check=str((cfg.meta or {}).get("check", cfg.type)), expectation=cfg.type, column=_column(kwargs),
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
        intraday = table == "price_history" and interval not in DAILY_INTERVALS
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
