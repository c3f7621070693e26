"""The vectorised backtest: timing (no look-ahead), costs, splits and dividends, column independence,
and agreement with a plain day-by-day loop."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest

from stockula_pipelines.lib.quant.backtest import KINDS, backtest_frame, run_backtest, target_positions
from stockula_pipelines.lib.quant.returns import adjusted_close

PARAMS = {
    "buy_and_hold": {},
    "ma_crossover": {"fast": 5, "slow": 20},
    "momentum": {"lookback": 10, "allow_short": True},
    "mean_reversion": {"window": 10, "entry_z": 1.0},
}


def _walk(n: int, cols: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 50.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, (n, cols)), axis=0))


def test_a_jump_is_not_earned_by_the_signal_it_triggers():
    # Flat, then +20 % on day 30, then flat: a trend follower sees the jump at day 30's close and can
    # only be long from day 31 on. A look-ahead backtest (position[t] = signal[t]) would earn the 20 %.
    prices = np.full((60, 1), 100.0)
    prices[30:] = 120.0
    target = target_positions("momentum", {"lookback": 1, "allow_short": True}, prices)
    result = run_backtest(prices, target, cost_bps=0.0)
    assert target[30, 0] == 1.0 and target[29, 0] == 0.0
    assert result.position[30, 0] == 0.0 and result.position[31, 0] == 1.0
    assert result.strategy_return[30, 0] == 0.0
    assert result.equity[-1, 0] == pytest.approx(1.0, abs=1e-15)
    cheat = np.cumprod(1 + np.nan_to_num(target[:, 0] * result.asset_return[:, 0]))
    assert cheat[-1] == pytest.approx(1.2)  # what the rule above prevents


@pytest.mark.parametrize("kind", KINDS)
def test_positions_up_to_a_day_depend_only_on_closes_before_it(kind):
    prices = _walk(120, 3)
    full = run_backtest(prices, target_positions(kind, PARAMS[kind], prices), 5.0)
    for k in (25, 60, 119):
        # Everything after day k changed beyond recognition: positions through day k + 1 must not move.
        altered = prices.copy()
        altered[k + 1:] *= np.linspace(0.3, 3.0, prices.shape[0] - k - 1)[:, None]
        cut = run_backtest(altered, target_positions(kind, PARAMS[kind], altered), 5.0)
        stop = min(k + 2, prices.shape[0])
        np.testing.assert_array_equal(cut.position[:stop], full.position[:stop])
        np.testing.assert_array_equal(cut.equity[: k + 1], full.equity[: k + 1])


def _loop(prices: np.ndarray, kind: str, params: dict, cost_bps: float) -> tuple[list, list]:
    """Day by day, the textbook way: decide at t's close from closes[:t+1], hold for t+1."""
    position, equity, held = [0.0], [1.0], 0.0
    for t in range(1, len(prices)):
        past = prices[:t]  # closes known when deciding what to hold on day t
        if kind == "buy_and_hold":
            want = 1.0
        elif kind == "ma_crossover":
            want = float(len(past) >= params["slow"] and past[-params["fast"]:].mean() > past[-params["slow"]:].mean())
        elif kind == "momentum":
            lb = params["lookback"]
            want = float(np.sign(past[-1] / past[-1 - lb] - 1)) if len(past) > lb else 0.0
        else:
            w = params["window"]
            if len(past) < w:
                want = 0.0
            else:
                window = past[-w:]
                z = (past[-1] - window.mean()) / window.std()
                want = 1.0 if z < -params["entry_z"] else -1.0 if z > params["entry_z"] else 0.0
        turnover = abs(want - held)
        ret = want * (prices[t] / prices[t - 1] - 1) - turnover * cost_bps / 1e4
        held = want
        position.append(want)
        equity.append(equity[-1] * (1 + ret))
    return position, equity


