"""Freshness in exchange time: is the latest completed session in the table?

The expected session is ``last_completed_session(now)`` of the exchange calendar, so a Friday close
is still the latest on Sunday and a holiday is never a gap. :func:`evaluate_freshness` is pure (inject
``now``); :func:`check_freshness` reads the latest loaded session from the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import psycopg
from psycopg import sql

from stockula_pipelines.lib.calendar import DEFAULT_EXCHANGE, get_calendar

from .results import CheckOutcome, CheckSpec

# How far back the latest-date query looks: older than this is stale whatever the exact date.
LOOKBACK = timedelta(days=45)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

FRESHNESS = CheckSpec("freshness", "The latest completed session of the exchange calendar is loaded (weekends "
                      "and holidays are not gaps).", severity="WARN", blocking=False)

# Latest trading date with bars of one interval; the lower bound lets TimescaleDB skip old chunks.
_LATEST_PRICE_DATE = "SELECT max(date) FROM market.price_history WHERE interval = %(interval)s AND time >= %(since)s"
# Latest option snapshot date of {table} (an Identifier); the bound lets TimescaleDB skip old chunks.
_LATEST_SNAPSHOT_DATE = "SELECT max(snapshot_date) FROM {table} WHERE time >= %(since)s"

# target -> what it is; the daily/intraday targets share market.price_history.
FRESHNESS_TARGETS = {
    "price_history": "market.price_history daily bars (interval 1d)",
    "price_history_intraday": "market.price_history intraday bars",
    "options_calls": "market.options_calls snapshots",
    "options_puts": "market.options_puts snapshots",
}


@dataclass(frozen=True)
class Freshness:
    expected_session: date
    latest_session: date | None
    fresh: bool
    sessions_behind: int  # completed sessions missing after latest_session (0 when fresh)

    def describe(self, what: str) -> str:
        if self.fresh:
            return f"{what}: fresh (latest session {self.expected_session.isoformat()} loaded)"
        latest = self.latest_session.isoformat() if self.latest_session else "none"
        return (f"{what}: stale, latest session loaded {latest}, expected {self.expected_session.isoformat()} "
                f"({self.sessions_behind} session(s) behind)")


def evaluate_freshness(latest_session: date | None, now: datetime, exchange: str = DEFAULT_EXCHANGE) -> Freshness:
    """Fresh when ``latest_session`` is on or after the last session that had closed at ``now``."""
    cal = get_calendar(exchange)
    expected = cal.last_completed_session(now)
    if latest_session is not None and latest_session >= expected:
        return Freshness(expected, latest_session, True, 0)
    if latest_session is None:
        behind = len(cal.trading_days(expected - timedelta(days=int(LOOKBACK.days)), expected))
    else:
        behind = len(cal.trading_days(cal.next_trading_day(latest_session), expected))
    return Freshness(expected, latest_session, False, behind)


def latest_session(conn: psycopg.Connection, target: str, now: datetime, *, intraday_interval: str = "5m") -> date | None:
    """The latest trading date loaded for ``target`` (see :data:`FRESHNESS_TARGETS`).

    The recent chunks answer first; only when they hold nothing (e.g. after a historical backfill) is
    the whole table asked, so a stale table's message names what it really holds.
    """
    if target in ("price_history", "price_history_intraday"):
        interval = "1d" if target == "price_history" else intraday_interval
        query, params = sql.SQL(_LATEST_PRICE_DATE), {"interval": interval}
    elif target in ("options_calls", "options_puts"):
        query = sql.SQL(_LATEST_SNAPSHOT_DATE).format(table=sql.Identifier("market", target))
        params = {}
    else:
        raise ValueError(f"no freshness rule for {target!r}; known: {', '.join(FRESHNESS_TARGETS)}")
    for since in (now - LOOKBACK, EPOCH):
        row = conn.execute(query, {**params, "since": since}).fetchone()
        if row and row[0] is not None:
            return row[0]
    return None


def check_freshness(
    conn: psycopg.Connection,
    target: str,
    now: datetime,
    *,
    asset_key: str,
    exchange: str = DEFAULT_EXCHANGE,
    intraday_interval: str = "5m",
    check: CheckSpec = FRESHNESS,
) -> CheckOutcome:
    latest = latest_session(conn, target, now, intraday_interval=intraday_interval)
    state = evaluate_freshness(latest, now, exchange)
    return CheckOutcome.of(
        check, asset_key, passed=state.fresh,
        failing_count=state.sessions_behind, observed_value=float(state.sessions_behind),
        details={"expected_session": state.expected_session.isoformat(),
                 "latest_session": latest.isoformat() if latest else None,
                 "now": now.isoformat(), "exchange": exchange,
                 "message": state.describe(FRESHNESS_TARGETS[target])},
    )
