"""A source reading a directory of files in Yahoo Finance's export layouts.

Layout (also in ``docs/files-source.md``)::

    <dir>/
      stocks.csv                         symbol,name,sector,industry,market_cap,exchange,currency
      prices/<SYMBOL>.csv | .parquet     Date,Open,High,Low,Close,Adj Close,Volume      (daily, '1d')
      prices_<interval>/<SYMBOL>.csv     Datetime,Open,High,Low,Close,Adj Close,Volume  (e.g. prices_5m/)
      dividends/<SYMBOL>.csv             Date,Dividends
      splits/<SYMBOL>.csv                Date,Stock Splits        ratio as '4:1', '1/10' or '4.0'
      options/<SYMBOL>/<YYYY-MM-DD>/     one directory per snapshot date
          calls_<YYYY-MM-DD>.csv         per expiry, yfinance option_chain() columns: contractSymbol,
          puts_<YYYY-MM-DD>.csv          lastTradeDate,strike,lastPrice,bid,ask,change,percentChange,
                                         volume,openInterest,impliedVolatility,inTheMoney,contractSize,currency
          snapshot.json                  optional {"time": "<ISO-8601 with offset>", "underlying_price": 172.1}

* ``Date`` is a calendar date (YYYY-MM-DD); the bar / action time is 00:00 exchange time, in UTC.
* ``Datetime`` must carry a UTC offset (``2024-03-05 09:30:00-05:00`` or ``...Z``); naive times are
  rejected because their zone would be a guess.
* Empty cells, ``null`` (Yahoo's marker) and ``NaN`` are missing values; all-missing price rows are dropped.
* Without ``snapshot.json`` an options snapshot is timed at the session close of its date and its
  underlying price is that day's close from ``prices/<SYMBOL>``.
* A symbol without a file simply has no data. The universe is ``stocks.csv``'s symbols, else the
  file names under ``prices/``.

A malformed file raises :class:`FilesSourceError` naming the file, the line (CSV, header = line 1) or
row (parquet, 1-based), the column and the offending value.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from stockula_pipelines.lib.normalize import history_from_polars, option_chain_frame
from stockula_pipelines.lib.schemas import UTC_TS, conform, empty_frame
from stockula_pipelines.lib.sources.base import SourceError, in_window, require_utc_window, resolve_symbols

MISSING = ("", "null", "nan", "none", "n/a")
PRICE_COLUMNS = ("Open", "High", "Low", "Close", "Volume")
OPTION_FLOATS = ("strike", "lastPrice", "bid", "ask", "volume", "openInterest", "impliedVolatility")


class FilesSourceError(SourceError):
    """A file of the files source is missing a column or holds a value that does not parse."""


class _Table:
    """A file read with every column as text, remembering how to point at one of its rows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            if path.suffix == ".parquet":
                frame = pl.read_parquet(path)
                self.frame = frame.with_columns(
                    pl.col(c).dt.strftime("%Y-%m-%d %H:%M:%S%.f%z") if isinstance(t, pl.Datetime) else
                    pl.col(c).cast(pl.String) for c, t in frame.schema.items()
                )
            else:
                self.frame = pl.read_csv(path, infer_schema=False, truncate_ragged_lines=False)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise FilesSourceError(f"{path}: unreadable: {exc}", source="files") from exc

    def where(self, index: int) -> str:
        return f"row {index + 1}" if self.path.suffix == ".parquet" else f"line {index + 2}"

    def require(self, *columns: str) -> None:
        missing = [c for c in columns if c not in self.frame.columns]
        if missing:
            raise FilesSourceError(
                f"{self.path}: missing column(s) {', '.join(missing)} (has {', '.join(self.frame.columns)})",
                source="files")

    def parse(self, column: str, parsed: pl.Series, what: str) -> pl.Series:
        """Fail on the first cell that is present but did not parse; return ``parsed``."""
        raw = self.frame[column].str.strip_chars()
        present = raw.is_not_null() & ~raw.str.to_lowercase().is_in(MISSING)
        bad = (present & parsed.is_null()).arg_true()
        if len(bad):
            i = int(bad[0])
            raise FilesSourceError(
                f"{self.path}: {self.where(i)}, column {column}: cannot parse {raw[i]!r} as {what}",
                source="files")
        return parsed

    def floats(self, column: str) -> pl.Series:
        raw = self.frame[column].str.strip_chars()
        return self.parse(column, raw.cast(pl.Float64, strict=False), "a number")

    def dates(self, column: str) -> pl.Series:
        raw = self.frame[column].str.strip_chars().str.slice(0, 10)
        return self.parse(column, raw.str.to_date("%Y-%m-%d", strict=False), "a date (YYYY-MM-DD)")

    def datetimes(self, column: str) -> pl.Series:
        raw = self.frame[column].str.strip_chars().str.replace("T", " ").str.replace(r"Z$", "+00:00")
        aware = raw.str.to_datetime("%Y-%m-%d %H:%M:%S%.f%z", time_zone="UTC", strict=False)
        naive = raw.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", strict=False)
        naive_rows = (aware.is_null() & naive.is_not_null()).arg_true()
        if len(naive_rows):
            i = int(naive_rows[0])
            raise FilesSourceError(
                f"{self.path}: {self.where(i)}, column {column}: naive timestamp {raw[i]!r}; "
                "add its UTC offset (e.g. -05:00)", source="files")
        return self.parse(column, aware, "a timestamp with a UTC offset")

    def ratios(self, column: str) -> pl.Series:
        raw = self.frame[column].str.strip_chars()
        pair = raw.str.extract_groups(r"^([0-9.]+)\s*[:/]\s*([0-9.]+)$")
        num = pair.struct.field("1").cast(pl.Float64, strict=False)
        den = pair.struct.field("2").cast(pl.Float64, strict=False)
        ratio = pl.select(
            pl.when(den.is_not_null() & (den != 0)).then(num / den)
            .otherwise(raw.cast(pl.Float64, strict=False))
        ).to_series()
        return self.parse(column, ratio, "a split ratio like 4:1 or 4.0")

    def booleans(self, column: str) -> pl.Series:
        raw = self.frame[column].str.strip_chars().str.to_lowercase()
        parsed = raw.replace_strict({"true": True, "1": True, "false": False, "0": False},
                                    default=None, return_dtype=pl.Boolean)
        return self.parse(column, parsed, "true/false")


