"""What a person wants to see of the backtests: each version's portfolio statistics and equity curve."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import numpy as np
import psycopg

from stockula_pipelines.lib.db.sqlfiles import SqlFiles
from stockula_pipelines.lib.quant.performance import Statistics, statistics

_SQL = SqlFiles(__file__)
_BARS = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class PortfolioSeries:
    dates: list[date]
    returns: np.ndarray
    turnover: np.ndarray

    @property
    def equity(self) -> np.ndarray:
        return np.cumprod(1.0 + self.returns)

    def stats(self) -> Statistics:
        return statistics(self.returns, self.turnover, self.dates)


def portfolio_series(conn: psycopg.Connection, strategy_ids: list[int]) -> dict[int, PortfolioSeries]:
    rows = conn.execute(_SQL.text("select_portfolio_returns"),
                        {"ids": strategy_ids}).fetchall()
    grouped: dict[int, list[tuple]] = {}
    for sid, day, ret, turnover in rows:
        grouped.setdefault(int(sid), []).append((day, ret, turnover))
    return {sid: PortfolioSeries([r[0] for r in g], np.array([r[1] for r in g], dtype=float),
                                 np.array([r[2] for r in g], dtype=float)) for sid, g in grouped.items()}


def sparkline(values: np.ndarray, width: int = 40) -> str:
    if values.size == 0:
        return ""
    picks = values[np.linspace(0, values.size - 1, min(width, values.size)).round().astype(int)]
    lo, hi = float(picks.min()), float(picks.max())
    if hi - lo <= 0:
        return _BARS[0] * picks.size
    return "".join(_BARS[int((v - lo) / (hi - lo) * (len(_BARS) - 1))] for v in picks)


def equity_markdown(series: Mapping[str, PortfolioSeries], samples: int = 8) -> str:
    """One line per version (sparkline + statistics), then the equity at evenly spaced dates."""
    lines = ["| strategy | equity curve | final | CAGR | vol | Sharpe | max DD |", "|---|---|---|---|---|---|---|"]
    for name, s in series.items():
        st = s.stats()
        lines.append(f"| {name} | `{sparkline(s.equity)}` | {s.equity[-1]:.4f} | {st.cagr:.2%} | "
                     f"{st.annual_volatility:.2%} | {st.sharpe_ratio:.2f} | {st.max_drawdown:.2%} |")
    lines += ["", "| strategy | " + " | ".join(f"point {i + 1}" for i in range(samples)) + " |",
              "|---|" + "---|" * samples]
    for name, s in series.items():
        idx = np.linspace(0, s.returns.size - 1, samples).round().astype(int)
        lines.append(f"| {name} | " + " | ".join(f"{s.dates[i]}: {s.equity[i]:.3f}" for i in idx) + " |")
    return "\n".join(lines)
