"""A vectorised daily backtest of single-symbol strategies on adjusted closes.

Layout: a grid of ``observations × symbols``. Row ``k`` of a column is that symbol's ``k``-th daily
bar (not a calendar date), so symbols with different histories share one array without NaN holes,
and a column's numbers never depend on which other symbols sit beside it: every operation here
(cumsum, cumprod, running max) walks each column on its own, so a symbol backtested alone or with
fifty others gives bit-identical rows. That is what lets a refresh restate one symbol and leave the
rest untouched.

Timing (no look-ahead): the target computed from bar ``t``'s close is traded for bar ``t+1``, i.e.
``position[t+1] = target[t]``, and it earns bar ``t+1``'s return ``p[t+1] / p[t] - 1``. Costs
(commission + slippage, in basis points) are charged on bar ``t+1`` per unit of turnover
``|position[t+1] - position[t]|``. Positions are fractions of equity, so a split (which the
adjusted series absorbs) never moves them; dividends enter through the adjusted closes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

KINDS = ("buy_and_hold", "ma_crossover", "momentum", "mean_reversion")


@dataclass(frozen=True)
class BacktestResult:
    """Grids of the same shape as the prices; NaN in padding rows below a symbol's last bar."""

    position: np.ndarray
    asset_return: np.ndarray
    turnover: np.ndarray
    strategy_return: np.ndarray
    equity: np.ndarray
    drawdown: np.ndarray
    trades: np.ndarray


