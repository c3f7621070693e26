"""Option chains from Yahoo, which serves only the live chain: there are no historical chains.

``Ticker.options`` then ``option_chain(expiry)`` for EVERY listed expiry. A chain can therefore be
fetched only for the current session, the latest one whose open has passed (so Friday's chain is
still the current one on Saturday and before Monday's open); any other snapshot date is refused,
since the rows would be another session's chain under its date. Rows are timed at the snapshot
date's session close, the snapshot's identity, with ``fetched_at`` = when the expiry list was
fetched; both are cached with the listing, so a re-run within the TTL, even after the session,
reloads identical rows. An empty expiry list or chain is never cached.

:class:`OptionChainsMixin` is part of :class:`~.yfinance_source.YFinanceSource`, whose ``cache``,
``clock``, ``exchange``, ``exchange_tz``, ``_call`` and ``_ticker`` it uses.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import polars as pl

from stockula_pipelines.lib.cache import frame_from_bytes, frame_to_bytes, json_from_bytes, json_to_bytes
from stockula_pipelines.lib.calendar import TradingCalendar, get_calendar
from stockula_pipelines.lib.schemas import empty_frame
from stockula_pipelines.lib.sources.base import SourceConfigError, SourceError, resolve_symbols
from stockula_pipelines.lib.sources.normalize import option_chain_frame


def current_session(cal: TradingCalendar, now: datetime) -> date | None:
    """The latest session whose open is at or before ``now`` (None before the calendar's first)."""
    now_ns = int(now.timestamp() * 1_000_000) * 1000
    i = int(np.searchsorted(cal.opens_ns, now_ns, side="right")) - 1
    return cal.sessions[i].item() if i >= 0 else None


class OptionChainsMixin:
    """``option_chains`` of :class:`~.yfinance_source.YFinanceSource`."""

    def option_chains(self, symbols, snapshot_date: date) -> tuple[pl.DataFrame, pl.DataFrame]:
        calls, puts = [], []
        for symbol in resolve_symbols(symbols, self._symbols):
            c, p = self._symbol_chains(symbol, snapshot_date)
            calls.extend(c)
            puts.extend(p)
        return (pl.concat(calls) if calls else empty_frame("options_calls"),
                pl.concat(puts) if puts else empty_frame("options_puts"))

    def _calendar(self) -> TradingCalendar:
        cal = get_calendar(self.exchange)
        if str(cal.tz) != self.exchange_tz:
            raise SourceConfigError(f"exchange {self.exchange} is in {cal.tz}, not {self.exchange_tz}",
                                    source=self.name)
        return cal

    def _require_current(self, symbol: str, snapshot_date: date) -> None:
        """Refuse to fetch a chain for any session but the current one: Yahoo has no chain history, so
        what it serves now would be mislabelled as another session's snapshot."""
        now = self.clock().astimezone(UTC)
        current = current_session(self._calendar(), now)
        if snapshot_date != current:
            raise SourceError(
                f"option chain for {snapshot_date} cannot be fetched on {now:%Y-%m-%dT%H:%M}Z: Yahoo serves only "
                f"the chain of the current session ({current}); there is no history",
                source=self.name, symbol=symbol)

    def _session_close(self, symbol: str, snapshot_date: date) -> datetime:
        try:
            return self._calendar().session_open_close(snapshot_date)[1]
        except ValueError as exc:
            raise SourceError(f"option snapshot {snapshot_date}: {exc}", source=self.name, symbol=symbol) from exc

    def _symbol_chains(self, symbol: str, snapshot_date: date):
        day = {"snapshot_date": snapshot_date.isoformat()}
        # The current-session check runs only on a cache miss: a chain cached while its session was
        # current stays that session's chain, so a late re-run within the TTL reloads the same rows.
        parts = self.cache.fetch("options", symbol, day, lambda: self._fetch_listing(symbol, snapshot_date))
        if not parts:
            return [], []
        listing = json_from_bytes(parts["listing"])
        snapshot_time = self._session_close(symbol, snapshot_date)
        fetched_at = datetime.fromisoformat(listing["fetched_at"])
        calls, puts = [], []
        for expiry in listing["expiries"]:
            parts = self.cache.fetch("option_chain", symbol, {"expiry": expiry, **day},
                                     lambda e=expiry: self._fetch_chain(symbol, e, snapshot_date))
            if not parts:
                continue
            underlying = json_from_bytes(parts["underlying"]) or {}
            price = underlying.get("regularMarketPrice")
            common = {"symbol": symbol, "expiration_date": date.fromisoformat(expiry),
                      "snapshot_date": snapshot_date, "snapshot_time": snapshot_time, "fetched_at": fetched_at,
                      "underlying_price": float(price) if price is not None else None, "source": self.name}
            calls.append(option_chain_frame(frame_from_bytes(parts["calls"]), **common))
            puts.append(option_chain_frame(frame_from_bytes(parts["puts"]), **common))
        return calls, puts

    def _fetch_listing(self, symbol: str, snapshot_date: date) -> dict[str, bytes]:
        self._require_current(symbol, snapshot_date)
        expiries = list(self._call(symbol, "options", lambda: self._ticker(symbol).options) or ())
        if not expiries:
            return {}  # no listed expiry, or a hidden error: asked again next time
        return {"listing": json_to_bytes({
            "expiries": expiries, "fetched_at": self.clock().astimezone(UTC).replace(microsecond=0).isoformat()})}

    def _fetch_chain(self, symbol: str, expiry: str, snapshot_date: date) -> dict[str, bytes]:
        self._require_current(symbol, snapshot_date)  # the listing may have outlived an expiry's entry
        chain = self._call(symbol, f"option_chain({expiry})", lambda: self._ticker(symbol).option_chain(expiry))
        calls, puts = getattr(chain, "calls", None), getattr(chain, "puts", None)
        # yfinance returns calls=None when Yahoo has no chain for the expiry (delisted contract series).
        if calls is None or puts is None or (len(calls) == 0 and len(puts) == 0):
            return {}
        return {"underlying": json_to_bytes(getattr(chain, "underlying", None)),
                "calls": frame_to_bytes(calls), "puts": frame_to_bytes(puts)}
