"""Price paths of the synthetic source: daily bars per symbol and a minute-level bridge inside each day.

Daily path. Log prices follow a Brownian motion with an overnight gap (20% of the daily variance)
and an open-to-close move (80%), pulled back towards a trend of half the symbol's drift at
:data:`MEAN_REVERSION` per year: a pure geometric Brownian motion wanders off to fractions of a cent
or to hundreds of thousands over the 27 years since 2000 that the partitions can span, which no
listed stock does for long. The path is built in *post-split* units and converted to
raw prices with the cumulative factor of the splits still to come, so on a split's ex-date the raw
price drops by the ratio and raw volume rises by it. On a dividend's ex-date the open drops by the
cash amount (the drop multiplies every later price). Random numbers come in blocks of 256 sessions,
each from its own stream keyed by (seed, symbol, block), so a day's bar never depends on how far the
path was extended.

Intraday path. Every (symbol, day) draws its own stream; minute closes form a Brownian bridge from
the day's open to its close, wicks are added, and a monotone piecewise-linear map in log space
stretches the excursions above max(open, close) and below min(open, close) so that the highest high
is the day's high and the lowest low is the day's low, leaving open and close untouched. Coarser
bars aggregate the minute bars, so every interval agrees with the daily bar and with every other.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .synthetic_universe import DAILY, INTRADAY, rng_for

BLOCK = 256
MEAN_REVERSION = 0.35  # per year: deviations from the trend decay with a half-life of about two years
PRICE_DECIMALS = 4
_TRADING_DAYS_PER_YEAR = 252.0


@dataclass(frozen=True)
class DailyPath:
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # int64
    dividend_idx: np.ndarray  # path index of each ex-date
    dividend_amount: np.ndarray  # raw cash per share


def _draws(seed: int, key: int, n: int) -> np.ndarray:
    blocks = [rng_for(seed, key, DAILY, b).standard_normal((5, BLOCK)) for b in range(-(-n // BLOCK))]
    return np.concatenate(blocks, axis=1)[:, :n]


def daily_path(
    seed: int,
    key: int,
    *,
    mu: float,
    sigma: float,
    start_price: float,
    base_volume: float,
    split_factor: np.ndarray,
    dividend_idx: np.ndarray,
    dividend_yield: float,
    dividend_year: np.ndarray,
) -> DailyPath:
    """Bars for ``len(split_factor)`` sessions; ``split_factor[i]`` = product of ratios of splits after i."""
    n = len(split_factor)
    z_gap, z_ret, z_hi, z_lo, z_vol = _draws(seed, key, n)
    dt = 1.0 / _TRADING_DAYS_PER_YEAR
    sig_o, sig_i = sigma * np.sqrt(0.2 * dt), sigma * np.sqrt(0.8 * dt)
    gap = -0.5 * sig_o**2 + sig_o * z_gap
    gap[0] = 0.0
    ret = mu * dt - 0.5 * sig_i**2 + sig_i * z_ret
    start = np.log(start_price / split_factor[0])
    trend = start + 0.5 * mu * dt * np.arange(n)
    pull = MEAN_REVERSION * dt
    log_close = np.empty(n)
    level = start
    for i in range(n):  # sequential by nature: each day's pull depends on the day before
        ret[i] -= pull * (level - trend[i])
        level = level + gap[i] + ret[i]
        log_close[i] = level
    log_open = log_close - ret

    amounts = np.zeros(len(dividend_idx))
    if len(dividend_idx):
        # Amounts are fixed for a calendar year (set from the price before its first ex-date), like
        # a board declaring a regular dividend; each ex-date lowers every later price by the cash.
        year_amount: dict[int, float] = {}
        for j, (idx, year) in enumerate(zip(dividend_idx, dividend_year, strict=True)):
            # log_close already carries every earlier drop (they are applied in place below).
            prev_close = np.exp(log_close[idx - 1])
            if year not in year_amount:
                year_amount[year] = max(0.01, round(dividend_yield / 4 * prev_close * split_factor[idx - 1], 2))
            amounts[j] = year_amount[year]
            expected_open = prev_close * np.exp(gap[idx])
            factor = max(1.0 - amounts[j] / split_factor[idx] / expected_open, 0.5)
            log_open[idx:] += np.log(factor)
            log_close[idx:] += np.log(factor)

    wick = 0.5 * sig_i
    o = np.exp(log_open) * split_factor
    c = np.exp(log_close) * split_factor
    h = np.maximum(o, c) * np.exp(np.abs(z_hi) * wick + 1e-4)
    lo = np.minimum(o, c) * np.exp(-(np.abs(z_lo) * wick + 1e-4))
    activity = 1.0 + 0.5 * np.abs(ret) / sig_i
    vol = np.maximum(base_volume * np.exp(0.35 * z_vol) * activity / split_factor, 10_000.0)
    o, h, lo, c = (np.round(a, PRICE_DECIMALS) for a in (o, h, lo, c))
    return DailyPath(o, h, lo, c, vol.astype(np.int64), np.asarray(dividend_idx, np.int64), amounts)


@dataclass(frozen=True)
class MinuteBars:
    """Flat minute bars of many (symbol, day) segments; ``offsets[k]`` = first bar of segment k."""

    offsets: np.ndarray
    lengths: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray


def minute_bars(
    seed: int,
    keys: np.ndarray,
    ordinals: np.ndarray,
    lengths: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
) -> MinuteBars:
    """Minute bars for segments k with ``lengths[k]`` minutes matching daily bar (o, h, lo, c, v)[k]."""
    lengths = np.asarray(lengths, np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    total = int(lengths.sum())
    z = np.empty((4, total))
    for k in range(len(lengths)):
        a, n = offsets[k], lengths[k]
        z[:, a : a + n] = rng_for(seed, int(keys[k]), INTRADAY, int(ordinals[k])).standard_normal((4, n))
    seg = np.repeat(np.arange(len(lengths)), lengths)
    pos = np.arange(total) - offsets[seg] + 1  # 1..n inside each segment
    n_rep = lengths[seg].astype(float)
    frac = pos / n_rep

    lO, lC, lH, lL = (np.log(x)[seg] for x in (o, c, h, lo))
    scale = ((np.log(h) - np.log(lo)) / (2.0 * np.sqrt(lengths)) + 1e-6)[seg]
    walk = np.cumsum(z[0])
    walk -= np.repeat(walk[offsets] - z[0][offsets], lengths)
    walk_end = walk[offsets + lengths - 1][seg]
    x_close = lO + frac * (lC - lO) + scale * (walk - frac * walk_end)
    x_open = np.empty_like(x_close)
    x_open[1:] = x_close[:-1]
    x_open[offsets] = lO[offsets]
    x_hi = np.maximum(x_open, x_close) + 0.3 * scale * np.abs(z[1])
    x_lo = np.minimum(x_open, x_close) - 0.3 * scale * np.abs(z[2])

    top, bottom = np.maximum(lO, lC), np.minimum(lO, lC)
    mx = np.maximum.reduceat(x_hi, offsets)[seg]
    mn = np.minimum.reduceat(x_lo, offsets)[seg]
    up = (lH - top) / np.maximum(mx - top, 1e-12)
    down = (bottom - lL) / np.maximum(bottom - mn, 1e-12)

    def stretch(x: np.ndarray) -> np.ndarray:
        y = np.where(x > top, top + (x - top) * up, x)
        y = np.where(x < bottom, bottom - (bottom - x) * down, y)
        return np.round(np.exp(y), PRICE_DECIMALS)

    H, L = h[seg], lo[seg]
    bo, bc = np.clip(stretch(x_open), L, H), np.clip(stretch(x_close), L, H)
    bo[offsets] = o
    bc[offsets + lengths - 1] = c
    bh = np.maximum(np.clip(stretch(x_hi), L, H), np.maximum(bo, bc))
    bl = np.minimum(np.clip(stretch(x_lo), L, H), np.minimum(bo, bc))
    # Rounding can leave the extreme a tick short of the day's high/low: pin it exactly.
    bh = np.where(bh >= np.maximum.reduceat(bh, offsets)[seg], H, bh)
    bl = np.where(bl <= np.minimum.reduceat(bl, offsets)[seg], L, bl)

    # U-shaped intraday volume profile; the remainder of the integer split goes to the closing minute.
    weight = (1.0 + 3.0 * (2.0 * frac - 1.0) ** 2) * np.exp(0.4 * z[3])
    weight /= np.add.reduceat(weight, offsets)[seg]
    bv = np.floor(weight * v[seg]).astype(np.int64)
    bv[offsets + lengths - 1] += v - np.add.reduceat(bv, offsets)
    return MinuteBars(offsets, lengths, bo, bh, bl, bc, bv)


def aggregate(bars: MinuteBars, minutes: int) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """Aggregate minute bars into ``minutes`` bars that start at the open; the last may be shorter.

    Returns (segment of each bar, minute offset of each bar inside its day, (o, h, l, c, v)).
    """
    if minutes == 1:
        seg = np.repeat(np.arange(len(bars.lengths)), bars.lengths)
        local = np.arange(len(seg)) - bars.offsets[seg]
        return seg, local, (bars.open, bars.high, bars.low, bars.close, bars.volume)
    per_day = -(-bars.lengths // minutes)
    seg = np.repeat(np.arange(len(bars.lengths)), per_day)
    first = np.concatenate([[0], np.cumsum(per_day)[:-1]])
    local = (np.arange(len(seg)) - first[seg]) * minutes
    starts = bars.offsets[seg] + local
    ends = np.minimum(starts + minutes, bars.offsets[seg] + bars.lengths[seg]) - 1
    return seg, local, (
        bars.open[starts],
        np.maximum.reduceat(bars.high, starts),
        np.minimum.reduceat(bars.low, starts),
        bars.close[ends],
        np.add.reduceat(bars.volume, starts),
    )