def rolling_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` rows of each column (NaN until the window is full).

    Cumulative sums of values centred on each column's first value: centring keeps the difference
    of two large sums from losing the digits a variance needs.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    out = np.full(x.shape, np.nan)
    if x.shape[0] < window:
        return out
    cs = np.cumsum(x, axis=0)
    out[window - 1] = cs[window - 1]
    out[window:] = cs[window:] - cs[:-window]
    return out / window


def _centred(prices: np.ndarray) -> np.ndarray:
    return prices - prices[:1]


def _signal_ma_crossover(prices: np.ndarray, fast: int, slow: int) -> np.ndarray:
    if not 1 <= fast < slow:
        raise ValueError(f"ma_crossover needs 1 <= fast < slow, got fast={fast} slow={slow}")
    c = _centred(prices)
    # Centring shifts both means by the same constant, so their comparison is unchanged.
    above = rolling_mean(c, fast) > rolling_mean(c, slow)
    return above.astype(np.float64)


def _signal_momentum(prices: np.ndarray, lookback: int, allow_short: bool = True) -> np.ndarray:
    if lookback < 1:
        raise ValueError(f"momentum lookback must be >= 1, got {lookback}")
    past = np.full(prices.shape, np.nan)
    past[lookback:] = prices[:-lookback]
    with np.errstate(invalid="ignore"):
        trend = np.sign(prices / past - 1.0)
    trend = np.nan_to_num(trend, nan=0.0)
    return trend if allow_short else np.maximum(trend, 0.0)


def _signal_mean_reversion(prices: np.ndarray, window: int, entry_z: float) -> np.ndarray:
    if window < 2 or not entry_z > 0:
        raise ValueError(f"mean_reversion needs window >= 2 and entry_z > 0, got {window}, {entry_z}")
    c = _centred(prices)
    mean = rolling_mean(c, window)
    var = np.maximum(rolling_mean(c * c, window) - mean * mean, 0.0)
    std = np.sqrt(var)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(std > 0, (c - mean) / std, np.nan)
    return np.where(z < -entry_z, 1.0, np.where(z > entry_z, -1.0, 0.0))


def target_positions(kind: str, parameters: Mapping[str, Any], prices: np.ndarray) -> np.ndarray:
    """The position each strategy wants after bar ``t``'s close, from closes up to ``t`` only."""
    if kind == "buy_and_hold":
        target = np.ones(prices.shape)
    elif kind == "ma_crossover":
        target = _signal_ma_crossover(prices, int(parameters["fast"]), int(parameters["slow"]))
    elif kind == "momentum":
        target = _signal_momentum(prices, int(parameters["lookback"]), bool(parameters.get("allow_short", True)))
    elif kind == "mean_reversion":
        target = _signal_mean_reversion(prices, int(parameters["window"]), float(parameters["entry_z"]))
    else:
        raise ValueError(f"unknown strategy kind {kind!r}; known: {', '.join(KINDS)}")
    return np.where(np.isnan(prices), np.nan, target)


def run_backtest(prices: np.ndarray, target: np.ndarray, cost_bps: float) -> BacktestResult:
    """Positions, turnover, costs, returns, equity and drawdown for each column of ``prices``.

    ``prices``: adjusted closes, a column per symbol, rows = consecutive bars, NaN only as padding
    after a column's last bar. ``target``: what :func:`target_positions` returns. Equity starts at
    1.0 on each symbol's first bar (flat, no return yet).
    """
    if prices.shape != target.shape or prices.ndim != 2:
        raise ValueError("prices and target must be 2-D grids of the same shape")
    valid = ~np.isnan(prices)
    position = np.zeros(prices.shape)
    position[1:] = np.nan_to_num(target[:-1], nan=0.0)
    asset_return = np.full(prices.shape, np.nan)
    asset_return[1:] = prices[1:] / prices[:-1] - 1.0
    earned = np.nan_to_num(asset_return, nan=0.0)
    previous = np.zeros(prices.shape)
    previous[1:] = position[:-1]
    turnover = np.abs(position - previous)
    strategy_return = position * earned - turnover * (cost_bps / 1e4)
    equity = np.cumprod(1.0 + strategy_return, axis=0)
    drawdown = equity / np.maximum.accumulate(equity, axis=0) - 1.0
    trades = np.cumsum(turnover > 0, axis=0)
    pad = ~valid
    for grid in (position, turnover, strategy_return, equity, drawdown):
        grid[pad] = np.nan
    return BacktestResult(position, asset_return, turnover, strategy_return, equity, drawdown,
                          np.where(pad, -1, trades))


def to_grid(frame: pl.DataFrame) -> tuple[np.ndarray, list[str], np.ndarray, np.ndarray]:
    """``frame`` (symbol, time, adj_close_price; sorted by symbol, time) as a grid.

    Returns the grid, the column symbols, and for every row of ``frame`` its (row, column) in the
    grid, so results can be read back in the frame's order.
    """
    symbols_col = frame["symbol"].to_numpy()
    n = len(frame)
    if n == 0:
        return np.empty((0, 0)), [], np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, symbols_col[1:] != symbols_col[:-1]])
    lengths = np.diff(np.r_[starts, n])
    col = np.repeat(np.arange(starts.size), lengths)
    row = np.arange(n) - np.repeat(starts, lengths)
    grid = np.full((int(lengths.max()), starts.size), np.nan)
    grid[row, col] = frame["adj_close_price"].to_numpy()
    return grid, [str(s) for s in symbols_col[starts]], row, col


def backtest_frame(frame: pl.DataFrame, kind: str, parameters: Mapping[str, Any], cost_bps: float) -> pl.DataFrame:
    """One row per input row (symbol per bar): position, turnover, return, equity, drawdown, trades."""
    frame = frame.sort("symbol", "time")
    grid, _symbols, row, col = to_grid(frame)
    if grid.size == 0:
        return frame.with_columns(*(pl.lit(None, pl.Float64).alias(c) for c in
                                    ("position", "turnover", "daily_return", "equity", "drawdown")),
                                  pl.lit(None, pl.Int32).alias("trades"))
    result = run_backtest(grid, target_positions(kind, parameters, grid), cost_bps)
    return frame.with_columns(
        pl.Series("position", result.position[row, col]),
        pl.Series("turnover", result.turnover[row, col]),
        pl.Series("daily_return", result.strategy_return[row, col]),
        pl.Series("equity", result.equity[row, col]),
        pl.Series("drawdown", result.drawdown[row, col]),
        pl.Series("trades", result.trades[row, col].astype(np.int32)),
    )
