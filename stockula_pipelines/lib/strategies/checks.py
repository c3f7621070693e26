"""Checks on the backtest rows the last strategy refresh wrote (its window in ops.refresh_log).

Each check is a statement returning ``(failing, total)``: a constant below when it is short, else
``sql/check_<name>.sql`` beside this module; :func:`lib.quality.derived.run_window_checks` runs them
over the refresh's window and turns the counts into check outcomes.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from stockula_pipelines.lib.db.sqlfiles import SqlFiles
from stockula_pipelines.lib.quality.derived import run_window_checks
from stockula_pipelines.lib.quality.results import CheckOutcome, CheckSpec
from stockula_pipelines.lib.strategies.refresh import TARGET

_SQL = SqlFiles(__file__)

STRATEGY_CHECKS = (
    CheckSpec("strategy_equity_positive", "every backtest row has a positive equity"),
    CheckSpec("strategy_position_has_price", "every backtest row sits on a daily bar with an adjusted close"),
    CheckSpec("strategy_return_matches_position",
              "daily_return = position * adjusted-close return - turnover * (commission + slippage)"),
)

# A backtest's equity compounds (1 + return); at or below zero the strategy is wiped out, which a
# position within [-1, 1] cannot reach without a price moving by more than 100 percent in a day.
_EQUITY_POSITIVE = """SELECT count(*) FILTER (WHERE NOT (equity > 0)), count(*)
FROM analytics.strategy_performance WHERE time >= %(start)s AND time < %(end)s"""


def _query(name: str) -> sql.SQL:
    return sql.SQL(_EQUITY_POSITIVE) if name == "strategy_equity_positive" else _SQL(f"check_{name}")


def run_strategy_checks(conn: psycopg.Connection, asset_key: str) -> list[CheckOutcome]:
    return run_window_checks(conn, asset_key, TARGET, STRATEGY_CHECKS, _query)
