"""A source reading a directory of files in Yahoo Finance's export layouts.

Layout (the rules in full are in ``docs/files-source.md``)::

    <dir>/
      stocks.csv                         symbol,name,sector,industry,market_cap,exchange,currency
      prices/<SYMBOL>.csv | .parquet     Date,Open,High,Low,Close,Adj Close,Volume      (daily, '1d')
      prices_<interval>/<SYMBOL>.csv     Datetime,Open,High,Low,Close,Adj Close,Volume  (e.g. prices_5m/)
      dividends/<SYMBOL>.csv             Date,Dividends
      splits/<SYMBOL>.csv                Date,Stock Splits        ratio as '4:1', '1/10' or '4.0'
      options/<SYMBOL>/<YYYY-MM-DD>/     one directory per snapshot date: calls_<expiry>.csv,
                                         puts_<expiry>.csv (yfinance option_chain() columns) and an
                                         optional snapshot.json {"time": "<ISO-8601>", "underlying_price": 172.1}

* Yahoo's exports are split-adjusted (OHLC, Volume, Dividends: see :mod:`.yahoo_adjust`), so by
  default (``split_adjusted=True``, ``STOCKULA_FILES_SPLIT_ADJUSTED``) prices and dividends are made
  raw with the symbol's ``splits/`` file, its complete split history (no file: never split);
  ``split_adjusted=False`` declares raw files. ``Adj Close`` is always ignored.
* ``Date`` is a calendar date (YYYY-MM-DD); the bar / action time is 00:00 exchange time, in UTC.
* ``Datetime`` must carry a UTC offset; naive times are rejected because their zone would be a guess.
* Empty cells, ``null`` (Yahoo's marker) and ``NaN`` are missing values; all-missing price rows are dropped.
* An options snapshot is timed at the session close of its date (its identity); ``fetched_at`` is
  ``snapshot.json``'s ``time``, else that close. Its underlying price is ``snapshot.json``'s, else
  that day's close from ``prices/<SYMBOL>``.
* A symbol without a file has no data, and no window is confirmed empty; a file that exists vouches
  for every window it has no row in. The universe is ``stocks.csv``'s symbols, else ``prices/``'s.

A malformed file raises :class:`FilesSourceError` naming the file, the line (CSV, header = line 1) or
row (parquet, 1-based), the column and the offending value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from stockula_pipelines.lib.schemas import UTC_TS, conform, empty_frame
from stockula_pipelines.lib.sources.base import in_window, require_utc_window, resolve_symbols
from stockula_pipelines.lib.sources.files_table import FilesSourceError, Table
from stockula_pipelines.lib.sources.normalize import history_from_polars, option_chain_frame
from stockula_pipelines.lib.sources.yahoo_adjust import unadjust_dividends

__all__ = ["FilesSource", "FilesSourceError"]

PRICE_COLUMNS = ("Open", "High", "Low", "Close", "Volume")
OPTION_FLOATS = ("strike", "lastPrice", "bid", "ask", "volume", "openInterest", "impliedVolatility")


class FilesSource:
    name = "files"

    def __init__(self, directory: str | Path, *, exchange: str = "XNYS", split_adjusted: bool = True) -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise FilesSourceError(f"{self.directory} is not a directory", source=self.name)
        self.exchange = exchange
        self.split_adjusted = split_adjusted
        # intervals asked per (symbol, start, end): confirms_empty("bars") must vouch for those files
        self._bars_asked: dict[tuple[str, datetime, datetime], set[str]] = {}
        from stockula_pipelines.lib.calendar import exchange_tz

        self.exchange_tz = str(exchange_tz(exchange))

    # --- helpers ----------------------------------------------------------------------------------
    def _safe(self, symbol: str) -> str:
        # Symbols become path components: one like '../x' must not read outside the directory.
        if not symbol or "/" in symbol or "\\" in symbol or symbol.startswith(".") or "\0" in symbol:
            raise FilesSourceError(f"symbol {symbol!r} cannot name a file", source=self.name)
        return symbol

    def _find(self, folder: Path, symbol: str) -> Path | None:
        symbol = self._safe(symbol)
        for stem in dict.fromkeys((symbol, symbol.upper())):
            for ext in (".csv", ".parquet"):
                path = folder / f"{stem}{ext}"
                if path.is_file():
                    return path
        return None

    def _prices_path(self, symbol: str, interval: str) -> Path | None:
        return self._find(self.directory / ("prices" if interval == "1d" else f"prices_{interval}"), symbol)

    def _history(self, symbol: str, interval: str):
        path = self._prices_path(symbol, interval)
        if path is None:
            return None
        table = Table(path)
        stamp = "Date" if interval == "1d" else "Datetime"
        table.require(stamp, *PRICE_COLUMNS)
        if interval == "1d":
            midnight = table.dates(stamp).cast(pl.Datetime("us")).dt.replace_time_zone(self.exchange_tz)
            ts = midnight.dt.convert_time_zone("UTC")
        else:
            ts = table.datetimes(stamp)
        frame = pl.DataFrame({"ts": ts.cast(UTC_TS), **{c: table.floats(c) for c in PRICE_COLUMNS}})
        if frame["ts"].null_count():
            i = int(frame["ts"].is_null().arg_true()[0])
            raise FilesSourceError(f"{path}: {table.where(i)}, column {stamp}: missing value", source=self.name)
        return history_from_polars(frame, symbol, interval=interval, exchange_tz=self.exchange_tz,
                                   source=self.name, split_history=self._split_history(symbol))

    def _split_history(self, symbol: str) -> pl.DataFrame | None:
        """The splits to un-adjust with: the whole splits file, or None when the files are raw."""
        return self._actions("splits", symbol) if self.split_adjusted else None

    def _actions(self, kind: str, symbol: str) -> pl.DataFrame:
        table_name, column = {"dividends": ("dividends", "Dividends"), "splits": ("splits", "Stock Splits")}[kind]
        path = self._find(self.directory / kind, symbol)
        if path is None:
            return empty_frame(table_name)
        table = Table(path)
        table.require("Date", column)
        ex_date = table.dates("Date")
        value = table.floats(column) if kind == "dividends" else table.ratios(column)
        frame = pl.DataFrame({"ex_date": ex_date, "value": value}).filter(
            pl.col("ex_date").is_not_null() & pl.col("value").is_not_null() & (pl.col("value") != 0))
        return conform(frame.select(
            pl.col("ex_date").cast(pl.Datetime("us")).dt.replace_time_zone(self.exchange_tz)
            .dt.convert_time_zone("UTC").alias("time"),
            pl.lit(symbol).alias("symbol"),
            pl.col("ex_date"),
            pl.col("value").alias("amount" if kind == "dividends" else "ratio"),
            pl.lit(self.name).alias("source"),
        ), table_name)

    # --- MarketDataSource -------------------------------------------------------------------------
    def universe(self) -> list[str]:
        stocks = self.directory / "stocks.csv"
        if stocks.is_file():
            table = Table(stocks)
            table.require("symbol")
            return [s for s in table.frame["symbol"].str.strip_chars().to_list() if s]
        folder = self.directory / "prices"
        if not folder.is_dir():
            return []
        return sorted({p.stem for p in folder.iterdir() if p.suffix in (".csv", ".parquet")})

    def stocks(self, symbols: Sequence[str] | None = None) -> pl.DataFrame:
        wanted = resolve_symbols(symbols, self.universe())
        path = self.directory / "stocks.csv"
        if not path.is_file():
            return conform(pl.DataFrame({"symbol": wanted}).with_columns(
                [pl.lit(None).alias(c) for c in ("name", "sector", "industry", "market_cap",
                                                   "exchange", "currency")]), "stocks")
        table = Table(path)
        table.require("symbol", "name", "sector", "industry", "market_cap", "exchange", "currency")
        cap = table.floats("market_cap").round(0).cast(pl.Int64)
        frame = table.frame.with_columns(pl.col("symbol").str.strip_chars(), cap.alias("market_cap"))
        return conform(frame.filter(pl.col("symbol").is_in(wanted)), "stocks")

    def price_bars(self, symbols, start: datetime, end: datetime, interval: str) -> pl.DataFrame:
        require_utc_window(start, end, source=self.name)
        wanted = resolve_symbols(symbols, self.universe())
        for symbol in wanted:
            self._bars_asked.setdefault((symbol, start, end), set()).add(interval)
        parts = [h.prices for s in wanted if (h := self._history(s, interval)) is not None]
        return in_window(pl.concat(parts), start, end) if parts else empty_frame("price_history")

    def dividends(self, symbols, start: datetime, end: datetime) -> pl.DataFrame:
        require_utc_window(start, end, source=self.name)
        parts = []
        for symbol in resolve_symbols(symbols, self.universe()):
            frame, splits = self._actions("dividends", symbol), self._split_history(symbol)
            parts.append(unadjust_dividends(frame, splits) if splits is not None else frame)
        return in_window(pl.concat(parts), start, end) if parts else empty_frame("dividends")

    def splits(self, symbols, start: datetime, end: datetime) -> pl.DataFrame:
        require_utc_window(start, end, source=self.name)
        parts = [self._actions("splits", s) for s in resolve_symbols(symbols, self.universe())]
        return in_window(pl.concat(parts), start, end) if parts else empty_frame("splits")

    def option_chains(self, symbols, snapshot_date: date) -> tuple[pl.DataFrame, pl.DataFrame]:
        calls, puts = [], []
        for symbol in resolve_symbols(symbols, self.universe()):
            folder = self.directory / "options" / self._safe(symbol) / snapshot_date.isoformat()
            if not folder.is_dir():
                continue
            snap_time = self._session_close(snapshot_date)
            fetched_at, underlying = self._snapshot_meta(folder, symbol, snapshot_date)
            for side, out in (("calls", calls), ("puts", puts)):
                for path in sorted(folder.glob(f"{side}_*.csv")):
                    out.append(self._chain(path, symbol, snapshot_date, snap_time, fetched_at, underlying))
        return (pl.concat(calls) if calls else empty_frame("options_calls"),
                pl.concat(puts) if puts else empty_frame("options_puts"))

    def confirms_empty(self, kind: str, symbol: str, start: datetime, end: datetime) -> bool:
        """A recording vouches for the windows it covers: the symbol's file of that kind exists (for bars,
        the file of every interval asked for this window; for options, the window's snapshot directory)."""
        if kind == "bars":
            asked = self._bars_asked.get((symbol, start, end))
            return bool(asked) and all(self._prices_path(symbol, i) is not None for i in asked)
        if kind in ("dividends", "splits"):
            return self._find(self.directory / kind, symbol) is not None
        if kind == "options":
            zone = ZoneInfo(self.exchange_tz)
            day, last = start.astimezone(zone).date(), (end - timedelta(microseconds=1)).astimezone(zone).date()
            folder = self.directory / "options" / self._safe(symbol)
            while day <= last:
                if (folder / day.isoformat()).is_dir():
                    return True
                day += timedelta(days=1)
        return False

    def _snapshot_meta(self, folder: Path, symbol: str, snapshot_date: date) -> tuple[datetime, float | None]:
        """When the snapshot was taken (``snapshot.json``'s time, else the close) and the underlying."""
        meta_path = folder / "snapshot.json"
        meta = {}
        if meta_path.is_file():
            try:
                meta = json.loads(meta_path.read_text())
            except ValueError as exc:
                raise FilesSourceError(f"{meta_path}: not valid JSON: {exc}", source=self.name) from exc
        if "time" in meta:
            try:
                fetched_at = datetime.fromisoformat(str(meta["time"]).replace("Z", "+00:00"))
            except ValueError as exc:
                raise FilesSourceError(f"{meta_path}: time {meta['time']!r} is not ISO-8601",
                                       source=self.name) from exc
            if fetched_at.tzinfo is None:
                raise FilesSourceError(f"{meta_path}: time {meta['time']!r} has no UTC offset", source=self.name)
        else:
            fetched_at = self._session_close(snapshot_date)
        underlying = meta.get("underlying_price")
        if underlying is None:
            history = self._history(symbol, "1d")
            if history is not None:
                day = history.prices.filter(pl.col("date") == snapshot_date)
                underlying = day["close_price"][0] if day.height else None
        return fetched_at, (float(underlying) if underlying is not None else None)

    def _session_close(self, day: date) -> datetime:
        from stockula_pipelines.lib.calendar import session_open_close

        try:
            return session_open_close(day, self.exchange)[1]
        except Exception:  # not a session (weekend/holiday): the regular close of that calendar day
            return datetime.combine(day, time(16, 0), ZoneInfo(self.exchange_tz))

    def _chain(self, path: Path, symbol: str, snapshot_date: date, snap_time: datetime, fetched_at: datetime,
               underlying: float | None) -> pl.DataFrame:
        try:
            expiry = date.fromisoformat(path.stem.split("_", 1)[1])
        except (IndexError, ValueError) as exc:
            raise FilesSourceError(f"{path}: file name must be <calls|puts>_<YYYY-MM-DD>.csv",
                                   source=self.name) from exc
        table = Table(path)
        table.require("contractSymbol", *OPTION_FLOATS, "inTheMoney")
        frame = pl.DataFrame({"contractSymbol": table.frame["contractSymbol"].str.strip_chars(),
                              **{c: table.floats(c) for c in OPTION_FLOATS},
                              "inTheMoney": table.booleans("inTheMoney")})
        return option_chain_frame(frame, symbol=symbol, expiration_date=expiry, snapshot_date=snapshot_date,
                                  snapshot_time=snap_time, fetched_at=fetched_at, underlying_price=underlying,
                                  source=self.name)
