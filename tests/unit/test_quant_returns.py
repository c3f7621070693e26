"""Adjusted closes, daily returns and rolling volatility."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import polars as pl
import pytest

from stockula_pipelines.lib.quant.returns import (
    adjusted_close,
    adjustment_factors,
    compute_price_metrics,
    daily_returns,
    lookback_start,
    rolling_volatility,
)

D = dt.date
DATES = [D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4), D(2024, 1, 5), D(2024, 1, 8), D(2024, 1, 9)]
CLOSES = [200.0, 204.0, 51.5, 52.0, 51.0, 51.6]
SPLITS = [(D(2024, 1, 4), 4.0)]  # 4-for-1, ex-date Thu 4 Jan
DIVIDENDS = [(D(2024, 1, 8), 1.04), (D(2023, 12, 1), 5.0)]  # the second predates the data: no effect


def test_hand_worked_split_and_dividend():
    # Dividend 1.04 ex 8 Jan; the close on the trading day before (Fri 5 Jan) is 52.00:
    #   factor 1 - 1.04 / 52 = 0.98 for every bar before 8 Jan (2..5 Jan).
    # Split 4:1 ex 4 Jan: bars before 4 Jan (2, 3 Jan) are divided by 4 as well: 0.98 / 4 = 0.245.
    #   2 Jan: 200.00 * 0.245 = 49.00     3 Jan: 204.00 * 0.245 = 49.98
    #   4 Jan:  51.50 * 0.98  = 50.47     5 Jan:  52.00 * 0.98  = 50.96
    #   8 Jan:  51.00 (ex-date itself: unadjusted)   9 Jan: 51.60
    factors = adjustment_factors(DATES, CLOSES, DIVIDENDS, SPLITS, symbol="TEST")
    np.testing.assert_allclose(factors, [0.245, 0.245, 0.98, 0.98, 1.0, 1.0], rtol=1e-15)
    adj = adjusted_close(DATES, CLOSES, DIVIDENDS, SPLITS, symbol="TEST")
    np.testing.assert_allclose(adj, [49.00, 49.98, 50.47, 50.96, 51.00, 51.60], rtol=1e-14)


def test_ex_date_on_a_weekend_uses_the_last_close_before_it():
    # Ex-date Saturday 6 Jan: the close before it is Fri 5 Jan (52.00), bars up to 5 Jan are adjusted.
    factors = adjustment_factors(DATES, CLOSES, [(D(2024, 1, 6), 1.04)], None)
    np.testing.assert_allclose(factors, [0.98, 0.98, 0.98, 0.98, 1.0, 1.0], rtol=1e-15)


def test_bad_events_and_dates_are_rejected_with_symbol_and_date():
    with pytest.raises(ValueError, match=r"TEST 2024-01-08: dividend 60.0 must be below the previous close"):
        adjustment_factors(DATES, CLOSES, [(D(2024, 1, 8), 60.0)], None, symbol="TEST")
    with pytest.raises(ValueError, match=r"TEST 2024-01-04: split ratio 0.0 must be"):
        adjustment_factors(DATES, CLOSES, None, [(D(2024, 1, 4), 0.0)], symbol="TEST")
    with pytest.raises(ValueError, match=r"TEST 2024-01-03: bar dates must be strictly increasing"):
        adjustment_factors([D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 3)], [1.0, 2.0, 3.0], symbol="TEST")


def _random_walk(n=300, seed=3):
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))


def test_returns_and_volatility_match_pandas():
    prices = _random_walk()
    series = pd.Series(prices)
    expected_ret = series.pct_change().to_numpy()
    expected_vol = (np.log(series).diff().rolling(21).std(ddof=1) * math.sqrt(252)).to_numpy()
    ret = daily_returns(prices)
    vol = rolling_volatility(prices, window=21)
    # pandas' rolling std is an online algorithm; agreement to 1e-9 relative is what we claim.
    np.testing.assert_allclose(ret, expected_ret, rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(vol, expected_vol, rtol=1e-9, equal_nan=True)
    assert np.isnan(ret[0]) and np.isnan(vol[:21]).all() and np.isfinite(vol[21:]).all()


def _frames():
    n = 80
    dates = pl.date_range(D(2024, 1, 1), D(2024, 1, 1) + dt.timedelta(days=n - 1), eager=True)
    a = _random_walk(n, 1)
    b = _random_walk(n, 2)
    b[:40] *= 2.0  # 2-for-1 split effective on day 40
    df = pl.DataFrame(
        {"symbol": ["AAA"] * n + ["BBB"] * n, "date": pl.concat([dates, dates]), "close_price": np.r_[a, b]}
    ).sample(fraction=1.0, shuffle=True, seed=5)
    splits = pl.DataFrame({"symbol": ["BBB"], "ex_date": [dates[40]], "ratio": [2.0]})
    dividends = pl.DataFrame({"symbol": ["AAA"], "ex_date": [dates[30]], "amount": [0.5]})
    return df, dividends, splits, dates


def test_compute_price_metrics_many_symbols():
    df, dividends, splits, dates = _frames()
    out = compute_price_metrics(df, dividends, splits, window=21)
    assert out.columns == ["symbol", "date", "adj_close_price", "daily_return", "volatility"]
    assert out.height == df.height
    bbb = out.filter(pl.col("symbol") == "BBB")
    # The split is fully undone: the adjusted series is the unsplit random walk.
    np.testing.assert_allclose(bbb["adj_close_price"].to_numpy(), _random_walk(80, 2), rtol=1e-14)
    aaa = out.filter(pl.col("symbol") == "AAA")
    closes = _random_walk(80, 1)
    np.testing.assert_allclose(aaa["adj_close_price"][:30].to_numpy(), closes[:30] * (1 - 0.5 / closes[29]))
    for part in (aaa, bbb):
        assert part["daily_return"][0] is None
        assert part["volatility"].null_count() == 21
        np.testing.assert_allclose(
            part["volatility"].to_numpy()[21:], rolling_volatility(part["adj_close_price"].to_numpy())[21:]
        )


def test_lookback_gives_the_same_metrics_as_full_history():
    df, dividends, splits, dates = _frames()
    full = compute_price_metrics(df, dividends, splits, window=21)
    first = dates[60]
    start = lookback_start(dates.to_numpy(), first, window=21)
    assert start == np.datetime64(dates[60 - 22])
    part = compute_price_metrics(df.filter(pl.col("date") >= start), dividends, splits, window=21)
    keep = pl.col("date") >= first
    a, b = full.filter(keep), part.filter(keep)
    np.testing.assert_allclose(a["daily_return"].to_numpy(), b["daily_return"].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(a["volatility"].to_numpy(), b["volatility"].to_numpy(), rtol=1e-12)
    assert b["volatility"].null_count() == 0


def test_compute_price_metrics_empty_and_missing_columns():
    empty = pl.DataFrame(schema={"symbol": pl.String, "date": pl.Date, "close_price": pl.Float64})
    assert compute_price_metrics(empty).height == 0
    with pytest.raises(ValueError, match="close_price"):
        compute_price_metrics(empty.drop("close_price"))
