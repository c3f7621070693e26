"""Option chains of the synthetic source, priced with Black-Scholes-Merton off a volatility smile.

``source_implied_volatility`` is exactly the smile volatility the model price (the mid) was computed
with, and the quoted bid/ask are cents around that mid, so an implied-volatility solver run on the
mid recovers the smile. Time to expiry is ACT/365 from the snapshot time (the session's close) to
16:00 exchange time on the expiration date; ``r`` is 4% and ``q`` is the symbol's dividend yield.
"""

from __future__ import annotations

import calendar as pycal
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np

from stockula_pipelines.lib.calendar import TradingCalendar
from stockula_pipelines.lib.quant.black_scholes import bsm_price

from .synthetic_universe import OPTIONS, rng_for

RISK_FREE_RATE = 0.04
_STRIKE_STEPS = (0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0)
_SECONDS_PER_YEAR = 365.0 * 86400.0
_EXPIRY_CLOSE = time(16, 0)


def _third_friday(year: int, month: int) -> date:
    first_weekday, _ = pycal.monthrange(year, month)
    return date(year, month, 1 + (4 - first_weekday) % 7 + 14)


def _roll_back(cal: TradingCalendar, day: date) -> date:
    # Expiries falling on an exchange holiday (Good Friday, Juneteenth) move to the trading day before.
    return day if cal.is_trading_day(day) else cal.previous_trading_day(day)


def expiries(cal: TradingCalendar, snapshot: date) -> list[date]:
    """Listed expiries after ``snapshot``: the next four weeklies, three monthlies, quarterlies to a year."""
    fridays = [snapshot + timedelta(days=(4 - snapshot.weekday()) % 7 + 7 * w) for w in range(5)]
    out = {_roll_back(cal, f) for f in fridays if f > snapshot}
    out = set(sorted(out)[:4])
    for ahead in range(0, 13):
        year, month = snapshot.year + (snapshot.month - 1 + ahead) // 12, (snapshot.month - 1 + ahead) % 12 + 1
        if ahead <= 3 or month % 3 == 0:
            third = _roll_back(cal, _third_friday(year, month))
            if snapshot < third <= snapshot + timedelta(days=366):
                out.add(third)
    return sorted(out)


def year_fraction(snapshot_time: datetime, expiration: date, cal: TradingCalendar) -> float:
    """ACT/365 years from ``snapshot_time`` to 16:00 exchange time on ``expiration``."""
    expiry = datetime.combine(expiration, _EXPIRY_CLOSE, tzinfo=cal.tz)
    return (expiry - snapshot_time).total_seconds() / _SECONDS_PER_YEAR


def strike_grid(spot: float) -> np.ndarray:
    """Strikes from 0.7x to 1.3x spot on a listed-looking step (about 20 per expiry)."""
    step = next((s for s in _STRIKE_STEPS if s >= 0.03 * spot), _STRIKE_STEPS[-1])
    lo, hi = np.ceil(0.7 * spot / step), np.floor(1.3 * spot / step)
    return np.arange(lo, hi + 1) * step


def occ_symbol(root: str, expiration: date, is_call: bool, strike: float) -> str:
    return f"{root}{expiration:%y%m%d}{'C' if is_call else 'P'}{round(strike * 1000):08d}"


@dataclass(frozen=True)
class ChainRows:
    """One side of one symbol's chain, as column arrays."""

    contract_symbol: list[str]
    expiration: np.ndarray  # datetime64[D]
    strike: np.ndarray
    last_price: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    volume: np.ndarray
    open_interest: np.ndarray
    iv: np.ndarray
    itm: np.ndarray


def smile(atm: float, skew: float, curvature: float, term_slope: float, log_moneyness, t) -> np.ndarray:
    base = atm * (1.0 + term_slope * np.exp(-t / 0.25))
    return np.maximum(base + skew * log_moneyness + curvature * log_moneyness**2, 0.05)


def chain(
    seed: int,
    key: int,
    symbol: str,
    cal: TradingCalendar,
    snapshot: date,
    snapshot_time: datetime,
    spot: float,
    *,
    atm_vol: float,
    dividend_yield: float,
    skew: float,
    curvature: float,
    term_slope: float,
) -> tuple[ChainRows, ChainRows]:
    exps = expiries(cal, snapshot)
    strikes = strike_grid(spot)
    K = np.tile(strikes, len(exps))
    exp_days = np.repeat(np.array(exps, dtype="datetime64[D]"), len(strikes))
    T = np.repeat([year_fraction(snapshot_time, e, cal) for e in exps], len(strikes))
    m = np.log(K / spot)
    sigma = smile(atm_vol, skew, curvature, term_slope, m, T)
    rng = rng_for(seed, key, OPTIONS, snapshot.toordinal())
    # Liquidity peaks at the money and in the front expiries.
    liquidity = np.exp(-((m / 0.08) ** 2)) * np.exp(-T / 0.3) + 0.02
    sides = []
    for is_call in (True, False):
        mid = bsm_price(spot, K, T, RISK_FREE_RATE, dividend_yield, sigma, is_call)
        half = np.maximum(0.01, 0.03 * mid)
        bid = np.floor((mid - half) * 100.0) / 100.0
        bid = np.where(bid >= 0.01, bid, 0.0)
        ask = np.maximum(np.ceil((mid + half) * 100.0) / 100.0, 0.01)
        last = np.clip(np.round(mid * np.exp(0.02 * rng.standard_normal(len(K))), 2), np.maximum(bid, 0.01), ask)
        volume = rng.poisson(3000.0 * liquidity)
        open_interest = rng.poisson(20000.0 * liquidity) + volume
        sides.append(
            ChainRows(
                contract_symbol=[occ_symbol(symbol, e, is_call, k) for e, k in zip(exp_days.tolist(), K.tolist(), strict=True)],
                expiration=exp_days,
                strike=K,
                last_price=last,
                bid=bid,
                ask=ask,
                volume=volume.astype(np.int64),
                open_interest=open_interest.astype(np.int64),
                iv=sigma,
                itm=(K < spot) if is_call else (K > spot),
            )
        )
    return sides[0], sides[1]
