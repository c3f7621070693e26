"""Yahoo Finance through the ``yfinance`` package, one symbol at a time.

* prices / dividends / splits: ``Ticker(sym).history(start, end, interval, auto_adjust=False,
  actions=True)`` for the window, fetched together with the symbol's complete split history
  (``history(period="max", interval="1d", actions=True)``'s ``Stock Splits``) and cached with it as one
  entry. Yahoo split-adjusts OHLC, volume and dividends even with ``auto_adjust=False``, and re-adjusts
  after every split; they are made raw with that history (rule in :mod:`.yahoo_adjust`), and a daily
  window's ``Stock Splits`` must agree with it. ``Ticker.splits`` would download the same max history
  but answers a hidden error with an empty Series, indistinguishable from "never split"; asking for the
  history ourselves lets its price rows prove the answer is real. It costs a second request per window
  and symbol; a split history cached apart from the bars could predate a split the bars already show.
  Dividends and splits reuse the daily window response, so one entry serves all three;
* empty responses: yfinance hides errors and returns empty frames, so an empty window is "nothing came
  back", never cached and never confirmed empty; a window whose bars arrived vouches for its absent
  dividends and splits (:meth:`YFinanceSource.confirms_empty`);
* option chains: only the current session's, as Yahoo has no history (:mod:`.yfinance_options`);
* stocks: ``Ticker.info``.

Rate limits (``YFRateLimitError`` / HTTP 429) are retried with exponential backoff and full jitter;
anything else surfaces as :class:`SourceError` naming the symbol. Raw responses go through a
:class:`~stockula_pipelines.lib.cache.ResponseCache`.
"""

from __future__ import annotations

import random
import time as _time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from types import ModuleType
from typing import Any, TypeVar

import numpy as np
import pandas as pd
import polars as pl

from stockula_pipelines.lib.cache import (
    NullCache,
    frame_from_bytes,
    frame_to_bytes,
    json_from_bytes,
    json_to_bytes,
)
from stockula_pipelines.lib.schemas import empty_frame
from stockula_pipelines.lib.sources.base import (
    DEFAULT_EXCHANGE_TZ,
    SourceError,
    in_window,
    require_utc_window,
    resolve_symbols,
)
from stockula_pipelines.lib.sources.normalize import (
    NormalizedHistory,
    history_from_pandas,
    stock_from_info,
)
from stockula_pipelines.lib.sources.yahoo_adjust import (
    split_history,
    splits_from_history_frame,
    window_split_mismatch,
)
from stockula_pipelines.lib.sources.yfinance_options import OptionChainsMixin

T = TypeVar("T")

