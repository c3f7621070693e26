"""Black-Scholes-Merton prices and Greeks against QuantLib's AnalyticEuropeanEngine and Hull's textbook."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest

from stockula_pipelines.lib.quant.black_scholes import bsm_greeks, bsm_price

ql = pytest.importorskip("QuantLib")

MONEYNESS = [0.5, 0.7, 0.9, 0.97, 1.0, 1.05, 1.2, 1.5, 2.0]  # K / S
DAYS = [1, 7, 30, 91, 365, 730]  # T = days / 365 (QuantLib Actual365Fixed from the evaluation date)
RATES = [0.0, 0.03, 0.10]
DIVS = [0.0, 0.02, 0.05]
VOLS = [0.05, 0.2, 0.5, 1.5]
SPOT = 100.0


def _quantlib_grid():
    today = ql.Date(15, ql.January, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    spot, rate, div, vol = (ql.SimpleQuote(v) for v in (SPOT, 0.0, 0.0, 0.2))
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(spot),
        ql.YieldTermStructureHandle(ql.FlatForward(today, ql.QuoteHandle(div), dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, ql.QuoteHandle(rate), dc)),
        ql.BlackVolTermStructureHandle(
            ql.BlackConstantVol(today, ql.NullCalendar(), ql.QuoteHandle(vol), dc)
        ),
    )
    engine = ql.AnalyticEuropeanEngine(process)
    rows, ref = [], []
    for m, days, is_call in itertools.product(MONEYNESS, DAYS, (True, False)):
        opt = ql.EuropeanOption(
            ql.PlainVanillaPayoff(ql.Option.Call if is_call else ql.Option.Put, m * SPOT),
            ql.EuropeanExercise(today + days),
        )
        opt.setPricingEngine(engine)
        for r, q, sigma in itertools.product(RATES, DIVS, VOLS):
            rate.setValue(r)
            div.setValue(q)
            vol.setValue(sigma)
            rows.append((SPOT, m * SPOT, days / 365.0, r, q, sigma, is_call))
            # QuantLib: vega and rho are per 1.00 (not per 1%), theta() is per year and thetaPerDay() is
            # theta() / 365 -- the same units as ours, so no conversion beyond checking thetaPerDay.
            ref.append(
                (opt.NPV(), opt.delta(), opt.gamma(), opt.vega(), opt.theta(), opt.rho(), opt.thetaPerDay())
            )
    cols = list(zip(*rows, strict=True))
    inputs = [np.array(c, dtype=float) for c in cols[:6]] + [np.array(cols[6], dtype=bool)]
    return inputs, np.array(ref)


@pytest.fixture(scope="module")
def grid():
    return _quantlib_grid()


def test_grid_is_large_enough(grid):
    inputs, ref = grid
    assert ref.shape[0] >= 1000
    assert inputs[6].any() and not inputs[6].all()


@pytest.mark.parametrize(
    ("field", "col"),
    [("price", 0), ("delta", 1), ("gamma", 2), ("vega", 3), ("theta", 4), ("rho", 5)],
)
def test_matches_quantlib(grid, field, col):
    inputs, ref = grid
    ours = getattr(bsm_greeks(*inputs), field)
    # Tolerance: relative 1e-7, plus an absolute floor of 1e-9 in each Greek's natural scale (price,
    # theta and rho scale with S=100; delta is O(1); gamma O(1/S); vega O(S)). Both sides evaluate the
    # same closed form, so disagreements are only the normal-CDF implementations and rounding.
    scale = {"price": SPOT, "delta": 1.0, "gamma": 1.0 / SPOT, "vega": SPOT, "theta": SPOT, "rho": SPOT}[
        field
    ]
    np.testing.assert_allclose(ours, ref[:, col], rtol=1e-7, atol=1e-9 * scale)


def test_theta_is_per_year_and_quantlib_per_day_is_a_365th(grid):
    inputs, ref = grid
    theta = bsm_greeks(*inputs).theta
    np.testing.assert_allclose(theta / 365.0, ref[:, 6], rtol=1e-7, atol=1e-9)


def test_price_function_matches_greeks_price(grid):
    inputs, _ = grid
    np.testing.assert_allclose(bsm_price(*inputs), bsm_greeks(*inputs).price, rtol=1e-14, atol=1e-14)


def test_hull_textbook_example():
    # Hull, Options Futures and Other Derivatives: S=42, K=40, r=10%, sigma=20%, T=0.5 -> c=4.76, p=0.81.
    call, put = bsm_price(42.0, 40.0, 0.5, 0.10, 0.0, 0.20, np.array([True, False]))
    assert round(float(call), 2) == 4.76
    assert round(float(put), 2) == 0.81


def test_put_call_parity_and_greek_signs():
    S, K, T, r, q, sigma = 105.0, 100.0, 0.75, 0.04, 0.015, 0.3
    c = bsm_greeks(S, K, T, r, q, sigma, True)
    p = bsm_greeks(S, K, T, r, q, sigma, False)
    assert float(c.price - p.price) == pytest.approx(S * np.exp(-q * T) - K * np.exp(-r * T), abs=1e-12)
    assert float(c.delta - p.delta) == pytest.approx(np.exp(-q * T), abs=1e-14)
    assert float(c.gamma) == pytest.approx(float(p.gamma), rel=1e-12)
    assert float(c.vega) == pytest.approx(float(p.vega), rel=1e-12)
    assert c.theta < 0 and c.rho > 0 and p.rho < 0


def test_finite_differences_confirm_units():
    # vega per 1.00 of sigma, rho per 1.00 of r, theta per year of calendar time (= -dV/dT).
    S, K, T, r, q, sigma, h = 100.0, 95.0, 0.5, 0.03, 0.01, 0.25, 1e-5
    g = bsm_greeks(S, K, T, r, q, sigma, False)

    def price(**kw):
        args = {"S": S, "K": K, "T": T, "r": r, "q": q, "sigma": sigma} | kw
        return float(bsm_price(**args, is_call=False))

    assert float(g.vega) == pytest.approx(
        (price(sigma=sigma + h) - price(sigma=sigma - h)) / (2 * h), rel=1e-6
    )
    assert float(g.rho) == pytest.approx((price(r=r + h) - price(r=r - h)) / (2 * h), rel=1e-6)
    assert float(g.theta) == pytest.approx(-(price(T=T + h) - price(T=T - h)) / (2 * h), rel=1e-6)
    assert float(g.delta) == pytest.approx((price(S=S + h) - price(S=S - h)) / (2 * h), rel=1e-6)
    assert float(g.gamma) == pytest.approx(
        (price(S=S + 1e-3) - 2 * price() + price(S=S - 1e-3)) / 1e-6, rel=1e-4
    )


def test_invalid_inputs_give_nan_without_warnings():
    S = np.array([100.0, 0.0, -5.0, np.nan, 100.0, 100.0, 100.0, 100.0, 100.0, np.inf])
    K = np.array([100.0, 100.0, 100.0, 100.0, 0.0, 100.0, 100.0, 100.0, np.nan, 100.0])
    T = np.array([0.5, 0.5, 0.5, 0.5, 0.5, 0.0, -1.0, 0.5, 0.5, 0.5])
    sigma = np.array([0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.0, 0.2, 0.2])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = bsm_greeks(S, K, T, 0.01, 0.0, sigma, True)
        p = bsm_price(S, K, T, 0.01, 0.0, sigma, False)
    for arr in (*g, p):
        assert np.isfinite(arr[0])
        assert np.isnan(arr[1:]).all()
    r_nan = bsm_greeks(100.0, 100.0, 0.5, np.nan, 0.0, 0.2, True)
    assert all(np.isnan(x) for x in r_nan)


def test_broadcasting_shapes_and_chunk_boundaries():
    rng = np.random.default_rng(7)
    n = 40_000  # spans several internal blocks
    S = rng.uniform(50, 150, n)
    K = S * rng.uniform(0.5, 2.0, n)
    is_call = rng.random(n) < 0.5
    full = bsm_greeks(S, K, 0.3, 0.02, 0.01, 0.4, is_call)
    assert full.price.shape == (n,)
    single = bsm_greeks(S[12345], K[12345], 0.3, 0.02, 0.01, 0.4, is_call[12345])
    assert float(single.gamma) == pytest.approx(full.gamma[12345], rel=1e-14)
    grid2d = bsm_price(S[:5, None], K[None, :3], 0.3, 0.02, 0.01, 0.4, True)
    assert grid2d.shape == (5, 3)
    assert grid2d[4, 2] == pytest.approx(float(bsm_price(S[4], K[2], 0.3, 0.02, 0.01, 0.4, True)), rel=1e-14)
