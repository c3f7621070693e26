"""Throughput of the vectorised daily backtest against a plain pandas loop, in the same run.

Run: python bench/bench_backtest.py [--symbols 500] [--days 2520] [--repeat 5] [--loop-symbols 10]
Prints `name: value` lines; never fails on speed (the target is printed for comparison only).
Throughput = strategies x symbols x days per second, on one core (NumPy does not thread these ops).

The pandas figure: per symbol, the indicators from pandas' rolling windows, then a Python loop over
the days for positions, turnover, costs and equity (the shape most hand-written backtests take).
Both run the catalogue's four strategies on the same random walks; the largest equity difference
between them is printed as a correctness cross-check.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stockula_pipelines.lib.quant.backtest import run_backtest, target_positions  # noqa: E402
from stockula_pipelines.lib.strategies.catalogue import load_catalogue  # noqa: E402

TARGET = 5_000_000  # symbol-days/s, one core
CATALOGUE = Path(__file__).resolve().parents[1] / "stockula_pipelines" / "defs" / "strategies" / "catalogue.yml"


def walks(days: int, symbols: int, seed: int = 42) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 50.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.02, (days, symbols)), axis=0))


def vectorised(prices: np.ndarray, strategies) -> list[np.ndarray]:
    return [run_backtest(prices, target_positions(s.kind, s.parameters, prices), s.cost_bps).equity
            for s in strategies]


def _pandas_target(kind: str, p: dict, close: pd.Series) -> np.ndarray:
    if kind == "buy_and_hold":
        return np.ones(len(close))
    if kind == "ma_crossover":
        return (close.rolling(p["fast"]).mean() > close.rolling(p["slow"]).mean()).astype(float).to_numpy()
    if kind == "momentum":
        trend = np.sign(close.pct_change(p["lookback"])).fillna(0.0)
        return (trend if p.get("allow_short", True) else trend.clip(lower=0)).to_numpy()
    roll = close.rolling(p["window"])
    z = (close - roll.mean()) / roll.std(ddof=0)
    return np.where(z < -p["entry_z"], 1.0, np.where(z > p["entry_z"], -1.0, 0.0))


def pandas_loop(prices: np.ndarray, strategies) -> list[np.ndarray]:
    out = []
    for s in strategies:
        equity = np.empty(prices.shape)
        for col in range(prices.shape[1]):
            close = pd.Series(prices[:, col])
            target = _pandas_target(s.kind, s.parameters, close)
            values = close.to_numpy()
            held, value = 0.0, 1.0
            equity[0, col] = value
            for t in range(1, len(values)):
                want = target[t - 1]
                ret = want * (values[t] / values[t - 1] - 1.0) - abs(want - held) * s.cost_bps / 1e4
                value *= 1.0 + ret
                held = want
                equity[t, col] = value
        out.append(equity)
    return out


def best_of(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--days", type=int, default=2520)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--loop-symbols", type=int, default=10)
    args = parser.parse_args()
    strategies = load_catalogue(CATALOGUE)
    prices = walks(args.days, args.symbols)
    vectorised(prices[:300, :5], strategies)  # warm up
    seconds = best_of(lambda: vectorised(prices, strategies), args.repeat)
    work = len(strategies) * args.symbols * args.days
    small = prices[:, : args.loop_symbols]
    loop_seconds = best_of(lambda: pandas_loop(small, strategies), 1)
    loop_work = len(strategies) * small.shape[1] * args.days
    diff = max(float(np.max(np.abs(a - b) / b)) for a, b in
               zip(vectorised(small, strategies), pandas_loop(small, strategies), strict=True))
    rate, loop_rate = work / seconds, loop_work / loop_seconds
    print(f"backtest_strategies: {len(strategies)}")
    print(f"backtest_symbols: {args.symbols}")
    print(f"backtest_days: {args.days}")
    print(f"backtest_seconds: {seconds:.4f}")
    print(f"backtest_symbol_days_per_s: {rate:.0f}")
    print(f"backtest_target_symbol_days_per_s: {TARGET}")
    print(f"pandas_loop_symbols: {small.shape[1]}")
    print(f"pandas_loop_symbol_days_per_s: {loop_rate:.0f}")
    print(f"backtest_speedup_vs_pandas_loop: {rate / loop_rate:.1f}")
    print(f"backtest_max_rel_equity_diff_vs_pandas_loop: {diff:.3e}")


if __name__ == "__main__":
    main()
