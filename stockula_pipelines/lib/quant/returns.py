"""Split- and dividend-adjusted closes, daily returns and rolling volatility, per symbol.

Back-adjustment convention (the one Yahoo-style "adjusted close" uses):

* a cash dividend D with ex-date E multiplies every price strictly before E by
  ``1 - D / C``, where C is the close on the last trading day before E;
* a split with ratio R (new shares per old: 4.0 for 4-for-1, 0.1 for 1-for-10) divides every price
  strictly before its ex-date by R;
* factors compound, so the latest price is never changed and history is restated in today's terms.

Adjusted closes therefore depend on every event after a row's date and change whenever a new event is
loaded; returns and volatility do not, because an event's factor cancels in the ratio of two prices on
the same side of it.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

TRADING_DAYS_PER_YEAR = 252


def _as_days(dates) -> np.ndarray:
    if hasattr(dates, "to_numpy"):
        dates = dates.to_numpy()
    return np.asarray(dates, dtype="datetime64[D]")


def adjustment_factors(dates, closes, dividends=None, splits=None, *, symbol: str = "?") -> np.ndarray:
    """Multiplicative factor per bar such that ``adjusted = close * factor``.

    ``dates`` are the bars' trading dates, strictly increasing; ``closes`` the raw closes.
    ``dividends`` is a sequence of ``(ex_date, amount)`` and ``splits`` of ``(ex_date, ratio)`` (or a
    polars frame with ``ex_date`` and ``amount``/``ratio`` columns). Events dated on or before the first
    bar change nothing. For an ex-date beyond the last bar, the last close stands in for "the close
    before E" (exact once that bar is the day before E). Raises ValueError naming the symbol, date and
    rule for unsorted dates, a negative dividend, a dividend not below the previous close, or a
    non-positive split ratio.
    """
    days = _as_days(dates)
    closes = np.asarray(closes, dtype=np.float64)
    if days.shape != closes.shape or days.ndim != 1:
        raise ValueError(f"{symbol}: dates and closes must be 1-D and of equal length")
    if days.size > 1 and not (np.diff(days) > np.timedelta64(0, "D")).all():
        bad = int(np.flatnonzero(np.diff(days) <= np.timedelta64(0, "D"))[0]) + 1
        raise ValueError(f"{symbol} {days[bad]}: bar dates must be strictly increasing")
    step = np.ones(days.size)  # step[i] multiplies bars 0..i
    for ex, amount in _events(dividends, "amount"):
        pos = int(np.searchsorted(days, ex, side="left")) - 1
        if amount < 0 or not math.isfinite(amount):
            raise ValueError(f"{symbol} {ex}: dividend amount {amount} must be a finite number >= 0")
        # The close before E; skip back over missing closes rather than poisoning all earlier history.
        while pos >= 0 and not closes[pos] > 0:
            pos -= 1
        if pos < 0:
            continue
        factor = 1.0 - amount / closes[pos]
        if not factor > 0:
            raise ValueError(
                f"{symbol} {ex}: dividend {amount} must be below the previous close {closes[pos]} ({days[pos]})"
            )
        step[pos] *= factor
    for ex, ratio in _events(splits, "ratio"):
        if not (ratio > 0 and math.isfinite(ratio)):
            raise ValueError(f"{symbol} {ex}: split ratio {ratio} must be a finite number > 0")
        pos = int(np.searchsorted(days, ex, side="left")) - 1
        if pos >= 0:
            step[pos] /= ratio
    # factor[i] = product of step[j] for j >= i: every event whose ex-date is after bar i.
    return np.cumprod(step[::-1])[::-1].copy()


def _events(events, value_col: str):
    if events is None:
        return []
    if isinstance(events, pl.DataFrame):
        return list(
            zip(_as_days(events["ex_date"]), events[value_col].cast(pl.Float64).to_list(), strict=True)
        )
    return [(np.datetime64(ex, "D"), float(v)) for ex, v in events]


def adjusted_close(dates, closes, dividends=None, splits=None, *, symbol: str = "?") -> np.ndarray:
    """Back-adjusted closes; see :func:`adjustment_factors`."""
    return np.asarray(closes, dtype=np.float64) * adjustment_factors(
        dates, closes, dividends, splits, symbol=symbol
    )


def daily_returns(adj_close, consecutive=None) -> np.ndarray:
    """Simple returns ``p[t] / p[t-1] - 1``; NaN on the first bar (and next to a missing close).

    ``consecutive[t]`` (optional, bool) says whether bar ``t-1`` is the session right before bar
    ``t``; where it is not (a bar is missing in between) the return spans several days and is NaN
    rather than passing for a one-day return.
    """
    p = np.asarray(adj_close, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    with np.errstate(all="ignore"):
        out[1:] = p[1:] / p[:-1] - 1.0
    if consecutive is not None:
        out[~np.asarray(consecutive, dtype=bool)] = np.nan
    return out


def consecutive_sessions(dates, sessions) -> np.ndarray:
    """``out[t]``: bar ``t-1`` is the trading session immediately before bar ``t`` (False for t=0).

    ``sessions`` are the exchange's trading days (sorted); a date not among them counts as a gap.
    """
    days = _as_days(dates)
    cal = np.asarray(sessions, dtype="datetime64[D]")
    pos = np.searchsorted(cal, days)
    known = (pos < cal.size) & (cal[np.minimum(pos, cal.size - 1)] == days)
    out = np.zeros(days.shape, dtype=bool)
    out[1:] = known[1:] & known[:-1] & (pos[1:] - pos[:-1] == 1)
    return out


def rolling_volatility(adj_close, window: int = 21, consecutive=None) -> np.ndarray:
    """Annualised volatility: sample std (ddof=1) of the last ``window`` daily log returns * sqrt(252).

    NaN until ``window`` returns exist (i.e. for the first ``window`` bars) and wherever a return in the
    window is missing.
    """
    if window < 2:
        raise ValueError(f"rolling_volatility: window must be >= 2, got {window}")
    p = np.asarray(adj_close, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    if p.size <= window:
        return out
    with np.errstate(all="ignore"):
        log_ret = np.diff(np.log(p))  # log_ret[k] is the return into bar k+1
    if consecutive is not None:
        log_ret[~np.asarray(consecutive, dtype=bool)[1:]] = np.nan  # a multi-day return is no daily sample
    windows = np.lib.stride_tricks.sliding_window_view(log_ret, window)
    out[window:] = windows.std(axis=1, ddof=1) * math.sqrt(TRADING_DAYS_PER_YEAR)
    return out


def lookback_start(dates, first_date, window: int = 21):
    """The earliest bar date a caller must include to compute metrics correctly from ``first_date`` on.

    That is ``window + 1`` bars before ``first_date`` (``window`` returns need ``window + 1`` prices), or
    the first bar if there are fewer.
    """
    days = _as_days(dates)
    pos = int(np.searchsorted(days, np.datetime64(first_date, "D"), side="left"))
    return days[max(pos - window - 1, 0)] if days.size else None


_OUT_SCHEMA = {
    "symbol": pl.String,
    "date": pl.Date,
    "adj_close_price": pl.Float64,
    "daily_return": pl.Float64,
    "volatility": pl.Float64,
}


def compute_price_metrics(
    df: pl.DataFrame,
    dividends: pl.DataFrame | None = None,
    splits: pl.DataFrame | None = None,
    window: int = 21,
    sessions=None,
) -> pl.DataFrame:
    """Adjusted close, daily return and rolling volatility for many symbols' daily bars.

    ``df`` has columns ``symbol, date, close_price`` (any order of rows); ``dividends`` has
    ``symbol, ex_date, amount`` and ``splits`` ``symbol, ex_date, ratio`` (the normalised schemas).
    Returns ``symbol, date, adj_close_price, daily_return, volatility`` sorted by symbol and date, with
    null where a value is undefined (first bar, window not yet full, missing close).

    To update from some date D without recomputing all history, pass bars from ``window + 1`` bars before
    D (see :func:`lookback_start`) and discard output rows before D: those lookback rows lack their own
    lookback. Pass every event after the first bar passed; adjusted closes are as of the events given.
    With ``sessions`` (the exchange's trading days), a return across a missing bar is null and no
    volatility window includes it.
    """
    missing = [c for c in ("symbol", "date", "close_price") if c not in df.columns]
    if missing:
        raise ValueError(f"compute_price_metrics: frame lacks column(s) {', '.join(missing)}")
    frame = df.select("symbol", pl.col("date").cast(pl.Date), pl.col("close_price").cast(pl.Float64))
    frame = frame.sort("symbol", "date")
    div_by = _group_events(dividends, "amount")
    split_by = _group_events(splits, "ratio")
    parts = []
    for (symbol,), part in frame.group_by("symbol", maintain_order=True):
        dates = part["date"]
        closes = part["close_price"].fill_null(np.nan).to_numpy()
        adj = adjusted_close(dates, closes, div_by.get(symbol), split_by.get(symbol), symbol=symbol)
        consecutive = consecutive_sessions(dates, sessions) if sessions is not None else None
        parts.append(
            pl.DataFrame(
                {
                    "symbol": part["symbol"],
                    "date": dates,
                    "adj_close_price": adj,
                    "daily_return": daily_returns(adj, consecutive),
                    "volatility": rolling_volatility(adj, window, consecutive),
                },
                schema=_OUT_SCHEMA,
            )
        )
    if not parts:
        return pl.DataFrame(schema=_OUT_SCHEMA)
    return pl.concat(parts).with_columns(
        pl.col(c).fill_nan(None) for c in _OUT_SCHEMA if _OUT_SCHEMA[c] == pl.Float64
    )


def _group_events(events: pl.DataFrame | None, value_col: str) -> dict[str, pl.DataFrame]:
    if events is None or events.is_empty():
        return {}
    events = events.select("symbol", pl.col("ex_date").cast(pl.Date), pl.col(value_col).cast(pl.Float64))
    return {sym: part for (sym,), part in events.group_by("symbol")}
