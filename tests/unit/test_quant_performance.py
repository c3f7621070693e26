"""Performance statistics against empyrical-reloaded (a test-only oracle) on the same return series."""

from __future__ import annotations

from datetime import date, timedelta

import empyrical
import numpy as np
import pytest

from stockula_pipelines.lib.quant import performance as perf
from stockula_pipelines.lib.quant.backtest import run_backtest, target_positions

TOL = 1e-9


def _series() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(42)
    prices = 80 * np.exp(np.cumsum(rng.normal(0.0002, 0.015, (1500, 1)), axis=0))
    crossover = run_backtest(prices, target_positions("ma_crossover", {"fast": 20, "slow": 100}, prices), 3.0)
    return {
        "gaussian": rng.normal(0.0004, 0.012, 2000),
        "fat_tailed": rng.standard_t(3, 800) * 0.01,
        "losing": rng.normal(-0.001, 0.02, 300),
        # A backtest's own series: long stretches of exact zeros while flat.
        "ma_crossover": crossover.strategy_return[:, 0],
    }


@pytest.mark.parametrize("name", list(_series()))
def test_statistics_match_empyrical(name):
    r = _series()[name]
    assert perf.cagr(r) == pytest.approx(empyrical.cagr(r), rel=TOL, abs=TOL)
    assert perf.annual_volatility(r) == pytest.approx(empyrical.annual_volatility(r), rel=TOL, abs=TOL)
    assert perf.sharpe_ratio(r) == pytest.approx(empyrical.sharpe_ratio(r), rel=TOL, abs=TOL)
    assert perf.sortino_ratio(r) == pytest.approx(empyrical.sortino_ratio(r), rel=TOL, abs=TOL)
    assert perf.downside_risk(r) == pytest.approx(empyrical.downside_risk(r), rel=TOL, abs=TOL)
    assert perf.max_drawdown(r).depth == pytest.approx(empyrical.max_drawdown(r), rel=TOL, abs=TOL)


def test_drawdown_dates_are_the_peak_before_and_the_trough():
    r = np.array([0.1, -0.05, 0.2, -0.1, -0.2, 0.05, 0.5, -0.01])
    dates = [date(2024, 1, 1) + timedelta(days=i) for i in range(r.size)]
    equity = np.cumprod(1 + r)
    dd = perf.max_drawdown(r)
    assert dd.peak == 2 and dd.trough == 4 and dd.recovery == 6
    assert dd.depth == pytest.approx(equity[4] / equity[2] - 1, rel=1e-15)
    stats = perf.statistics(r, np.zeros_like(r), dates)
    assert (stats.max_drawdown_peak, stats.max_drawdown_trough) == (dates[2], dates[4])


def test_a_fall_from_the_start_has_no_peak_day_and_a_rising_series_no_drawdown():
    falling = perf.max_drawdown(np.array([-0.1, 0.05, -0.2]))
    assert falling.peak is None and falling.trough == 2 and falling.recovery is None
    assert perf.max_drawdown(np.array([0.01, 0.02, 0.0])) == perf.Drawdown(0.0, None, None, None)


def test_hit_rate_ignores_flat_days_and_turnover_is_annualised():
    r = np.array([0.0, 0.01, -0.02, 0.0, 0.03, 0.01])
    assert perf.hit_rate(r) == pytest.approx(3 / 4)
    assert perf.annual_turnover(np.array([1.0, 0.0, 0.0, 1.0])) == pytest.approx(0.5 * 252)
