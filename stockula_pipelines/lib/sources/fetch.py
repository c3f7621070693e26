"""Fetch a window symbol by symbol and say, per symbol, whether its stored window may be replaced.

A source that fails or returns nothing for one symbol must not cost that symbol its stored rows, and
must not stop the other symbols loading. :func:`fetch_by_symbol` asks the source one symbol at a
time and sorts the answers:

* rows came back: the symbol's window is replaced by them;
* nothing came back and the source vouches for it (``confirms_empty``): the window is emptied;
* nothing came back otherwise, or the call raised :class:`SourceError`: the symbol is skipped, its
  stored rows stay, and the reason is kept for the run's metadata and checks.

Rate-limited symbols get one more pass after the others (after ``retry_delay`` seconds), which
outlasts a short storm that the source's own backoff did not.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl

from stockula_pipelines.lib.schemas import empty_frame
from stockula_pipelines.lib.sources.base import SourceError, confirms_empty

# table -> the kind of data a source confirms as empty
KIND = {"price_history": "bars", "options_calls": "options", "options_puts": "options",
        "dividends": "dividends", "splits": "splits"}


@dataclass
class Fetched:
    """One table's answers for a window."""

    table: str
    frame: pl.DataFrame
    replace: list[str] = field(default_factory=list)  # symbols whose window the load replaces
    empty: list[str] = field(default_factory=list)  # nothing came back, not confirmed: kept as stored
    failed: dict[str, str] = field(default_factory=dict)  # symbol -> error: kept as stored
    retried: list[str] = field(default_factory=list)  # symbols answered on the second pass

    @property
    def skipped(self) -> list[str]:
        return sorted(set(self.empty) | set(self.failed))

    def describe_skipped(self, limit: int = 5) -> str:
        parts = [f"{s}: {self.failed[s]}" for s in sorted(self.failed)[:limit]]
        parts += [f"{s}: no data returned" for s in sorted(self.empty)[:limit]]
        more = len(self.failed) + len(self.empty) - len(parts)
        return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _is_rate_limit(exc: BaseException) -> bool:
    text = str(exc)
    return any("RateLimit" in cls.__name__ for cls in type(exc).__mro__) or "HTTP 429" in text \
        or "Too Many Requests" in text


def fetch_by_symbol(
    source: object,
    symbols: Sequence[str],
    window: tuple[datetime, datetime],
    call: Callable[[str], Mapping[str, pl.DataFrame]],
    *,
    tables: Sequence[str],
    retry_delay: float = 30.0,
    sleep: Callable[[float], None] = _time.sleep,
) -> dict[str, Fetched]:
    """``call(symbol)`` returns ``{table: frame}``; the answers of every symbol, sorted per table."""
    frames: dict[str, list[pl.DataFrame]] = {t: [] for t in tables}
    results = {t: Fetched(t, empty_frame(t)) for t in tables}
    errors: dict[str, SourceError] = {}

    def attempt(symbol: str) -> None:
        try:
            answer = call(symbol)
        except SourceError as exc:
            errors[symbol] = exc
            return
        errors.pop(symbol, None)
        for table in tables:
            frame = answer.get(table)
            if frame is not None and frame.height:
                frames[table].append(frame)
                results[table].replace.append(symbol)
            elif confirms_empty(source, KIND[table], symbol, *window):
                results[table].replace.append(symbol)
            else:
                results[table].empty.append(symbol)

    for symbol in symbols:
        attempt(symbol)
    limited = [s for s, exc in errors.items() if _is_rate_limit(exc)]
    if limited:
        sleep(retry_delay)
        for symbol in limited:
            attempt(symbol)
            if symbol not in errors:  # answered on the second pass
                for result in results.values():
                    result.retried.append(symbol)
    for table, result in results.items():
        if frames[table]:
            result.frame = pl.concat(frames[table], how="vertical_relaxed")
        result.failed = {s: str(exc) for s, exc in errors.items()}
        result.replace.sort()
        result.empty.sort()
    return results
