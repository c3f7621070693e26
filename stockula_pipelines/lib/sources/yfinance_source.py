"""Yahoo Finance through the ``yfinance`` package, one symbol at a time.

* prices / dividends / splits: ``Ticker(sym).history(start, end, interval, auto_adjust=False,
  actions=True)``; dividends and splits reuse the daily history of the same window, so one cached
  response serves all three;
* option chains: ``Ticker.options`` then ``option_chain(expiry)`` for EVERY listed expiry; the
  snapshot time of a symbol's chains is when its expiry list was fetched (cached with it, so a re-run
  within the TTL reloads identical keys); Yahoo serves only the current chain, so a snapshot date
  older than :data:`MAX_SNAPSHOT_AGE_DAYS` is refused rather than mislabelled;
* stocks: ``Ticker.info``.

Rate limits (``YFRateLimitError`` / HTTP 429) are retried with exponential backoff and full jitter;
anything else surfaces as :class:`SourceError` naming the symbol. Raw responses go through a
:class:`~stockula_pipelines.lib.cache.ResponseCache`.
"""

from __future__ import annotations

import random
import time as _time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from types import ModuleType
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import polars as pl

from stockula_pipelines.lib.cache import (
    NullCache,
    frame_from_bytes,
    frame_to_bytes,
    json_from_bytes,
    json_to_bytes,
)
from stockula_pipelines.lib.normalize import (
    NormalizedHistory,
    history_from_pandas,
    option_chain_frame,
    stock_from_info,
)
from stockula_pipelines.lib.schemas import empty_frame
from stockula_pipelines.lib.sources.base import (
    DEFAULT_EXCHANGE_TZ,
    SourceError,
    in_window,
    require_utc_window,
    resolve_symbols,
)

T = TypeVar("T")

DEFAULT_UNIVERSE = ("AAPL", "MSFT", "AMZN", "GOOGL", "META", "NVDA", "JPM", "XOM", "JNJ", "SPY")
MAX_SNAPSHOT_AGE_DAYS = 4  # covers a long weekend: Friday's chain is still "the current one" on Tuesday


class SourceRateLimitError(SourceError):
    """Still rate limited after the configured number of retries."""


