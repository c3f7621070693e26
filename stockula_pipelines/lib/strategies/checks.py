"""Checks on the backtest rows the last strategy refresh wrote (its window in ops.refresh_log).

The SQL lives with the other derived checks (lib/validation/sql/derived/strategy_*.sql), which
:func:`lib.validation.derived.run_window_checks` runs and turns into quality results.
"""

from __future__ import annotations

import psycopg

from stockula_pipelines.lib.strategies.refresh import TARGET
from stockula_pipelines.lib.validation import derived
from stockula_pipelines.lib.validation.quality import CheckResult

STRATEGY_CHECKS = (
    derived.DerivedCheck("strategy_equity_positive", "every backtest row has a positive equity"),
    derived.DerivedCheck("strategy_position_has_price",
                         "every backtest row sits on a daily bar with an adjusted close"),
    derived.DerivedCheck("strategy_return_matches_position",
                         "daily_return = position * adjusted-close return - turnover * (commission + slippage)"),
)


def run_strategy_checks(conn: psycopg.Connection, asset_key: str) -> list[CheckResult]:
    return derived.run_window_checks(conn, asset_key, TARGET, STRATEGY_CHECKS)