class FilesSource:
    name = "files"

    def __init__(self, directory: str | Path, *, exchange: str = "XNYS") -> None:
        self.directory = Path(directory)
        if not self.directory.is_dir():
            raise FilesSourceError(f"{self.directory} is not a directory", source=self.name)
        self.exchange = exchange
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

    def _history(self, symbol: str, interval: str):
        folder = self.directory / ("prices" if interval == "1d" else f"prices_{interval}")
        path = self._find(folder, symbol)
        if path is None:
            return None
        table = _Table(path)
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
                                   source=self.name)

    def _actions(self, kind: str, symbol: str) -> pl.DataFrame:
        table_name, column = {"dividends": ("dividends", "Dividends"), "splits": ("splits", "Stock Splits")}[kind]
        path = self._find(self.directory / kind, symbol)
        if path is None:
            return empty_frame(table_name)
        table = _Table(path)
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
            table = _Table(stocks)
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
        table = _Table(path)
        table.require("symbol", "name", "sector", "industry", "market_cap", "exchange", "currency")
        cap = table.floats("market_cap").round(0).cast(pl.Int64)
        frame = table.frame.with_columns(pl.col("symbol").str.strip_chars(), cap.alias("market_cap"))
        return conform(frame.filter(pl.col("symbol").is_in(wanted)), "stocks")

    def price_bars(self, symbols, start: datetime, end: datetime, interval: str) -> pl.DataFrame:
        require_utc_window(start, end, source=self.name)
        parts = [h.prices for s in resolve_symbols(symbols, self.universe())
                 if (h := self._history(s, interval)) is not None]
        return in_window(pl.concat(parts), start, end) if parts else empty_frame("price_history")

    def dividends(self, symbols, start: datetime, end: datetime) -> pl.DataFrame:
        require_utc_window(start, end, source=self.name)
        parts = [self._actions("dividends", s) for s in resolve_symbols(symbols, self.universe())]
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
            snap_time, underlying = self._snapshot_meta(folder, symbol, snapshot_date)
            for side, out in (("calls", calls), ("puts", puts)):
                for path in sorted(folder.glob(f"{side}_*.csv")):
                    out.append(self._chain(path, symbol, snapshot_date, snap_time, underlying))
        return (pl.concat(calls) if calls else empty_frame("options_calls"),
                pl.concat(puts) if puts else empty_frame("options_puts"))

    def _snapshot_meta(self, folder: Path, symbol: str, snapshot_date: date) -> tuple[datetime, float | None]:
        meta_path = folder / "snapshot.json"
        meta = {}
        if meta_path.is_file():
            try:
                meta = json.loads(meta_path.read_text())
            except ValueError as exc:
                raise FilesSourceError(f"{meta_path}: not valid JSON: {exc}", source=self.name) from exc
        if "time" in meta:
            try:
                snap_time = datetime.fromisoformat(str(meta["time"]).replace("Z", "+00:00"))
            except ValueError as exc:
                raise FilesSourceError(f"{meta_path}: time {meta['time']!r} is not ISO-8601",
                                       source=self.name) from exc
            if snap_time.tzinfo is None:
                raise FilesSourceError(f"{meta_path}: time {meta['time']!r} has no UTC offset", source=self.name)
        else:
            snap_time = self._session_close(snapshot_date)
        underlying = meta.get("underlying_price")
        if underlying is None:
            history = self._history(symbol, "1d")
            if history is not None:
                day = history.prices.filter(pl.col("date") == snapshot_date)
                underlying = day["close_price"][0] if day.height else None
        return snap_time, (float(underlying) if underlying is not None else None)

    def _session_close(self, day: date) -> datetime:
        from stockula_pipelines.lib.calendar import session_open_close

        try:
            return session_open_close(day, self.exchange)[1]
        except Exception:  # not a session (weekend/holiday): the regular close of that calendar day
            return datetime.combine(day, time(16, 0), ZoneInfo(self.exchange_tz))

    def _chain(self, path: Path, symbol: str, snapshot_date: date, snap_time: datetime,
               underlying: float | None) -> pl.DataFrame:
        try:
            expiry = date.fromisoformat(path.stem.split("_", 1)[1])
        except (IndexError, ValueError) as exc:
            raise FilesSourceError(f"{path}: file name must be <calls|puts>_<YYYY-MM-DD>.csv",
                                   source=self.name) from exc
        table = _Table(path)
        table.require("contractSymbol", *OPTION_FLOATS, "inTheMoney")
        frame = pl.DataFrame({"contractSymbol": table.frame["contractSymbol"].str.strip_chars(),
                              **{c: table.floats(c) for c in OPTION_FLOATS},
                              "inTheMoney": table.booleans("inTheMoney")})
        return option_chain_frame(frame, symbol=symbol, expiration_date=expiry, snapshot_date=snapshot_date,
                                  snapshot_time=snap_time, underlying_price=underlying, source=self.name)
