"""Checks of a window the ingestion assets loaded: pure functions over a psycopg connection (no Dagster).

Each function returns :class:`~.results.CheckOutcome` objects; :func:`~.results.record_results` writes them
to ``quality.data_quality_results`` (one row per check per window). The Dagster asset checks in
``defs/quality`` only translate these into ``AssetCheckResult``s.

* :func:`suite_checks` -- the table's great-expectations suite (``suites.py``), grouped into named
  checks (no_duplicates, ohlc_consistent, value_bounds, null_rate, price_jump_without_split, ...), on
  the engine ``STOCKULA_QUALITY_ENGINE`` names (compiled SQL by default, or GE's validator).
* :func:`missing_trading_days` -- needs the exchange calendar, so it is plain SQL + Python.
* :func:`source_coverage` -- the symbols the source left out, from ``ops.ingest_log``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg

from stockula_pipelines.lib.calendar import DEFAULT_EXCHANGE, get_calendar
from stockula_pipelines.lib.db.sqlfiles import SqlFiles
from stockula_pipelines.settings import get_settings

from .engines import validate_window
from .results import CheckOutcome, CheckSpec, record_results
from .suites import MISSING_DAYS, SOURCE_COVERAGE, TABLE_CHECKS

_SQL = SqlFiles(__file__)
SAMPLE_SYMBOLS = 20


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
) -> list[CheckOutcome]:
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
        results.append(CheckOutcome.of(
            check, asset_key, passed=not failed, window=window, partition_key=partition_key, failing_count=failing,
            total_count=total, observed_value=(failing / total) if total else None, details=details,
        ))
    return results


def _window_days(window: tuple[datetime, datetime], exchange: str) -> list[date]:
    """The trading days whose local date falls inside the window."""
    cal = get_calendar(exchange)
    first = window[0].astimezone(cal.tz).date()
    last = (window[1] - timedelta(microseconds=1)).astimezone(cal.tz).date()
    return cal.trading_days(first, last)


def missing_trading_days(
    conn: psycopg.Connection,
    window: tuple[datetime, datetime],
    *,
    asset_key: str,
    interval: str,
    partition_key: str | None = None,
    expected_symbols: Sequence[str] | None = None,
    exchange: str = DEFAULT_EXCHANGE,
    check: CheckSpec = MISSING_DAYS,
) -> CheckOutcome:
    """Bars of ``interval`` in ``window``: every expected symbol on every trading day of the window,
    and no session skipped between a symbol's previous bar and the window.

    Expected symbols default to those the loads inside the window asked for (``ops.ingest_log``,
    including the symbols a failing source left out). Holidays and weekends are no gap. A symbol
    whose first bar lies inside the window is judged from that bar on.
    """
    cal = get_calendar(exchange)
    start, end = window
    params = {"interval": interval, "start": start, "end": end}
    if expected_symbols is None:
        row = conn.execute(_SQL("select_expected_symbols"), params).fetchone()
        expected_symbols = list(row[0]) if row and row[0] else []
    rows = conn.execute(_SQL("select_previous_bars"), params).fetchall()
    days = _window_days(window, exchange)
    missing_symbols = sorted(set(expected_symbols) - {r[0] for r in rows}) if days else []
    gaps: dict[str, list[str]] = {}
    if days:
        try:
            prior = cal.previous_trading_day(days[0])
        except ValueError:  # the calendar's first session: nothing before it can be missing
            prior = None
        for symbol, dates, prev_date in rows:
            have = set(dates)
            skipped = []
            if prev_date is not None and prior is not None and prev_date < prior:
                skipped += cal.trading_days(cal.next_trading_day(prev_date), prior)
            since = days[0] if prev_date is not None else min(have)
            skipped += [d for d in days if d >= since and d not in have]
            if skipped:
                gaps[symbol] = [d.isoformat() for d in skipped]
    failing = len(missing_symbols) + len(gaps)
    total = len(set(expected_symbols) | {r[0] for r in rows})
    label = f"{days[0].isoformat()}..{days[-1].isoformat()}" if len(days) > 1 else (
        days[0].isoformat() if days else start.astimezone(cal.tz).date().isoformat())
    details: dict[str, Any] = {
        "trading_dates": label,
        "missing_symbols": missing_symbols[:SAMPLE_SYMBOLS],
        "missing_symbols_count": len(missing_symbols),
        "gaps": {s: gaps[s][:SAMPLE_SYMBOLS] for s in sorted(gaps)[:SAMPLE_SYMBOLS]},
        "gap_symbols_count": len(gaps),
        "skipped_sessions": sum(len(v) for v in gaps.values()),
    }
    if failing:
        first = missing_symbols[0] if missing_symbols else sorted(gaps)[0]
        why = (f"no {interval} bar on {label}" if missing_symbols
               else f"session(s) {', '.join(gaps[first][:3])} missing")
        details["message"] = f"{asset_key}: symbol {first}: {why} (rule: {check.name})"
    return CheckOutcome.of(
        check, asset_key, passed=failing == 0, window=window, partition_key=partition_key, failing_count=failing,
        total_count=total, observed_value=(failing / total) if total else 0.0, details=details,
    )


def source_coverage(
    conn: psycopg.Connection,
    table: str,
    window: tuple[datetime, datetime],
    *,
    asset_key: str,
    interval: str | None = None,
    partition_key: str | None = None,
    check: CheckSpec = SOURCE_COVERAGE,
) -> CheckOutcome:
    """Which symbols the latest load of each window in ``window`` had to leave as they were."""
    row = conn.execute(_SQL("select_skipped_symbols"), {
        "table": table, "interval": interval, "start": window[0], "end": window[1]}).fetchone()
    skipped, loads = (list(row[0]), int(row[1])) if row else ([], 0)
    details: dict[str, Any] = {"skipped_symbols": skipped[:SAMPLE_SYMBOLS], "skipped_count": len(skipped),
                               "loads": loads}
    if skipped:
        details["message"] = (f"{asset_key}: the source did not answer for {len(skipped)} symbol(s) "
                              f"({', '.join(skipped[:5])}) in {_window_text(window)}; their stored rows were kept "
                              f"(rule: {check.name})")
    return CheckOutcome.of(
        check, asset_key, passed=not skipped, window=window, partition_key=partition_key,
        failing_count=len(skipped), details=details,
    )


def latest_ingest_window(
    conn: psycopg.Connection, table: str, interval: str | None = None
) -> tuple[tuple[datetime, datetime], str | None] | None:
    """The window and partition key of the latest load of ``table`` (and ``interval``), if any."""
    row = conn.execute(_SQL("select_latest_ingest_window"), {"table": table, "interval": interval}).fetchone()
    if row is None:
        return None
    return (row[0].astimezone(UTC), row[1].astimezone(UTC)), row[2]


def run_table_checks(conn: psycopg.Connection, dsn: str, table: str, window: tuple[datetime, datetime] | None, *,
                     asset_key: str, interval: str | None = None, partition_key: str | None = None,
                     run_id: str | None = None, exchange: str = DEFAULT_EXCHANGE, engine: str | None = None,
                     record: bool = True) -> list[CheckOutcome]:
    """Every check of ``table``'s window: the suite, for bars the calendar, for every windowed table
    the source coverage; recorded in data_quality_results unless ``record`` is false."""
    results = suite_checks(conn, dsn, table, window, asset_key=asset_key, interval=interval,
                           partition_key=partition_key, engine=engine)
    if window is not None and table == "price_history":
        results.append(missing_trading_days(conn, window, asset_key=asset_key, interval=interval or "1d",
                                            partition_key=partition_key, exchange=exchange))
    if window is not None and table != "stocks":
        results.append(source_coverage(conn, table, window, asset_key=asset_key, interval=interval,
                                       partition_key=partition_key))
    if record:
        record_results(conn, results, run_id=run_id)
    return results


def run_price_checks(conn: psycopg.Connection, dsn: str, window: tuple[datetime, datetime], *, interval: str,
                     **options: Any) -> list[CheckOutcome]:
    """:func:`run_table_checks` of the bars of ``interval`` in ``window``."""
    return run_table_checks(conn, dsn, "price_history", window, interval=interval, **options)
