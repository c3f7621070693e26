"""A synthetic source with scripted faults on a simulated clock, for the trading-week test.

Each fault is what a real feed does to a nightly run (see DESIGN.md, "Real sources lie"):

* ``empty``: (symbol, day) pairs whose bars come back empty while the clock is before ``until``;
* ``corrupt``: (symbol, day) whose bar comes back with low above high from ``since`` on;
* ``split``: a split going ex on ``ex`` that the source reports from ``visible`` on (announced that
  morning); its bars from ``ex`` on are divided by the ratio;
* ``late_dividend``: a dividend going ex on ``ex`` that the source only reports from ``visible`` on;
* ``storm``: from ``at`` on, the first request of every symbol is rate limited (once each);
* ``option_failure``: (symbol, day) whose chain request fails;
* every chain is stamped with the simulated clock as its ``fetched_at``, so a chain asked for after
  its session is a chain fetched late.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import polars as pl

from stockula_pipelines.lib import schemas
from stockula_pipelines.lib.sources.base import SourceError
from stockula_pipelines.lib.sources.synthetic import SyntheticSource
from stockula_pipelines.lib.sources.yfinance_source import SourceRateLimitError
from stockula_pipelines.resources.market_data import MarketDataResource


@dataclass
class Clock:
    now: datetime | None = None


@dataclass
class Script:
    empty: dict[tuple[str, date], datetime] = field(default_factory=dict)  # -> until
    corrupt: dict[tuple[str, date], datetime] = field(default_factory=dict)  # -> since
    split: tuple[str, date, float, datetime] | None = None  # symbol, ex, ratio, visible from
    late_dividend: tuple[str, date, float, datetime] | None = None  # symbol, ex, amount, visible from
    storm_at: datetime | None = None
    storm_left: set[str] = field(default_factory=set)
    option_failure: set[tuple[str, date]] = field(default_factory=set)
    requests: list[tuple[str, str]] = field(default_factory=list)


class FaultySource:
    name = "synthetic"

    def __init__(self, inner: SyntheticSource, script: Script, clock: Clock) -> None:
        self.inner = inner
        self.script = script
        self.clock = clock

    # --- pass-through ------------------------------------------------------------------------------
    def universe(self) -> list[str]:
        return self.inner.universe()

    def stocks(self, symbols=None) -> pl.DataFrame:
        return self.inner.stocks(symbols)

    def confirms_empty(self, kind: str, symbol: str, start: datetime, end: datetime) -> bool:
        if kind == "bars" and any(s == symbol and self._before(until) for (s, _d), until in self.script.empty.items()):
            return False  # an empty answer the source itself cannot vouch for
        return self.inner.confirms_empty(kind, symbol, start, end)

    # --- faults --------------------------------------------------------------------------------------
    def _before(self, moment: datetime) -> bool:
        return self.clock.now is not None and self.clock.now < moment

    def _reached(self, moment: datetime | None) -> bool:
        return moment is not None and self.clock.now is not None and self.clock.now >= moment

    def price_bars(self, symbols, start, end, interval) -> pl.DataFrame:
        (symbol,) = symbols
        self.script.requests.append(("bars", symbol))
        if interval == "1d" and self._reached(self.script.storm_at) and symbol in self.script.storm_left:
            self.script.storm_left.discard(symbol)
            raise SourceRateLimitError("HTTP 429 Too Many Requests", source=self.name, symbol=symbol)
        frame = self.inner.price_bars(symbols, start, end, interval)
        for (s, day), until in self.script.empty.items():
            if s == symbol and self._before(until) and frame.filter(pl.col("date") == day).height:
                return schemas.empty_frame("price_history")
        if self.script.split and self.script.split[0] == symbol:
            _s, ex, ratio, _visible = self.script.split
            after = pl.col("date") >= ex
            frame = frame.with_columns(
                *(pl.when(after).then(pl.col(c) / ratio).otherwise(pl.col(c)).alias(c)
                  for c in ("open_price", "high_price", "low_price", "close_price")),
                pl.when(after).then((pl.col("volume") * ratio).round(0).cast(pl.Int64))
                .otherwise(pl.col("volume")).alias("volume"),
            )
        for (s, day), since in self.script.corrupt.items():
            if s == symbol and self._reached(since):
                bad = pl.col("date") == day
                frame = frame.with_columns(
                    pl.when(bad).then(pl.col("high_price") + 1).otherwise(pl.col("low_price")).alias("low_price"))
        return frame

    def splits(self, symbols, start, end) -> pl.DataFrame:
        frame = self.inner.splits(symbols, start, end)
        if self.script.split and self.script.split[0] in symbols:
            symbol, ex, ratio, visible = self.script.split
            time = self.inner._cal.local_midnight_utc(ex)  # noqa: SLF001 - the synthetic calendar
            if self._reached(visible) and start <= time < end:
                frame = pl.concat([frame, schemas.conform(pl.DataFrame({
                    "time": [time], "symbol": [symbol], "ex_date": [ex], "ratio": [ratio], "source": [self.name]}),
                    "splits")])
        return frame

    def dividends(self, symbols, start, end) -> pl.DataFrame:
        frame = self.inner.dividends(symbols, start, end)
        if self.script.late_dividend and self.script.late_dividend[0] in symbols:
            symbol, ex, amount, visible = self.script.late_dividend
            time = self.inner._cal.local_midnight_utc(ex)  # noqa: SLF001
            if self._reached(visible) and start <= time < end:
                frame = pl.concat([frame, schemas.conform(pl.DataFrame({
                    "time": [time], "symbol": [symbol], "ex_date": [ex], "amount": [amount],
                    "source": [self.name]}), "dividends")])
        return frame

    def option_chains(self, symbols, snapshot_date: date):
        (symbol,) = symbols
        if (symbol, snapshot_date) in self.script.option_failure:
            raise SourceError("option_chain() failed: HTTP 500", source=self.name, symbol=symbol)
        calls, puts = self.inner.option_chains(symbols, snapshot_date)
        stamp = pl.lit(self.clock.now).cast(schemas.UTC_TS).alias("fetched_at")
        return calls.with_columns(stamp), puts.with_columns(stamp)


SOURCES: dict[str, FaultySource] = {}


class FaultyMarketData(MarketDataResource):
    """The market-data resource of the week test: the faulty source registered under ``key``."""

    key: str = "week"

    def get_source(self) -> FaultySource:  # type: ignore[override]
        return SOURCES[self.key]
