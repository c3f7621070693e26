"""The quant functions (``lib/quant``) over generated input: NaN and infinite values, empty and huge
inputs, zero and negative prices and strikes, expiries in the past, unsorted rows and duplicate dates.
Nothing raises but the documented ValueErrors (naming the symbol and date), the pricing functions do
not even warn, undefined results are NaN/null, and defined results keep their invariants."""

from __future__ import annotations

import warnings
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from bad_input import BAD_FLOATS
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from stockula_pipelines.lib.quant import (
    REASONS,
    bsm_greeks,
    bsm_price,
    compute_price_metrics,
    implied_volatility,
    time_to_expiry,
)
from stockula_pipelines.lib.quant.backtest import KINDS, backtest_frame

pytestmark = pytest.mark.property

ANY = st.one_of(st.sampled_from(BAD_FLOATS), st.floats(allow_nan=True, allow_infinity=True))
PRICE = st.one_of(st.floats(0.5, 2000), ANY)


@pytest.fixture()
def no_warnings():
    """black_scholes and implied_vol promise NaN for bad input "rather than raising or warning"."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # numpy's divide/overflow/invalid warnings
        yield


# --- returns and volatility ------------------------------------------------------------------------------
@st.composite
def bars(draw):
    days = [date(2024, 1, 1) + timedelta(days=i) for i in range(40)]
    n = draw(st.integers(0, 30))
    rows = [{"symbol": draw(st.sampled_from(["AAA", "BBB", "ÆØÅ", "O'REILLY"])),
             "date": draw(st.sampled_from(days)), "close_price": draw(st.one_of(st.none(), PRICE))}
            for _ in range(n)]
    return pl.DataFrame(rows, schema={"symbol": pl.String, "date": pl.Date, "close_price": pl.Float64})


@st.composite
def events(draw, value_col: str):
    n = draw(st.integers(0, 3))
    rows = [{"symbol": draw(st.sampled_from(["AAA", "BBB"])),
             "ex_date": date(2024, 1, 1) + timedelta(days=draw(st.integers(-5, 45))),
             value_col: draw(st.one_of(st.floats(0.01, 3), ANY))} for _ in range(n)]
    return pl.DataFrame(rows, schema={"symbol": pl.String, "ex_date": pl.Date, value_col: pl.Float64})


@given(bars(), events("amount"), events("ratio"), st.integers(2, 25))
def test_price_metrics_are_null_where_undefined_or_refused_naming_the_symbol(frame, dividends, splits, window):
    try:
        out = compute_price_metrics(frame, dividends, splits, window=window)
    except ValueError as exc:  # documented: unsorted/duplicate dates, bad dividend or split
        message = str(exc)
        assert any(s in message for s in frame["symbol"].unique().to_list()), message
        assert "rule" in message or "must" in message, message
        return
    assert out.height == frame.height
    assert out.select("symbol", "date").rows() == frame.sort("symbol", "date").select("symbol", "date").rows()
    for column in ("adj_close_price", "daily_return", "volatility"):
        values = out[column].drop_nulls()
        assert not values.is_nan().any(), column  # undefined is null, never NaN
    assert (out["volatility"].drop_nulls() >= 0).all()
    firsts = out.group_by("symbol", maintain_order=True).head(1)
    assert firsts["daily_return"].null_count() == firsts.height  # no return into a symbol's first bar


# --- Black-Scholes and implied volatility --------------------------------------------------------------
def arrays(elements):
    return hnp.arrays(np.float64, st.integers(0, 12), elements=elements)


@given(arrays(PRICE), arrays(st.one_of(st.floats(0.5, 2000), ANY)), arrays(st.one_of(st.floats(-0.5, 3), ANY)),
       st.floats(-0.05, 0.2), st.floats(0, 0.1), arrays(st.one_of(st.floats(0.01, 3), ANY)), st.booleans())
def test_black_scholes_is_nan_where_undefined_and_within_arbitrage_bounds_elsewhere(no_warnings, S, K, T, r, q,
                                                                                     sigma, call):
    n = min(len(S), len(K), len(T), len(sigma))
    S, K, T, sigma = S[:n], K[:n], T[:n], sigma[:n]
    greeks = bsm_greeks(S, K, T, r, q, sigma, call)
    price = bsm_price(S, K, T, r, q, sigma, call)
    with np.errstate(all="ignore"):  # the test's own arithmetic on the bad values
        defined = (S > 0) & (K > 0) & (T > 0) & (sigma > 0) & np.isfinite(S + K + T + sigma) \
            & (sigma * np.sqrt(T) > 0)
        fwd_s, fwd_k = S * np.exp(-q * T), K * np.exp(-r * T)
        low = np.maximum((fwd_s - fwd_k) if call else (fwd_k - fwd_s), 0.0)
        high = fwd_s if call else fwd_k
        tol = 1e-9 * (1 + S + K)
    assert np.isnan(price[~defined]).all() and all(np.isnan(g[~defined]).all() for g in greeks)
    np.testing.assert_allclose(greeks.price, price, rtol=1e-12, equal_nan=True)
    sane = defined & (S < 1e6) & (K < 1e6) & (T < 50)
    assert ((price[sane] >= low[sane] - tol[sane]) & (price[sane] <= high[sane] + tol[sane])).all()
    assert ((greeks.gamma[sane] >= -tol[sane]) & (greeks.vega[sane] >= -tol[sane])).all()
    delta = greeks.delta[sane]
    assert ((delta >= -1 - 1e-12) & (delta <= 1 + 1e-12)).all()


@given(arrays(st.one_of(st.floats(0, 300), ANY)), st.floats(1, 500) | st.sampled_from([0.0, -5.0, float("nan")]),
       st.floats(1, 500), st.sampled_from([date(2024, 3, 15), date(2025, 1, 17), date(2024, 3, 5), date(2020, 1, 1)]),
       st.booleans())
def test_implied_volatility_gives_a_reason_for_every_unsolved_quote_and_reprices_the_solved(no_warnings, prices, S,
                                                                                           K, expiry, call):
    snapshot = datetime(2024, 3, 5, 21, tzinfo=UTC)
    T = time_to_expiry(snapshot, expiry)
    result = implied_volatility(prices, S, K, T, 0.04, 0.01, call)
    assert result.iv.shape == prices.shape and result.reason.shape == prices.shape
    assert ((result.reason >= 0) & (result.reason < len(REASONS))).all()
    ok = result.reason == 0
    assert np.isnan(result.iv[~ok]).all() and np.isfinite(result.iv[ok]).all()
    assert ((result.iv[ok] >= 1e-4) & (result.iv[ok] <= 5.0)).all()
    if T <= 0:
        assert not ok.any() and set(np.asarray(REASONS)[result.reason]) <= {"expired", "invalid_input"}
    if ok.any():
        repriced = bsm_price(S, K, T, 0.04, 0.01, result.iv[ok], call)
        np.testing.assert_allclose(repriced, prices[ok], rtol=1e-6, atol=1e-6 * (S + K))


# --- backtests --------------------------------------------------------------------------------------------
@st.composite
def adjusted_closes(draw):
    start = datetime(2024, 1, 1, tzinfo=UTC)
    n = draw(st.integers(0, 40))
    rows = [{"symbol": draw(st.sampled_from(["AAA", "BBB", "'; DROP--"])),
             "time": start + timedelta(days=draw(st.integers(0, 60))),
             "adj_close_price": draw(st.one_of(st.floats(1, 500), ANY, st.none()))} for _ in range(n)]
    return pl.DataFrame(rows, schema={"symbol": pl.String, "time": pl.Datetime("us", "UTC"),
                                      "adj_close_price": pl.Float64})


PARAMETERS = {"buy_and_hold": {}, "ma_crossover": {"fast": 2, "slow": 5}, "momentum": {"lookback": 3},
              "mean_reversion": {"window": 4, "entry_z": 1.0}}


@given(adjusted_closes(), st.sampled_from(KINDS), st.floats(0, 50))
def test_a_backtest_keeps_one_row_per_bar_and_positions_within_their_range(frame, kind, cost_bps):
    out = backtest_frame(frame, kind, PARAMETERS[kind], cost_bps)
    assert out.height == frame.height
    positions = out["position"].drop_nulls().drop_nans()
    assert positions.is_in([-1.0, 0.0, 1.0]).all()
    assert (out["turnover"].drop_nulls().drop_nans() >= 0).all()
    priced = out.filter(pl.col("adj_close_price").is_between(1, 500))
    assert priced["trades"].drop_nulls().min() is None or priced["trades"].drop_nulls().min() >= 0
