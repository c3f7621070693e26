"""A deterministic synthetic market-data source: realistic-looking data with no network.

Everything is a pure function of ``seed`` (and ``history_start``): each symbol's daily path is
generated from ``history_start`` with random streams keyed by (seed, symbol), and each intraday day
and option snapshot by (seed, symbol, date), so any window or symbol subset asked for agrees with
any other on the rows they share. Companies are fictitious (see :mod:`.synthetic_universe`).

Conventions: daily bars are stamped at 00:00 exchange time of the trading date (as yfinance's daily
history is), intraday bars at their open inside the session, dividends and splits at 00:00 of the
ex-date; prices are raw (unadjusted); see :mod:`.synthetic_paths` for how paths are built and
:mod:`.synthetic_options` for the option chains.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, time

import numpy as np
import polars as pl

from stockula_pipelines.lib import schemas
from stockula_pipelines.lib.calendar import DEFAULT_EXCHANGE, get_calendar

from .base import SourceError, require_utc_window
from .synthetic_options import chain
from .synthetic_paths import DailyPath, aggregate, daily_path, minute_bars
from .synthetic_universe import SymbolParams, assign_splits, build_params, build_universe, symbol_key

_EXCHANGE_LABEL = {"XNYS": "NYSE", "XNAS": "NASDAQ"}
_INTERVAL = re.compile(r"^(\d+)(m|h)$")
_SUPPORTED_MINUTES = (1, 2, 5, 15, 30, 60, 90)


def _ns(dt: datetime) -> int:
    return int(dt.timestamp() * 1_000_000) * 1000


class SyntheticSource:
    name = "synthetic"

    def __init__(
        self,
        seed: int = 42,
        universe_size: int = 50,
        exchange: str = DEFAULT_EXCHANGE,
        history_start: date = date(2018, 1, 2),
    ) -> None:
        self.seed = int(seed)
        self.exchange = exchange
        self.history_start = history_start
        self._cal = cal = get_calendar(exchange)
        if not cal.first_day <= history_start < cal.last_day:
            raise SourceError(
                f"history_start {history_start.isoformat()} is outside the {exchange} calendar "
                f"({cal.first_day.isoformat()}..{cal.last_day.isoformat()})", source=self.name)
        self._first = int(np.searchsorted(cal.sessions, np.datetime64(history_start, "D")))
        self._sessions = cal.sessions[self._first:]
        self._opens = cal.opens_ns[self._first:]
        self._closes = cal.closes_ns[self._first:]
        self._midnights = np.array(
            [_ns(datetime.combine(d, time(0), tzinfo=cal.tz)) for d in self._sessions.tolist()], np.int64)
        self._companies = build_universe(universe_size)
        self._company = {c.symbol: c for c in self._companies}
        self._splits = assign_splits(self.seed, [c.symbol for c in self._companies], history_start)
        self._cache: dict[str, tuple[SymbolParams, DailyPath, list[tuple[int, float]]]] = {}

    def confirms_empty(self, kind: str, symbol: str, start: datetime, end: datetime) -> bool:
        """Every symbol of the universe is generated for every session: an empty answer is the truth."""
        return symbol.upper() in self._company

    # --- universe --------------------------------------------------------------------------------
    def universe(self) -> list[str]:
        return [c.symbol for c in self._companies]

    def _symbols(self, symbols: Sequence[str] | None) -> list[str]:
        if symbols is None:
            return self.universe()
        out = list(dict.fromkeys(s.upper() for s in symbols))
        for s in out:
            if s not in self._company:
                raise SourceError(f"unknown symbol: not in the synthetic universe of {len(self._companies)} "
                                  f"symbols (seed {self.seed})", source=self.name, symbol=s)
        return out

    def stocks(self, symbols: Sequence[str] | None = None) -> pl.DataFrame:
        rows = [self._company[s] for s in self._symbols(symbols)]
        frame = pl.DataFrame({
            "symbol": [c.symbol for c in rows],
            "name": [c.name for c in rows],
            "sector": [c.sector for c in rows],
            "industry": [c.industry for c in rows],
            "market_cap": [c.market_cap for c in rows],
            "exchange": [_EXCHANGE_LABEL.get(self.exchange, self.exchange)] * len(rows),
            "currency": ["USD"] * len(rows),
        }, schema_overrides={"market_cap": pl.Int64})
        return schemas.conform(frame, "stocks")

    def dividend_yield(self, symbol: str) -> float:
        """The continuous yield ``q`` the symbol's option chains are priced with (0 for non-payers)."""
        return self._data(self._symbols([symbol])[0])[0].dividend_yield

    # --- paths -------------------------------------------------------------------------------------
    def _data(self, symbol: str) -> tuple[SymbolParams, DailyPath, list[tuple[int, float]]]:
        cached = self._cache.get(symbol)
        if cached is not None:
            return cached
        params = build_params(self.seed, self._company[symbol])
        n = len(self._sessions)
        factor = np.ones(n)
        split_events = []
        for day, ratio in self._splits.get(symbol, ()):
            idx = int(np.searchsorted(self._sessions, np.datetime64(day, "D")))  # next session on/after
            if 0 < idx < n:
                factor[:idx] *= ratio
                split_events.append((idx, ratio))
        div_idx, div_year = [], []
        if params.dividend_yield > 0:
            for year in range(self.history_start.year, self._cal.last_day.year + 1):
                for q in range(4):
                    day = date(year, params.dividend_month + 3 * q, params.dividend_day)
                    idx = int(np.searchsorted(self._sessions, np.datetime64(day, "D")))
                    if 0 < idx < n:
                        div_idx.append(idx)
                        div_year.append(year)
        path = daily_path(
            self.seed, symbol_key(symbol), mu=params.mu, sigma=params.sigma,
            start_price=params.start_price, base_volume=params.base_volume, split_factor=factor,
            dividend_idx=np.array(div_idx, np.int64), dividend_yield=params.dividend_yield,
            dividend_year=np.array(div_year, np.int64),
        )
        self._cache[symbol] = cached = (params, path, split_events)
        return cached

    # --- bars ---------------------------------------------------------------------------------------
    def price_bars(
        self, symbols: Sequence[str] | None, start: datetime, end: datetime, interval: str
    ) -> pl.DataFrame:
        require_utc_window(start, end, source=self.name)
        syms = self._symbols(symbols)
        if interval == "1d":
            return self._daily_bars(syms, _ns(start), _ns(end))
        match = _INTERVAL.match(interval)
        minutes = int(match.group(1)) * (60 if match.group(2) == "h" else 1) if match else 0
        if minutes not in _SUPPORTED_MINUTES:
            raise SourceError(f"unsupported interval {interval!r}; use '1d' or one of "
                              f"{', '.join(f'{m}m' for m in _SUPPORTED_MINUTES)}", source=self.name)
        return self._intraday_bars(syms, _ns(start), _ns(end), minutes, interval)

    def _daily_bars(self, syms: list[str], start_ns: int, end_ns: int) -> pl.DataFrame:
        lo = int(np.searchsorted(self._midnights, start_ns, side="left"))
        hi = int(np.searchsorted(self._midnights, end_ns, side="left"))
        parts = [self._data(s)[1] for s in syms]
        sl = slice(lo, hi)
        count = max(hi - lo, 0)
        return _bars_frame(
            np.tile(self._midnights[sl], len(syms)), np.repeat(np.array(syms, dtype=object), count), "1d",
            np.tile(self._sessions[sl], len(syms)),
            *(np.concatenate([getattr(p, f)[sl] for p in parts]) if parts else np.empty(0)
              for f in ("open", "high", "low", "close", "volume")),
        )

    def _intraday_bars(self, syms: list[str], start_ns: int, end_ns: int, minutes: int, label: str) -> pl.DataFrame:
        lo = int(np.searchsorted(self._closes, start_ns, side="right"))
        hi = int(np.searchsorted(self._opens, end_ns, side="left"))
        days = np.arange(lo, max(hi, lo))
        if not len(days) or not syms:
            return schemas.empty_frame("price_history")
        paths = [self._data(s)[1] for s in syms]
        sym_idx = np.repeat(np.arange(len(syms)), len(days))
        day_idx = np.tile(days, len(syms))
        keys = np.array([symbol_key(s) for s in syms], dtype=np.uint64)[sym_idx]
        ordinals = self._sessions[day_idx].astype(np.int64)
        lengths = (self._closes[day_idx] - self._opens[day_idx]) // 60_000_000_000
        daily = [np.concatenate([getattr(p, f)[days] for p in paths]) for f in ("open", "high", "low", "close", "volume")]
        bars = minute_bars(self.seed, keys, ordinals, lengths, *daily)
        seg, local, (o, h, lo_, c, v) = aggregate(bars, minutes)
        times = self._opens[day_idx][seg] + local * 60_000_000_000
        keep = (times >= start_ns) & (times < end_ns)
        syms_arr = np.array(syms, dtype=object)
        return _bars_frame(times[keep], syms_arr[sym_idx[seg][keep]], label, self._sessions[day_idx[seg][keep]],
                           o[keep], h[keep], lo_[keep], c[keep], v[keep])

    # --- corporate actions -------------------------------------------------------------------------
    def dividends(self, symbols: Sequence[str] | None, start: datetime, end: datetime) -> pl.DataFrame:
        require_utc_window(start, end, source=self.name)
        rows = []
        for s in self._symbols(symbols):
            path = self._data(s)[1]
            rows.extend((s, int(i), float(a)) for i, a in zip(path.dividend_idx, path.dividend_amount, strict=True))
        return self._events(rows, _ns(start), _ns(end), "amount", "dividends")

    def splits(self, symbols: Sequence[str] | None, start: datetime, end: datetime) -> pl.DataFrame:
        require_utc_window(start, end, source=self.name)
        rows = [(s, i, r) for s in self._symbols(symbols) for i, r in self._data(s)[2]]
        return self._events(rows, _ns(start), _ns(end), "ratio", "splits")

    def _events(self, rows, start_ns: int, end_ns: int, value: str, table: str) -> pl.DataFrame:
        rows = [r for r in rows if start_ns <= self._midnights[r[1]] < end_ns]
        frame = pl.DataFrame({
            "time": _utc(np.array([self._midnights[i] for _, i, _ in rows], np.int64)),
            "symbol": [s for s, _, _ in rows],
            "ex_date": pl.Series(np.array([self._sessions[i] for _, i, _ in rows], "datetime64[D]"), dtype=pl.Date),
            value: [v for _, _, v in rows],
            "source": [self.name] * len(rows),
        })
        return schemas.conform(frame.sort("time", "symbol"), table)

    # --- options -----------------------------------------------------------------------------------
    def option_chains(self, symbols: Sequence[str] | None, snapshot_date: date) -> tuple[pl.DataFrame, pl.DataFrame]:
        syms = self._symbols(symbols)
        if snapshot_date < self.history_start or not self._cal.is_trading_day(snapshot_date):
            raise SourceError(f"no option snapshot on {snapshot_date.isoformat()}: not a trading day on "
                              f"{self.exchange} since history_start {self.history_start.isoformat()}",
                              source=self.name)
        i = int(np.searchsorted(self._sessions, np.datetime64(snapshot_date, "D")))
        snap_time = datetime.fromtimestamp(self._closes[i] / 1e9, tz=UTC)
        sides: tuple[list[pl.DataFrame], list[pl.DataFrame]] = ([], [])
        for s in syms:
            params, path, _ = self._data(s)
            spot = float(path.close[i])
            for out, rows in zip(sides, chain(
                self.seed, symbol_key(s), s, self._cal, snapshot_date, snap_time, spot,
                atm_vol=params.sigma, dividend_yield=params.dividend_yield, skew=params.skew,
                curvature=params.curvature, term_slope=params.term_slope), strict=True):
                n = len(rows.strike)
                out.append(pl.DataFrame({
                    "time": pl.Series([snap_time] * n, dtype=schemas.UTC_TS),
                    "fetched_at": pl.Series([snap_time] * n, dtype=schemas.UTC_TS),
                    "snapshot_date": pl.Series([snapshot_date] * n, dtype=pl.Date),
                    "symbol": [s] * n,
                    "contract_symbol": rows.contract_symbol,
                    "expiration_date": pl.Series(rows.expiration, dtype=pl.Date),
                    "strike": rows.strike, "last_price": rows.last_price, "bid": rows.bid, "ask": rows.ask,
                    "volume": rows.volume, "open_interest": rows.open_interest,
                    "source_implied_volatility": rows.iv, "in_the_money": rows.itm,
                    "underlying_price": [spot] * n, "source": [self.name] * n,
                }))
        calls, puts = (
            schemas.conform(pl.concat(frames), "options_calls") if frames else schemas.empty_frame("options_calls")
            for frames in sides
        )
        return calls, puts


def _utc(ns: np.ndarray) -> pl.Series:
    return pl.Series("time", ns // 1000, dtype=pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def _bars_frame(times_ns, symbols, interval, dates, o, h, low, c, v) -> pl.DataFrame:
    frame = pl.DataFrame({
        "time": _utc(np.asarray(times_ns, np.int64)),
        "symbol": pl.Series(symbols, dtype=pl.String),
        "interval": pl.repeat(interval, len(times_ns), eager=True, dtype=pl.String),
        "date": pl.Series(np.asarray(dates, "datetime64[D]"), dtype=pl.Date),
        "open_price": np.asarray(o, np.float64), "high_price": np.asarray(h, np.float64),
        "low_price": np.asarray(low, np.float64), "close_price": np.asarray(c, np.float64),
        "volume": np.asarray(v, np.int64),
        "source": pl.repeat(SyntheticSource.name, len(times_ns), eager=True, dtype=pl.String),
    })
    return schemas.conform(frame, "price_history")