DEFAULT_UNIVERSE = ("AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "JPM", "XOM", "JNJ", "SPY")


class SourceRateLimitError(SourceError):
    """Still rate limited after the configured number of retries."""


class YFinanceSource(OptionChainsMixin):
    name = "yfinance"

    def __init__(
        self,
        *,
        yf_module: ModuleType | Any | None = None,
        cache: NullCache | None = None,
        symbols: Sequence[str] | None = None,
        exchange_tz: str = DEFAULT_EXCHANGE_TZ,
        exchange: str = "XNYS",
        max_retries: int = 5,
        base_delay: float = 1.0,
        max_delay: float = 60.0,
        sleep: Callable[[float], None] = _time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        if yf_module is None:
            import yfinance as yf_module  # deferred: importing yfinance is slow and touches the network config
        self.yf = yf_module
        self.cache = cache if cache is not None else NullCache()
        self._symbols = [s.upper() for s in (symbols or DEFAULT_UNIVERSE)]
        self.exchange_tz = exchange_tz
        self.exchange = exchange  # the calendar whose sessions date the option snapshots
        self.max_retries = max_retries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.clock = clock
        self.last_stats: dict[str, int] = {}
        self._tickers: dict[str, Any] = {}
        # (symbol, start, end) of daily windows whose response carried bars: their empty actions are real
        self._daily_with_bars: set[tuple[str, datetime, datetime]] = set()

    def _ticker(self, symbol: str) -> Any:
        # One Ticker per symbol: yfinance remembers the expiry list on it, so option_chain(expiry)
        # on a fresh Ticker would re-download the listing for every expiry.
        if symbol not in self._tickers:
            self._tickers[symbol] = self.yf.Ticker(symbol)
        return self._tickers[symbol]

    # --- plumbing ---------------------------------------------------------------------------------
    def _is_rate_limit(self, exc: BaseException) -> bool:
        rate_cls = getattr(getattr(self.yf, "exceptions", None), "YFRateLimitError", None)
        if isinstance(rate_cls, type) and isinstance(exc, rate_cls):
            return True
        response = getattr(exc, "response", None)
        if getattr(response, "status_code", None) == 429:
            return True
        text = str(exc)
        return "Too Many Requests" in text or "HTTP 429" in text

    def _call(self, symbol: str, what: str, fn: Callable[[], T]) -> T:
        for attempt in range(self.max_retries + 1):
            try:
                return fn()
            except Exception as exc:
                if not self._is_rate_limit(exc):
                    raise SourceError(f"{what} failed: {type(exc).__name__}: {exc}",
                                      source=self.name, symbol=symbol) from exc
                if attempt == self.max_retries:
                    raise SourceRateLimitError(
                        f"{what} still rate limited (HTTP 429) after {attempt + 1} attempts; "
                        "raise STOCKULA_YFINANCE_MAX_RETRIES or retry later",
                        source=self.name, symbol=symbol,
                    ) from exc
                # Full jitter: spreads retries of parallel workers instead of synchronising them.
                self.sleep(self.rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt)))
        raise AssertionError("unreachable")

    def _history(self, symbol: str, start: datetime, end: datetime, interval: str):
        """The window's frame and the split history of the same moment, or (None, None) if empty."""
        args = {"start": start.astimezone(UTC).isoformat(), "end": end.astimezone(UTC).isoformat(),
                "interval": interval, "auto_adjust": False, "actions": True}

        def fetch() -> dict[str, bytes]:
            frame = self._call(symbol, f"history({interval})", lambda: self._ticker(symbol).history(
                start=start, end=end, interval=interval, auto_adjust=False, actions=True))
            if frame is None:
                raise SourceError(f"history({interval}) returned nothing", source=self.name, symbol=symbol)
            if len(frame.index) == 0:
                return {}  # a holiday, a delisting or a hidden error: yfinance does not say which
            splits = self._split_history(symbol)
            if interval == "1d":
                shown = split_history(self._splits_of(frame, symbol, "history(1d)"))
                problem = window_split_mismatch(shown, split_history(splits), start, end, self.exchange_tz)
                if problem:
                    raise SourceError(f"history(1d): {problem}; the responses describe different moments, "
                                      "retry", source=self.name, symbol=symbol)
            return {"frame": frame_to_bytes(frame), "splits": json_to_bytes(splits)}

        parts = self.cache.fetch("history", symbol, args, fetch)
        if not parts:
            return None, None
        return frame_from_bytes(parts["frame"]), split_history(json_from_bytes(parts["splits"]))

    def _split_history(self, symbol: str) -> list[tuple[str, float]]:
        what = "history(period=max)"
        frame = self._call(symbol, what, lambda: self._ticker(symbol).history(
            period="max", interval="1d", auto_adjust=False, actions=True))
        prices = frame[[c for c in ("Open", "High", "Low", "Close") if c in frame.columns]] \
            if isinstance(frame, pd.DataFrame) else None
        if prices is None or prices.empty or not np.isfinite(prices.to_numpy(dtype=float)).any():
            raise SourceError(f"{what} (the split history) came back without prices, which is how yfinance "
                              "reports a hidden error; without it the split-adjusted bars cannot be made raw",
                              source=self.name, symbol=symbol)
        return self._splits_of(frame, symbol, what)

    def _splits_of(self, frame: pd.DataFrame, symbol: str, what: str) -> list[tuple[str, float]]:
        try:
            return splits_from_history_frame(frame, self.exchange_tz)
        except ValueError as exc:
            raise SourceError(f"{what}: {exc}", source=self.name, symbol=symbol) from exc

    def _normalized(self, symbols, start, end, interval) -> NormalizedHistory:
        require_utc_window(start, end, source=self.name)
        prices, dividends, splits = [], [], []
        stats = {"dropped_all_nan": 0, "dropped_duplicates": 0}
        for symbol in resolve_symbols(symbols, self._symbols):
            frame, history = self._history(symbol, start, end, interval)
            h = history_from_pandas(frame, symbol, interval=interval, exchange_tz=self.exchange_tz,
                                    source=self.name, split_history=history)
            prices.append(in_window(h.prices, start, end))
            dividends.append(in_window(h.dividends, start, end))
            splits.append(in_window(h.splits, start, end))
            if interval == "1d" and prices[-1].height:
                self._daily_with_bars.add((symbol, start, end))
            stats["dropped_all_nan"] += h.dropped_all_nan
            stats["dropped_duplicates"] += h.dropped_duplicates
        self.last_stats = stats
        return NormalizedHistory(
            pl.concat(prices) if prices else empty_frame("price_history"),
            pl.concat(dividends) if dividends else empty_frame("dividends"),
            pl.concat(splits) if splits else empty_frame("splits"),
            **stats,
        )

    def confirms_empty(self, kind: str, symbol: str, start: datetime, end: datetime) -> bool:
        """Dividends and splits: only when this window's daily response carried bars (so "no action"
        is Yahoo's answer, not a hidden error). Bars never: yfinance reports errors as empty frames.
        Options never: there is no history to check an empty chain against."""
        if kind in ("dividends", "splits"):
            return (symbol, start, end) in self._daily_with_bars
        return False

    # --- MarketDataSource -------------------------------------------------------------------------
    def universe(self) -> list[str]:
        return list(self._symbols)

    def stocks(self, symbols: Sequence[str] | None = None) -> pl.DataFrame:
        rows = []
        for symbol in resolve_symbols(symbols, self._symbols):
            parts = self.cache.fetch("info", symbol, {}, lambda s=symbol: self._fetch_info(s))
            rows.append(stock_from_info(json_from_bytes(parts["info"]) if parts else {}, symbol))
        return pl.concat(rows) if rows else empty_frame("stocks")

    def _fetch_info(self, symbol: str) -> dict[str, bytes]:
        info = dict(self._call(symbol, "info", lambda: self._ticker(symbol).info) or {})
        return {"info": json_to_bytes(info)} if info else {}  # an empty info is a miss, not a fact

    def price_bars(self, symbols, start: datetime, end: datetime, interval: str) -> pl.DataFrame:
        return self._normalized(symbols, start, end, interval).prices

    def dividends(self, symbols, start: datetime, end: datetime) -> pl.DataFrame:
        return self._normalized(symbols, start, end, "1d").dividends

    def splits(self, symbols, start: datetime, end: datetime) -> pl.DataFrame:
        return self._normalized(symbols, start, end, "1d").splits
