"""Checks of what the pipeline derives itself: adjusted prices and returns, Greeks, aggregates.

Each check is one statement returning ``(failing, total)`` rows (summed when a check covers calls
and puts): a constant below when it is short, else ``sql/check_<name>.sql``. The window is the latest
one the deriving asset refreshed (``ops.refresh_log``), so a check reads only what the run wrote.
Other domains run their own checks the same way (``lib/strategies/checks.py``), passing their queries.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import psycopg
from psycopg import sql

from stockula_pipelines.lib.db.sqlfiles import SqlFiles
from stockula_pipelines.settings import get_settings

from .results import CheckOutcome, CheckSpec

_SQL = SqlFiles(__file__)
QueryOf = Callable[[str], sql.Composable]

PRICE_METRICS_CHECKS = (
    CheckSpec("adj_close_positive", "every daily bar has a positive adjusted close"),
    CheckSpec("return_matches_adjusted_close",
              "daily_return is the simple return of adj_close_price over the previous bar"),
    CheckSpec("volatility_non_negative", "rolling volatility is never negative or NaN"),
)
GREEKS_CHECKS = (
    CheckSpec("greeks_within_bounds", "|delta| <= 1 with the option's sign, gamma >= 0, vega >= 0, 0 < IV < 5"),
    CheckSpec("greeks_status_consistent", "IV is present exactly when greeks_status is 'ok'", blocking=False),
    CheckSpec("iv_coverage", "at most STOCKULA_MAX_UNSOLVED_IV_SHARE of the contracts lack an implied "
              "volatility (greeks_status says why)", severity="WARN", blocking=False, max_rate=None),
)
AGGREGATE_OHLC = CheckSpec("ohlc_consistent", "low <= open, close <= high; volume >= 0; at least one bar")
AGGREGATE_VOLUME = CheckSpec("volume_non_negative", "aggregated volume is never negative")

_LATEST_REFRESH_WINDOW = ("SELECT window_start, window_end FROM ops.refresh_log WHERE target = %(target)s "
                          "ORDER BY refresh_id DESC LIMIT 1")
_SHORT_CHECKS = {
    # Daily bars in the window whose adjusted close is missing or not positive.
    "adj_close_positive": """SELECT count(*) FILTER (WHERE adj_close_price IS NULL OR NOT adj_close_price > 0), count(*)
FROM market.price_history WHERE interval = '1d' AND time >= %(start)s AND time < %(end)s""",
    "volatility_non_negative": """SELECT count(*) FILTER (WHERE volatility < 0 OR volatility = 'NaN'::float8), count(*)
FROM market.price_history WHERE interval = '1d' AND time >= %(start)s AND time < %(end)s""",
    # {relation} and {volume} are Identifiers.
    "aggregate_volume_non_negative": "SELECT count(*) FILTER (WHERE {volume} < 0), count(*) FROM {relation}",
}


def check_query(name: str) -> sql.SQL:
    """The statement of the check ``name`` of this module."""
    short = _SHORT_CHECKS.get(name)
    return sql.SQL(short) if short is not None else _SQL(f"check_{name}")  # type: ignore[arg-type]


def latest_refresh_window(conn: psycopg.Connection, target: str) -> tuple[datetime, datetime] | None:
    row = conn.execute(sql.SQL(_LATEST_REFRESH_WINDOW), {"target": target}).fetchone()
    return (row[0], row[1]) if row else None


def _result(asset_key: str, check: CheckSpec, rows, window) -> CheckOutcome:
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
    return CheckOutcome.of(check, asset_key, passed=rate <= max_rate, window=window, failing_count=failing,
                           total_count=total, observed_value=rate, details=details)


def run_window_checks(conn: psycopg.Connection, asset_key: str, target: str, checks: Sequence[CheckSpec],
                      query_of: QueryOf = check_query) -> list[CheckOutcome]:
    """Run ``checks`` over the latest window ``target`` refreshed (nothing refreshed: all pass, total 0).

    ``query_of`` gives each check's statement by name (this module's checks by default).
    """
    window = latest_refresh_window(conn, target)
    if window is None:
        return [_result(asset_key, c, [(0, 0)], None) for c in checks]
    params = {"start": window[0], "end": window[1]}
    return [_result(asset_key, c, conn.execute(query_of(c.name), params).fetchall(), window) for c in checks]


def run_aggregate_checks(conn: psycopg.Connection, asset_key: str, relation: tuple[str, str], *,
                         ohlc: bool) -> list[CheckOutcome]:
    """Whole-aggregate checks: OHLC consistency for the price aggregates, volume sign for the others."""
    ident = sql.Identifier(*relation)
    if ohlc:
        check, query = AGGREGATE_OHLC, check_query("aggregate_ohlc_consistent").format(relation=ident)
    else:
        check = AGGREGATE_VOLUME
        query = check_query("aggregate_volume_non_negative").format(relation=ident,
                                                                    volume=sql.Identifier("total_volume"))
    return [_result(asset_key, check, conn.execute(query).fetchall(), None)]
