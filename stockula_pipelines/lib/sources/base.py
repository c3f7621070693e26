"""The market-data source interface every source implements.

Conventions shared by all sources:

* every ``datetime`` argument and every timestamp returned is tz-aware UTC;
* windows are half-open ``[start, end)`` on the row's ``time`` (bar open time for prices, ex-date at
  00:00 exchange time for dividends and splits);
* every method returns frames conforming to :mod:`stockula_pipelines.lib.schemas` (``conform()``);
  an empty result is an empty *typed* frame, never ``None``;
* ``symbols=None`` means the source's whole :meth:`MarketDataSource.universe`;
* a failure for one symbol raises :class:`SourceError` naming it; an empty frame means "nothing came
  back", which is NOT proof that the window is empty (yfinance returns empty frames on errors). A
  source that can positively confirm an empty window implements ``confirms_empty(kind, symbol, start,
  end)`` (kind: ``bars``, ``dividends``, ``splits``, ``options``); only then may a load empty it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol, runtime_checkable

import polars as pl

from stockula_pipelines.lib.windows import WindowError, utc_window

DEFAULT_EXCHANGE_TZ = "America/New_York"


class SourceError(RuntimeError):
    """A source could not deliver data; the message names the source, the symbol and the cause."""

    def __init__(self, message: str, *, source: str | None = None, symbol: str | None = None) -> None:
        prefix = " ".join(p for p in (source, symbol) if p)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.source = source
        self.symbol = symbol


class SourceConfigError(SourceError):
    """The source is misconfigured (unknown name, missing directory, ...)."""


@runtime_checkable
class MarketDataSource(Protocol):
    name: str

    def universe(self) -> list[str]: ...

    def stocks(self, symbols: Sequence[str] | None = None) -> pl.DataFrame: ...

    def price_bars(
        self, symbols: Sequence[str] | None, start: datetime, end: datetime, interval: str
    ) -> pl.DataFrame: ...

    def option_chains(
        self, symbols: Sequence[str] | None, snapshot_date: date
    ) -> tuple[pl.DataFrame, pl.DataFrame]: ...

    def dividends(self, symbols: Sequence[str] | None, start: datetime, end: datetime) -> pl.DataFrame: ...

    def splits(self, symbols: Sequence[str] | None, start: datetime, end: datetime) -> pl.DataFrame: ...


def confirms_empty(source: object, kind: str, symbol: str, start: datetime, end: datetime) -> bool:
    """Whether ``source`` vouches that ``symbol`` truly has no ``kind`` rows in ``[start, end)``."""
    check = getattr(source, "confirms_empty", None)
    return bool(check(kind, symbol, start, end)) if callable(check) else False


def require_utc_window(start: datetime, end: datetime, *, source: str) -> None:
    """Reject naive or inverted windows early (:func:`~stockula_pipelines.lib.windows.utc_window`)."""
    try:
        utc_window((start, end), what=f"source {source}")
    except WindowError as exc:
        raise SourceError(str(exc), source=source) from None


def in_window(frame: pl.DataFrame, start: datetime, end: datetime, column: str = "time") -> pl.DataFrame:
    return frame.filter((pl.col(column) >= start) & (pl.col(column) < end))


def resolve_symbols(symbols: Sequence[str] | None, universe: Sequence[str]) -> list[str]:
    if symbols is None:
        return list(universe)
    return list(dict.fromkeys(symbols))

