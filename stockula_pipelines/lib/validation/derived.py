"""Checks of what the pipeline derives itself: adjusted prices and returns, Greeks, aggregates.

Each check is one SQL file beside this module returning ``(failing, total)`` rows (summed when a
check covers calls and puts); the window is the latest one the deriving asset refreshed
(``ops.refresh_log``), so a check reads only what the run wrote.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg import sql

from stockula_pipelines.lib.validation.quality import CheckResult
from stockula_pipelines.settings import get_settings

_SQL = Path(__file__).parent / "sql" / "derived"


@dataclass(frozen=True)
class DerivedCheck:
    name: str
    description: str
    severity: str = "ERROR"
    blocking: bool = True
    # Share of failing rows tolerated; None = the STOCKULA_MAX_UNSOLVED_IV_SHARE setting (IV coverage).
    max_rate: float | None = 0.0


PRICE_METRICS_CHECKS = (
    DerivedCheck("adj_close_positive", "every daily bar has a positive adjusted close"),
    DerivedCheck("return_matches_adjusted_close",
                 "daily_return is the simple return of adj_close_price over the previous bar"),
    DerivedCheck("volatility_non_negative", "rolling volatility is never negative or NaN"),
)
GREEKS_CHECKS = (
    DerivedCheck("greeks_within_bounds", "|delta| <= 1 with the option's sign, gamma >= 0, vega >= 0, 0 < IV < 5"),
    DerivedCheck("greeks_status_consistent", "IV is present exactly when greeks_status is 'ok'", blocking=False),
    DerivedCheck("iv_coverage", "at most STOCKULA_MAX_UNSOLVED_IV_SHARE of the contracts lack an implied "
                 "volatility (greeks_status says why)", severity="WARN", blocking=False, max_rate=None),
)


def _query(name: str) -> sql.SQL:
    return sql.SQL((_SQL / f"{name}.sql").read_text(encoding="utf-8"))  # type: ignore[arg-type]


def latest_refresh_window(conn: psycopg.Connection, target: str) -> tuple[datetime, datetime] | None:
    row = conn.execute(_query("select_latest_refresh_window"), {"target": target}).fetchone()
    return (row[0], row[1]) if row else None


def _result(asset_key: str, check: DerivedCheck, rows, window) -> CheckResult:
    failing = sum(int(r[0]) for r in rows)
    total = sum(int(r[1]) for r in rows)
    max_rate = check.max_rate if check.max_rate is not None else get_settings().max_unsolved_iv_share
    rate = failing / total if total else 0.0
    details: dict = {"rule": check.description}
    if max_rate:
        details["max_rate"] = max_rate
        if rate > max_rate:
            details["message"] = (f"{asset_key}: {failing} of {total} rows ({rate:.1%}) fail {check.name}, "
                                  f"above the tolerated {max_rate:.1%} (rule: {check.name})")
    return CheckResult(
        asset_key=asset_key, check_name=check.name, severity=check.severity, blocking=check.blocking,
        passed=rate <= max_rate, window=window, failing_count=failing, total_count=total,
        observed_value=rate, details=details, description=check.description,
    )


def run_window_checks(conn: psycopg.Connection, asset_key: str, target: str,
                      checks: tuple[DerivedCheck, ...]) -> list[CheckResult]:
    """Run ``checks`` over the latest window ``target`` refreshed (nothing refreshed: all pass, total 0)."""
    window = latest_refresh_window(conn, target)
    if window is None:
        return [_result(asset_key, c, [(0, 0)], None) for c in checks]
    params = {"start": window[0], "end": window[1]}
    return [_result(asset_key, c, conn.execute(_query(c.name), params).fetchall(), window) for c in checks]


def run_aggregate_checks(conn: psycopg.Connection, asset_key: str, relation: tuple[str, str], *,
                         ohlc: bool) -> list[CheckResult]:
    """Whole-aggregate checks: OHLC consistency for the price aggregates, volume sign for the others."""
    ident = sql.Identifier(*relation)
    if ohlc:
        check = DerivedCheck("ohlc_consistent", "low <= open, close <= high; volume >= 0; at least one bar")
        query = _query("aggregate_ohlc_consistent").format(relation=ident)
    else:
        check = DerivedCheck("volume_non_negative", "aggregated volume is never negative")
        volume = "total_volume"
        query = _query("aggregate_volume_non_negative").format(relation=ident, volume=sql.Identifier(volume))
    return [_result(asset_key, check, conn.execute(query).fetchall(), None)]
