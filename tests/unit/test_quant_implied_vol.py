"""Implied volatility round trips, reason codes, mid prices and time to expiry."""

from __future__ import annotations

import datetime as dt
import itertools
import warnings

import numpy as np
import polars as pl
import pytest

from stockula_pipelines.lib.quant.black_scholes import bsm_price
from stockula_pipelines.lib.quant.implied_vol import (
    REASONS,
    count_reasons,
    implied_volatility,
    mid_price,
    time_to_expiry,
)


def _grid():
    m = [0.5, 0.6, 0.8, 0.9, 0.95, 1.0, 1.02, 1.1, 1.3, 1.6, 2.0]
    days = [1, 2, 7, 14, 30, 60, 91, 182, 365, 548, 730]
    rates = [0.0, 0.05, 0.10]
    divs = [0.0, 0.03, 0.05]
    vols = [0.05, 0.1, 0.2, 0.35, 0.6, 1.0, 1.5]
    rows = list(itertools.product(m, days, rates, divs, vols, (True, False)))
    K, d, r, q, sigma, c = (np.array(col) for col in zip(*rows, strict=True))
    return 100.0, 100.0 * K, d / 365.0, r, q, sigma, c.astype(bool)


def test_round_trip_wherever_there_is_time_value():
    S, K, T, r, q, sigma, c = _grid()
    price = bsm_price(S, K, T, r, q, sigma, c)
    res = implied_volatility(price, S, K, T, r, q, c)
    w = np.where(c, 1.0, -1.0)
    intrinsic = np.maximum(w * (S * np.exp(-q * T) - K * np.exp(-r * T)), 0.0)
    # Criterion: the price carries at least 1e-8 * S of time value above the discounted intrinsic value.
    # Below that, a 1e-16 relative rounding of the price is no longer small against the time value and
    # no solver can recover sigma to 1e-6.
    has_time_value = price - intrinsic > 1e-8 * S
    assert has_time_value.sum() > 10_000
    assert (res.reason[has_time_value] == REASONS.index("ok")).all(), count_reasons(
        res.reason[has_time_value]
    )
    err = np.abs(res.iv[has_time_value] - sigma[has_time_value])
    assert err.max() < 1e-6
    # Options without time value are reported, never given a made-up volatility.
    no_tv = ~has_time_value & (res.reason != 0)
    assert np.isnan(res.iv[no_tv]).all()


def test_round_trip_random_options_including_chunk_boundaries():
    rng = np.random.default_rng(11)
    n = 50_000
    S = rng.uniform(20, 500, n)
    K = S * np.exp(rng.uniform(np.log(0.5), np.log(2.0), n))
    T = np.exp(rng.uniform(np.log(1 / 365), np.log(2.0), n))
    r, q, sigma = rng.uniform(0, 0.1, n), rng.uniform(0, 0.05, n), rng.uniform(0.05, 1.5, n)
    c = rng.random(n) < 0.5
    price = bsm_price(S, K, T, r, q, sigma, c)
    res = implied_volatility(price, S, K, T, r, q, c)
    intrinsic = np.maximum(np.where(c, 1.0, -1.0) * (S * np.exp(-q * T) - K * np.exp(-r * T)), 0.0)
    ok = price - intrinsic > 1e-8 * S
    assert (res.reason[ok] == 0).all()
    assert np.abs(res.iv[ok] - sigma[ok]).max() < 1e-6


def test_reason_codes():
    S, K, T, r, q = 100.0, 100.0, 0.25, 0.03, 0.01
    fair = float(bsm_price(S, K, T, r, q, 0.3, True))
    deep_itm_call_intrinsic = 100.0 - 60.0 * np.exp(-r * T)
    cases = {
        "ok": (fair, S, K, T, True),
        "expired": (fair, S, K, 0.0, True),
        "below_intrinsic": (deep_itm_call_intrinsic - 0.5, S, 60.0, T, True),
        "above_max_price": (S * np.exp(-q * T) + 1.0, S, K, T, True),
        "no_quote": (np.nan, S, K, T, True),
        "invalid_input": (fair, -1.0, K, T, True),
        "vol_out_of_range": (float(bsm_price(S, K, T, r, q, 7.0, False)), S, K, T, False),
    }
    p, s_, k_, t_, c_ = (np.array(v) for v in zip(*cases.values(), strict=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = implied_volatility(p, s_, k_, t_, r, q, c_.astype(bool))
    assert list(res.labels()) == list(cases)
    assert res.iv[0] == pytest.approx(0.3, abs=1e-9)
    assert np.isnan(res.iv[1:]).all()
    assert res.counts() == {name: 1 for name in cases}
    assert count_reasons(res.labels()) == {name: 1 for name in cases}
    # A zero bid/ask/last quote is "no quote" too.
    assert implied_volatility(0.0, S, K, T, r, q, True).labels().item() == "no_quote"


def test_mid_price():
    bid = np.array([1.0, 0.0, 2.0, np.nan, 1.0, 0.0])
    ask = np.array([1.2, 1.2, 1.5, 1.0, 1.0, 0.0])
    last = np.array([9.0, 1.1, 1.7, 0.9, 9.0, 0.0])
    got = mid_price(bid, ask, last)
    np.testing.assert_allclose(got[:5], [1.1, 1.1, 1.7, 0.9, 1.0])
    assert np.isnan(got[5])


def test_time_to_expiry_uses_exchange_close_and_dst():
    # Summer: 16:00 New York = 20:00 UTC. Snapshot 14:00 UTC on expiry day -> 6 hours.
    summer = time_to_expiry(dt.datetime(2024, 7, 19, 14, 0, tzinfo=dt.UTC), dt.date(2024, 7, 19))
    assert summer == pytest.approx(6 / (365 * 24), rel=1e-12)
    # Winter: 16:00 New York = 21:00 UTC; a full calendar day earlier adds 24 h -> 31 hours.
    winter = time_to_expiry(dt.datetime(2024, 1, 18, 14, 0, tzinfo=dt.UTC), dt.date(2024, 1, 19))
    assert winter == pytest.approx(31 / (365 * 24), rel=1e-12)
    # After the close it is expired (negative); vectorised over polars columns with a null.
    snaps = pl.Series(
        [dt.datetime(2024, 7, 19, 21, 0), dt.datetime(2024, 7, 18, 20, 0), None]
    ).dt.replace_time_zone("UTC")
    exps = pl.Series([dt.date(2024, 7, 19), dt.date(2025, 7, 18), dt.date(2024, 7, 19)])
    got = time_to_expiry(snaps, exps)
    assert got[0] == pytest.approx(-1 / (365 * 24), rel=1e-12)
    assert got[1] == pytest.approx(365 / 365, rel=1e-12)
    assert np.isnan(got[2])
