"""The normaliser (``lib/sources/normalize.py``) over generated yfinance-shaped input: any index (aware
in any zone, naive, not a date at all, unsorted, duplicated), any values (NaN, infinity, huge, zero,
negative, strings, None), columns missing or in another case. It returns frames of the schemas, with
every input row accounted for, or refuses with :class:`NormalizationError` (a ValueError, naming the
symbol); nothing else escapes."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import polars as pl
import pytest
from bad_input import BAD_FLOATS, SYMBOLS, TEXTS
from hypothesis import given
from hypothesis import strategies as st

from stockula_pipelines.lib import schemas
from stockula_pipelines.lib.sources.normalize import (
    NormalizationError,
    history_from_pandas,
    option_chain_frame,
    stock_from_info,
)

pytestmark = pytest.mark.property

VALUES = st.one_of(st.none(), st.sampled_from(BAD_FLOATS), st.floats(0.01, 1e4), st.integers(-5, 10**12),
                   st.sampled_from(["12.5", "n/a", ""]))
COLUMNS = ["Open", "High", "Low", "Close", "Volume", "Dividends", "Stock Splits", "Adj Close"]
ZONES = ["America/New_York", "UTC", "Asia/Tokyo", None]


@st.composite
def yahoo_frames(draw) -> pd.DataFrame:
    n = draw(st.integers(0, 8))
    stamps = draw(st.lists(st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1)),
                           min_size=n, max_size=n))
    if stamps and draw(st.booleans()):
        stamps.append(stamps[0])  # yfinance's doubled last bar, or a duplicated one anywhere
    zone = draw(st.sampled_from(ZONES))
    index = pd.DatetimeIndex(stamps, name=draw(st.sampled_from(["Date", "Datetime"])))
    if zone is not None:
        index = index.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    if draw(st.integers(0, 9)) == 0:
        index = pd.RangeIndex(len(stamps))  # not timestamps at all
    columns = [c for c in COLUMNS if draw(st.integers(0, 9)) > 0]  # now and then one is missing
    if draw(st.booleans()):
        columns = [c.lower() for c in columns]
    data = {c: draw(st.lists(VALUES, min_size=len(stamps), max_size=len(stamps))) for c in columns}
    return pd.DataFrame(data, index=index)


@given(yahoo_frames(), st.sampled_from(SYMBOLS), st.sampled_from(["1d", "5m", "1h"]))
def test_history_is_normalised_or_refused_with_a_normalization_error(frame, symbol, interval):
    try:
        history = history_from_pandas(frame, symbol, interval=interval, exchange_tz="America/New_York")
    except NormalizationError as exc:
        assert symbol in str(exc) or "download frame" in str(exc)
        return
    assert history.prices.schema == pl.Schema(schemas.PRICE_HISTORY)
    assert history.dividends.schema == pl.Schema(schemas.DIVIDENDS)
    assert history.splits.schema == pl.Schema(schemas.SPLITS)
    assert history.prices.height + history.dropped_all_nan + history.dropped_duplicates == len(frame)
    for table in (history.prices, history.dividends, history.splits):
        assert set(table["symbol"]) <= {symbol}
        assert table["time"].null_count() <= frame.index.isna().sum() if isinstance(frame.index, pd.DatetimeIndex) \
            else table.height == 0
    assert set(history.prices["interval"]) <= {interval}


OPTION_COLUMNS = ["contractSymbol", "strike", "lastPrice", "bid", "ask", "volume", "openInterest",
                  "impliedVolatility", "inTheMoney"]


@st.composite
def chains(draw) -> pd.DataFrame:
    n = draw(st.integers(0, 6))
    columns = [c for c in OPTION_COLUMNS if draw(st.integers(0, 12)) > 0]
    data = {}
    for c in columns:
        values = st.sampled_from(SYMBOLS + TEXTS) if c == "contractSymbol" else \
            st.one_of(st.booleans(), st.none()) if c == "inTheMoney" else VALUES
        data[c] = draw(st.lists(values, min_size=n, max_size=n))
    return pd.DataFrame(data)


@given(chains(), st.sampled_from(SYMBOLS), st.sampled_from([None, 0.0, -1.0, float("nan"), 101.5]),
       st.sampled_from([date(2024, 3, 15), date(2024, 3, 1), date(1999, 1, 1)]))
def test_an_option_chain_is_normalised_or_refused(chain, symbol, underlying, expiry):
    snapshot = datetime(2024, 3, 5, 21, tzinfo=UTC)
    try:
        frame = option_chain_frame(chain, symbol=symbol, expiration_date=expiry, snapshot_date=date(2024, 3, 5),
                                   snapshot_time=snapshot, underlying_price=underlying)
    except NormalizationError as exc:
        assert symbol in str(exc)
        return
    assert frame.schema == pl.Schema(schemas.OPTIONS) and frame.height == len(chain)
    assert set(frame["time"]) <= {snapshot}


INFO = st.dictionaries(st.sampled_from(["longName", "shortName", "sector", "industry", "marketCap", "exchange",
                                        "currency", "other"]),
                       st.one_of(st.none(), st.sampled_from(TEXTS + SYMBOLS), st.sampled_from(BAD_FLOATS),
                                 st.integers(-(2**70), 2**70), st.sampled_from(["1.5T", "3000000"])))


@given(st.one_of(st.none(), INFO), st.sampled_from(SYMBOLS))
def test_reference_data_is_one_row_or_refused(info, symbol):
    try:
        frame = stock_from_info(info, symbol)
    except NormalizationError as exc:
        assert symbol in str(exc) and "marketCap" in str(exc)
        return
    assert frame.schema == pl.Schema(schemas.STOCKS) and frame.height == 1
    assert frame["symbol"].to_list() == [symbol]