class YFinanceSource:
    name = "yfinance"

    def __init__(
        self,
        *,
        yf_module: ModuleType | Any | None = None,
        cache: NullCache | None = None,
        symbols: Sequence[str] | None = None,
        exchange_tz: str = DEFAULT_EXCHANGE_TZ,
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
        self.max_retries = max_retries
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.clock = clock
        self.last_stats: dict[str, int] = {}
        self._tickers: dict[str, Any] = {}

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
        args = {"start": start.astimezone(UTC).isoformat(), "end": end.astimezone(UTC).isoformat(),
                "interval": interval, "auto_adjust": False, "actions": True}

        def fetch() -> dict[str, bytes]:
            frame = self._call(symbol, f"history({interval})", lambda: self._ticker(symbol).history(
                start=start, end=end, interval=interval, auto_adjust=False, actions=True))
            if frame is None:
                raise SourceError(f"history({interval}) returned nothing", source=self.name, symbol=symbol)
            return {"frame": frame_to_bytes(frame)}

        return frame_from_bytes(self.cache.fetch("history", symbol, args, fetch)["frame"])

    def _normalized(self, symbols, start, end, interval) -> NormalizedHistory:
        require_utc_window(start, end, source=self.name)
        prices, dividends, splits = [], [], []
        stats = {"dropped_all_nan": 0, "dropped_duplicates": 0}
        for symbol in resolve_symbols(symbols, self._symbols):
            h = history_from_pandas(self._history(symbol, start, end, interval), symbol,
                                    interval=interval, exchange_tz=self.exchange_tz, source=self.name)
            prices.append(in_window(h.prices, start, end))
            dividends.append(in_window(h.dividends, start, end))
            splits.append(in_window(h.splits, start, end))
            stats["dropped_all_nan"] += h.dropped_all_nan
            stats["dropped_duplicates"] += h.dropped_duplicates
        self.last_stats = stats
        return NormalizedHistory(
            pl.concat(prices) if prices else empty_frame("price_history"),
            pl.concat(dividends) if dividends else empty_frame("dividends"),
            pl.concat(splits) if splits else empty_frame("splits"),
            **stats,
        )

    # --- MarketDataSource -------------------------------------------------------------------------
    def universe(self) -> list[str]:
        return list(self._symbols)

    def stocks(self, symbols: Sequence[str] | None = None) -> pl.DataFrame:
        rows = []
        for symbol in resolve_symbols(symbols, self._symbols):
            parts = self.cache.fetch("info", symbol, {}, lambda s=symbol: {
                "info": json_to_bytes(self._call(s, "info", lambda: dict(self._ticker(s).info or {})))})
            rows.append(stock_from_info(json_from_bytes(parts["info"]), symbol))
        return pl.concat(rows) if rows else empty_frame("stocks")

    def price_bars(self, symbols, start: datetime, end: datetime, interval: str) -> pl.DataFrame:
        return self._normalized(symbols, start, end, interval).prices

    def dividends(self, symbols, start: datetime, end: datetime) -> pl.DataFrame:
        return self._normalized(symbols, start, end, "1d").dividends

    def splits(self, symbols, start: datetime, end: datetime) -> pl.DataFrame:
        return self._normalized(symbols, start, end, "1d").splits

    def option_chains(self, symbols, snapshot_date: date) -> tuple[pl.DataFrame, pl.DataFrame]:
        today = self.clock().astimezone(ZoneInfo(self.exchange_tz)).date()
        if snapshot_date > today or today - snapshot_date > timedelta(days=MAX_SNAPSHOT_AGE_DAYS):
            raise SourceError(
                f"option snapshot {snapshot_date} is not current (today is {today} in {self.exchange_tz}); "
                "Yahoo serves only the live chain", source=self.name)
        calls, puts = [], []
        for symbol in resolve_symbols(symbols, self._symbols):
            c, p = self._symbol_chains(symbol, snapshot_date)
            calls.extend(c)
            puts.extend(p)
        return (pl.concat(calls) if calls else empty_frame("options_calls"),
                pl.concat(puts) if puts else empty_frame("options_puts"))

    def _symbol_chains(self, symbol: str, snapshot_date: date):
        listing = json_from_bytes(self.cache.fetch(
            "options", symbol, {"snapshot_date": snapshot_date.isoformat()},
            lambda: {"listing": json_to_bytes({
                "expiries": list(self._call(symbol, "options", lambda: self._ticker(symbol).options) or ()),
                "fetched_at": self.clock().astimezone(UTC).replace(microsecond=0).isoformat(),
            })})["listing"])
        snapshot_time = datetime.fromisoformat(listing["fetched_at"])
        calls, puts = [], []
        for expiry in listing["expiries"]:
            parts = self.cache.fetch("option_chain", symbol,
                                     {"expiry": expiry, "snapshot_date": snapshot_date.isoformat()},
                                     lambda e=expiry: self._fetch_chain(symbol, e))
            underlying = json_from_bytes(parts["underlying"]) or {}
            price = underlying.get("regularMarketPrice")
            common = {"symbol": symbol, "expiration_date": date.fromisoformat(expiry),
                      "snapshot_date": snapshot_date, "snapshot_time": snapshot_time,
                      "underlying_price": float(price) if price is not None else None, "source": self.name}
            if "calls" in parts:
                calls.append(option_chain_frame(frame_from_bytes(parts["calls"]), **common))
                puts.append(option_chain_frame(frame_from_bytes(parts["puts"]), **common))
        return calls, puts

    def _fetch_chain(self, symbol: str, expiry: str) -> dict[str, bytes]:
        chain = self._call(symbol, f"option_chain({expiry})", lambda: self._ticker(symbol).option_chain(expiry))
        parts = {"underlying": json_to_bytes(getattr(chain, "underlying", None))}
        # yfinance returns calls=None when Yahoo has no chain for the expiry (delisted contract series).
        if getattr(chain, "calls", None) is not None and getattr(chain, "puts", None) is not None:
            parts["calls"] = frame_to_bytes(chain.calls)
            parts["puts"] = frame_to_bytes(chain.puts)
        return parts