@pytest.mark.parametrize("kind", KINDS)
def test_vectorised_backtest_equals_a_day_by_day_loop(kind):
    prices = _walk(250, 2, seed=11)
    result = run_backtest(prices, target_positions(kind, PARAMS[kind], prices), 7.0)
    for col in range(prices.shape[1]):
        position, equity = _loop(prices[:, col], kind, PARAMS[kind], 7.0)
        np.testing.assert_array_equal(result.position[:, col], position)
        np.testing.assert_allclose(result.equity[:, col], equity, rtol=1e-12)
    assert np.abs(result.position).sum() > 0  # the parameters make each strategy trade


def test_costs_are_charged_per_unit_of_turnover_on_the_day_held():
    prices = np.array([[10.0], [11.0], [12.1]])
    result = run_backtest(prices, np.ones_like(prices), cost_bps=10.0)
    assert result.turnover[:, 0].tolist() == [0.0, 1.0, 0.0]
    assert result.strategy_return[1, 0] == pytest.approx(0.1 - 0.001)
    assert result.strategy_return[2, 0] == pytest.approx(0.1)
    assert result.trades[:, 0].tolist() == [0, 1, 1]


def _frame(symbol: str, dates: list[date], closes) -> pl.DataFrame:
    from datetime import UTC, datetime

    return pl.DataFrame({"symbol": symbol, "date": dates,
                         "time": [datetime(d.year, d.month, d.day, 5, tzinfo=UTC) for d in dates],
                         "adj_close_price": np.asarray(closes, dtype=float)})


def test_a_split_moves_no_position_and_a_dividend_is_earned():
    dates = [date(2024, 1, 1) + timedelta(days=i) for i in range(10)]
    raw = np.array([100, 101, 102, 103, 52, 52.5, 53, 53.5, 54, 54.5])  # 2-for-1 on day 4
    dividends = [(dates[7], 1.0)]  # goes ex on day 7: the raw close already dropped by the dividend
    raw[7:] -= 1.0
    adj = adjusted_close(dates, raw, dividends=dividends, splits=[(dates[4], 2.0)])
    out = backtest_frame(_frame("X", dates, adj), "buy_and_hold", {}, 0.0)
    assert out["position"].to_list() == [0.0] + [1.0] * 9
    # Split-neutral price return, times the ex-day's return against the close less the dividend
    # (the back-adjustment convention of lib/quant/returns.py): the dividend is reinvested.
    expected = (raw[-1] / (raw[0] / 2)) * (raw[6] / (raw[6] - 1.0))
    assert out["equity"][-1] == pytest.approx(expected, rel=1e-12)
    assert out["daily_return"][4] == pytest.approx(52 / (103 / 2) - 1, rel=1e-12)


@pytest.mark.parametrize("kind", KINDS)
def test_a_symbol_gives_the_same_rows_alone_or_beside_others(kind):
    dates = [date(2020, 1, 1) + timedelta(days=i) for i in range(300)]
    walk = _walk(300, 3, seed=5)
    alone = backtest_frame(_frame("B", dates[100:], walk[100:, 1]), kind, PARAMS[kind], 3.0)
    together = backtest_frame(pl.concat([
        _frame("A", dates, walk[:, 0]), _frame("B", dates[100:], walk[100:, 1]), _frame("C", dates[:50], walk[:50, 2]),
    ]), kind, PARAMS[kind], 3.0).filter(pl.col("symbol") == "B")
    assert alone.equals(together)


def test_unknown_kind_and_bad_parameters_are_refused():
    prices = _walk(30, 1)
    with pytest.raises(ValueError, match="unknown strategy kind"):
        target_positions("astrology", {}, prices)
    with pytest.raises(ValueError, match="fast < slow"):
        target_positions("ma_crossover", {"fast": 20, "slow": 5}, prices)


def test_sparkline_spans_the_range_of_the_curve():
    from stockula_pipelines.lib.strategies.report import sparkline

    line = sparkline(np.array([1.0, 1.5, 2.0, 1.2]), width=4)
    assert line == "▁▄█▂" and sparkline(np.ones(3)) == "▁▁▁"
