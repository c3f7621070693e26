"""Undo Yahoo's split adjustment, so that what we store is what traded.

Yahoo's ``Open/High/Low/Close``, ``Volume`` and ``Dividends`` are split-adjusted even with
``auto_adjust=False`` (that flag only concerns dividends, through ``Adj Close``), and Yahoo rewrites
the whole history after every new split. A bar is therefore shown divided by every split whose ex-date
came after it. With the symbol's complete split history (new shares per old share, ``ratio``)::

    factor(day)    = product of the ratios of the splits with ex_date > day
    raw price      = shown price * factor(bar date)
    raw volume     = round(shown volume / factor(bar date))
    raw dividend   = shown dividend * factor(ex_date)

A bar on a split's ex-date already trades at the new price, hence the strict ``>``. Splits before the
bar never enter its factor, so the history that matters is the one *as of the response*: bars and
split history must come from the same moment (they are fetched and cached together), otherwise a split
landing between the two fetches would be applied to bars that do not show it yet.

The raw values are as precise as Yahoo's figures (float32, about seven significant digits), so a later
re-adjustment can move a stored value only in that last digit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import polars as pl

SPLIT_HISTORY = {"ex_date": pl.Date, "ratio": pl.Float64}


def split_history(pairs: Iterable[tuple[date, float]] | pl.DataFrame) -> pl.DataFrame:
    """A split history frame (``ex_date``, ``ratio``) from pairs or from any frame with those columns."""
    if isinstance(pairs, pl.DataFrame):
        frame = pairs.select(pl.col("ex_date").cast(pl.Date), pl.col("ratio").cast(pl.Float64))
    else:
        rows = [(d if isinstance(d, date) else date.fromisoformat(str(d)[:10]), float(r)) for d, r in pairs]
        frame = pl.DataFrame(rows, schema=SPLIT_HISTORY, orient="row")
    frame = frame.filter(pl.col("ratio").is_not_null() & pl.col("ratio").is_not_nan() & (pl.col("ratio") > 0))
    # A ratio of 1 changes nothing; dropping it keeps the history minimal and the comparisons exact.
    return frame.filter(pl.col("ratio") != 1.0).unique("ex_date", keep="last").sort("ex_date")


def splits_from_history_frame(frame: pd.DataFrame, exchange_tz: str) -> list[tuple[str, float]]:
    """The non-zero ``Stock Splits`` of a ``Ticker.history(actions=True)`` frame as (ISO ex-date, ratio)."""
    if "Stock Splits" not in frame.columns:
        raise ValueError(f"history frame has no 'Stock Splits' column (has {', '.join(map(str, frame.columns))})")
    ratios = pd.to_numeric(frame["Stock Splits"], errors="coerce")
    chosen = ratios[ratios.notna() & (ratios != 0)]
    index = chosen.index
    if isinstance(index, pd.DatetimeIndex) and index.tz is not None:
        index = index.tz_convert(exchange_tz)
    return [(pd.Timestamp(ts).date().isoformat(), float(r)) for ts, r in zip(index, chosen.to_numpy(), strict=True)]


def factors(days: pl.Series, history: pl.DataFrame) -> pl.Series:
    """For each date in ``days``, the product of the ratios of the splits strictly after it."""
    if history.height == 0:
        return pl.Series("factor", np.ones(len(days)), dtype=pl.Float64)
    ex = history["ex_date"].to_numpy().astype("datetime64[D]")
    ratios = history["ratio"].to_numpy()
    # suffix[i] = product of ratios[i:], with suffix[n] = 1 for days after the last split.
    suffix = np.append(np.cumprod(ratios[::-1])[::-1], 1.0)
    first_later = np.searchsorted(ex, days.to_numpy().astype("datetime64[D]"), side="right")
    return pl.Series("factor", suffix[first_later], dtype=pl.Float64)


def unadjust_prices(prices: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    """PRICE_HISTORY rows shown split-adjusted → raw, by each bar's trading date."""
    if prices.height == 0 or history.height == 0:
        return prices
    factor = factors(prices["date"], history)
    return prices.with_columns(
        *[(pl.col(c) * factor).alias(c) for c in ("open_price", "high_price", "low_price", "close_price")],
        (pl.col("volume").cast(pl.Float64) / factor).round(0).cast(pl.Int64).alias("volume"),
    )


def unadjust_dividends(dividends: pl.DataFrame, history: pl.DataFrame) -> pl.DataFrame:
    """DIVIDENDS rows shown split-adjusted → the cash actually paid per share held on the ex-date."""
    if dividends.height == 0 or history.height == 0:
        return dividends
    return dividends.with_columns((pl.col("amount") * factors(dividends["ex_date"], history)).alias("amount"))


def window_split_mismatch(
    window: pl.DataFrame, history: pl.DataFrame, start: datetime, end: datetime, exchange_tz: str
) -> str | None:
    """Why the splits a window response carried disagree with the split history, or None if they agree.

    Both are ``ex_date``/``ratio`` frames. A split belongs to ``[start, end)`` when its ex-date's local
    midnight does, the stamp the splits table uses. A disagreement means the two responses describe
    different moments, so the window's bars cannot be un-adjusted with that history.
    """
    zone = ZoneInfo(exchange_tz)

    def inside(frame: pl.DataFrame) -> set[tuple[date, float]]:
        return {(d, round(r, 9)) for d, r in split_history(frame).iter_rows()
                if start <= datetime.combine(d, time(0), zone) < end}

    got, want = inside(window), inside(history)
    if got == want:
        return None
    return f"the window's Stock Splits {_describe(got)} disagree with the split history's {_describe(want)}"


def _describe(pairs: set[tuple[date, float]]) -> str:
    return "[" + ", ".join(f"{d} x{r:g}" for d, r in sorted(pairs)) + "]" if pairs else "[none]"
