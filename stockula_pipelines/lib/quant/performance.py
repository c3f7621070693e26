"""Performance statistics of a daily return series, as pure functions.

Conventions (the same as empyrical's, which the tests use as an oracle, and as
dbt_like_models/marts/strategy_summary.sql): 252 periods a year, a zero risk-free rate and zero
required return, sample standard deviation (ddof=1), compounding from a starting value of 1.0 that
itself counts as a peak for the drawdown.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date

import numpy as np

PERIODS_PER_YEAR = 252


def _r(returns) -> np.ndarray:
    return np.asarray(returns, dtype=np.float64)


def cagr(returns) -> float:
    """Compound annual growth rate: ``prod(1 + r) ** (252 / n) - 1``."""
    r = _r(returns)
    if r.size == 0:
        return float("nan")
    return float(np.prod(1.0 + r) ** (PERIODS_PER_YEAR / r.size) - 1.0)


def annual_volatility(returns) -> float:
    r = _r(returns)
    if r.size < 2:
        return float("nan")
    return float(np.std(r, ddof=1) * np.sqrt(PERIODS_PER_YEAR))


def sharpe_ratio(returns) -> float:
    r = _r(returns)
    if r.size < 2:
        return float("nan")
    sd = np.std(r, ddof=1)
    return float(np.mean(r) / sd * np.sqrt(PERIODS_PER_YEAR)) if sd > 0 else float("nan")


def downside_risk(returns) -> float:
    """Annualised root mean square of the negative returns (zero for the others)."""
    r = _r(returns)
    if r.size == 0:
        return float("nan")
    return float(np.sqrt(np.mean(np.minimum(r, 0.0) ** 2)) * np.sqrt(PERIODS_PER_YEAR))


def sortino_ratio(returns) -> float:
    r = _r(returns)
    dr = downside_risk(r)
    if not dr > 0:
        return float("nan")
    return float(np.mean(r) * PERIODS_PER_YEAR / dr)


@dataclass(frozen=True)
class Drawdown:
    depth: float  # 0 = never below the peak, -0.2 = 20 % below
    peak: int | None  # index of the bar the peak was set on (None: the starting value)
    trough: int | None
    recovery: int | None  # first bar back at the peak (None: not recovered yet)


def max_drawdown(returns) -> Drawdown:
    """The deepest fall of the compounded equity below its running peak, and where it happened."""
    r = _r(returns)
    if r.size == 0:
        return Drawdown(float("nan"), None, None, None)
    equity = np.r_[1.0, np.cumprod(1.0 + r)]
    peak = np.maximum.accumulate(equity)
    dd = equity / peak - 1.0
    trough = int(np.argmin(dd))
    if dd[trough] >= 0:
        return Drawdown(0.0, None, None, None)
    peak_at = int(np.argmax(equity[: trough + 1]))
    later = np.flatnonzero(equity[trough:] >= equity[peak_at])
    recovery = int(later[0]) + trough if later.size else None
    # Index 0 of ``equity`` is the starting value, before the first return.
    return Drawdown(float(dd[trough]), peak_at - 1 if peak_at else None, trough - 1,
                    recovery - 1 if recovery is not None else None)


def hit_rate(returns) -> float:
    """Share of the days with a non-zero return that were positive (flat days do not count)."""
    r = _r(returns)
    active = r[r != 0]
    return float(np.mean(active > 0)) if active.size else float("nan")


def annual_turnover(turnover) -> float:
    """Average daily turnover times 252: how many times a year the book is traded over."""
    t = _r(turnover)
    return float(np.mean(t) * PERIODS_PER_YEAR) if t.size else float("nan")


@dataclass(frozen=True)
class Statistics:
    days: int
    cagr: float
    annual_volatility: float
    sharpe_ratio: float
    sortino_ratio: float
    max_drawdown: float
    max_drawdown_peak: date | None
    max_drawdown_trough: date | None
    hit_rate: float
    annual_turnover: float

    def as_dict(self) -> dict:
        return asdict(self)


def statistics(returns, turnover, dates) -> Statistics:
    """Every statistic of one series; ``dates[i]`` is the date of ``returns[i]``."""
    dd = max_drawdown(returns)

    def at(i: int | None) -> date | None:
        return dates[i] if i is not None else None

    return Statistics(
        days=int(_r(returns).size), cagr=cagr(returns), annual_volatility=annual_volatility(returns),
        sharpe_ratio=sharpe_ratio(returns), sortino_ratio=sortino_ratio(returns), max_drawdown=dd.depth,
        max_drawdown_peak=at(dd.peak), max_drawdown_trough=at(dd.trough), hit_rate=hit_rate(returns),
        annual_turnover=annual_turnover(turnover),
    )
