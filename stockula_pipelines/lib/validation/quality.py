"""Data-quality checks of a loaded window: pure functions over a psycopg connection (no Dagster).

Each function returns :class:`CheckResult`s; :func:`record_results` writes them to
``quality.data_quality_results`` (one row per check per window). The Dagster asset checks in
``defs/quality`` only translate these into ``AssetCheckResult``s.

* :func:`suite_checks` -- the table's great-expectations suite (``lib/expectations``), grouped into
  named checks (no_duplicates, ohlc_consistent, value_bounds, null_rate, price_jump_without_split, ...),
  on the engine ``STOCKULA_QUALITY_ENGINE`` names (compiled SQL by default, or GE's validator).
* :func:`missing_trading_days` -- needs the exchange calendar, so it is plain SQL + Python.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from stockula_pipelines.lib.calendar import DEFAULT_EXCHANGE, get_calendar
from stockula_pipelines.lib.expectations import validate_window
from stockula_pipelines.lib.expectations.suites import MISSING_DAYS, TABLE_CHECKS, CheckDef
from stockula_pipelines.settings import get_settings

_SQL_DIR = Path(__file__).resolve().parent / "sql"
SAMPLE_SYMBOLS = 20


@cache
def load_sql(name: str) -> sql.SQL:
    return sql.SQL((_SQL_DIR / name).read_text(encoding="utf-8").strip())  # type: ignore[arg-type]


@dataclass(frozen=True)
class CheckResult:
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

    @property
    def summary(self) -> str:
        state = "passed" if self.passed else f"FAILED ({self.failing_count} failing)"
        where = f" window {self.window[0].isoformat()}..{self.window[1].isoformat()}" if self.window else ""
        return f"{self.asset_key} {self.check_name} [{self.severity}]{where}: {state}"


def _window_text(window: tuple[datetime, datetime] | None) -> str:
    return f"[{window[0].isoformat()}, {window[1].isoformat()})" if window else "(whole table)"


def suite_checks(
    conn: psycopg.Connection,
    dsn: str,
    table: str,
    window: tuple[datetime, datetime] | None,
    *,
    asset_key: str,
    interval: str | None = None,
    partition_key: str | None = None,
    engine: str | None = None,
) -> list[CheckResult]:
    """Run ``table``'s suite over ``window`` and return one result per check of the suite.

    ``engine`` defaults to the ``quality_engine`` setting. The compiled engine runs on ``conn``; GE
    opens its own SQLAlchemy engine on ``dsn`` (a libpq URI), once per process.
    """
    engine = engine or get_settings().quality_engine
    outcome = validate_window(conn, dsn, table, window, interval=interval, engine=engine)
    groups = outcome.by_check()
    results = []
    for check in TABLE_CHECKS[table]:
        expectations = groups.get(check.name, [])
        failed = [e for e in expectations if not e.success]
        failing = sum(e.unexpected_count for e in failed)
        total = outcome.row_count
        details = {
            "suite": outcome.suite,
            "expectations": len(expectations),
            "failed_expectations": [
                {"expectation": e.expectation, "column": e.column, "unexpected_count": e.unexpected_count,
                 "sample": e.sample, **({"error": e.error} if e.error else {})}
                for e in failed
            ],
            "engine": outcome.engine,
            "suite_seconds": round(outcome.seconds, 4),
        }
        results.append(CheckResult(
            asset_key=asset_key, check_name=check.name, severity=check.severity, blocking=check.blocking,
            passed=not failed, window=window, partition_key=partition_key, failing_count=failing,
            total_count=total, observed_value=(failing / total) if total else None, details=details,
            description=check.description,
        ))
    return results


def _window_day(window: tuple[datetime, datetime], exchange: str) -> date:
    cal = get_calendar(exchange)
    return window[0].astimezone(cal.tz).date()


def missing_trading_days(
    conn: psycopg.Connection,
    window: tuple[datetime, datetime],
    *,
    asset_key: str,
    interval: str,
    partition_key: str | None = None,
    expected_symbols: Sequence[str] | None = None,
    exchange: str = DEFAULT_EXCHANGE,
    check: CheckDef = MISSING_DAYS,
) -> CheckResult:
    """Bars of ``interval`` in ``window``: every expected symbol present, no session skipped before it.

    Expected symbols default to those the latest load of exactly this window asked for
    (``ops.ingest_log``). A symbol's previous bar must be on the previous trading day of the exchange
    calendar (or the same day, for intraday windows after the first): holidays and weekends are no gap.
    """
    cal = get_calendar(exchange)
    start, end = window
    params = {"interval": interval, "start": start, "end": end}
    if expected_symbols is None:
        row = conn.execute(load_sql("select_expected_symbols.sql"), params).fetchone()
        expected_symbols = list(row[0]) if row else []
    previous = dict(conn.execute(load_sql("select_previous_bars.sql"), params).fetchall())
    day = _window_day(window, exchange)
    missing_symbols = sorted(set(expected_symbols) - set(previous))
    gaps: dict[str, list[str]] = {}
    if cal.is_trading_day(day):
        prior = cal.previous_trading_day(day)
        for symbol, prev_date in previous.items():
            if prev_date is not None and prev_date < prior:
                skipped = cal.trading_days(cal.next_trading_day(prev_date), prior)
                gaps[symbol] = [d.isoformat() for d in skipped]
    else:
        missing_symbols = []  # a window on a closed day expects nothing
    failing = len(missing_symbols) + len(gaps)
    total = len(set(expected_symbols) | set(previous))
    details: dict[str, Any] = {
        "trading_date": day.isoformat(),
        "missing_symbols": missing_symbols[:SAMPLE_SYMBOLS],
        "missing_symbols_count": len(missing_symbols),
        "gaps": {s: gaps[s] for s in sorted(gaps)[:SAMPLE_SYMBOLS]},
        "gap_symbols_count": len(gaps),
        "skipped_sessions": sum(len(v) for v in gaps.values()),
    }
    if failing:
        first = missing_symbols[0] if missing_symbols else sorted(gaps)[0]
        why = (f"no {interval} bar on {day.isoformat()}" if missing_symbols
               else f"sessions {', '.join(gaps[first][:3])} missing before {day.isoformat()}")
        details["message"] = f"{asset_key}: symbol {first}: {why} (rule: {check.name})"
    return CheckResult(
        asset_key=asset_key, check_name=check.name, severity=check.severity, blocking=check.blocking,
        passed=failing == 0, window=window, partition_key=partition_key, failing_count=failing,
        total_count=total, observed_value=(failing / total) if total else 0.0, details=details,
        description=check.description,
    )


def latest_ingest_window(
    conn: psycopg.Connection, table: str, interval: str | None = None
) -> tuple[tuple[datetime, datetime], str | None] | None:
    """The window and partition key of the latest load of ``table`` (and ``interval``), if any."""
    row = conn.execute(load_sql("select_latest_ingest_window.sql"), {"table": table, "interval": interval}).fetchone()
    if row is None:
        return None
    return (row[0].astimezone(UTC), row[1].astimezone(UTC)), row[2]


def record_results(conn: psycopg.Connection, results: Iterable[CheckResult], *, run_id: str | None = None) -> int:
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
            cur.executemany(load_sql("insert_data_quality_result.sql"), rows)
    return len(rows)


def run_price_checks(
    conn: psycopg.Connection,
    dsn: str,
    window: tuple[datetime, datetime],
    *,
    asset_key: str,
    interval: str,
    partition_key: str | None = None,
    run_id: str | None = None,
    exchange: str = DEFAULT_EXCHANGE,
    engine: str | None = None,
) -> list[CheckResult]:
    """Every check of a price window (suite + calendar), recorded in data_quality_results."""
    results = suite_checks(conn, dsn, "price_history", window, asset_key=asset_key, interval=interval,
                           partition_key=partition_key, engine=engine)
    results.append(missing_trading_days(conn, window, asset_key=asset_key, interval=interval,
                                        partition_key=partition_key, exchange=exchange))
    record_results(conn, results, run_id=run_id)
    return results


def run_table_checks(
    conn: psycopg.Connection,
    dsn: str,
    table: str,
    window: tuple[datetime, datetime] | None,
    *,
    asset_key: str,
    partition_key: str | None = None,
    run_id: str | None = None,
    engine: str | None = None,
) -> list[CheckResult]:
    """The suite checks of a non-price table (options, dividends, splits, stocks), recorded."""
    results = suite_checks(conn, dsn, table, window, asset_key=asset_key, partition_key=partition_key,
                           engine=engine)
    record_results(conn, results, run_id=run_id)
    return results
