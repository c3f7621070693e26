"""The exchange calendar: a thin, cached wrapper over the maintained ``exchange_calendars`` library.

Holidays, early closes and DST come from ``exchange_calendars`` (never a hand-written list). Building
one of its calendars takes a fraction of a second, so each exchange's calendar is built lazily, once
per process, covering 2000-01-01 to two years past today; its sessions, opens and closes are then
kept as NumPy arrays so that the hot paths (the synthetic source, partition windows) look days up
with ``searchsorted`` instead of going through pandas.

Every datetime returned is tz-aware UTC; every window is half-open ``[start, end)``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

DEFAULT_EXCHANGE = "XNYS"
CALENDAR_FIRST_DAY = date(2000, 1, 1)
CALENDAR_YEARS_AHEAD = 2


def _ns_to_utc(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def _as_date(day: date | datetime | str) -> date:
    if isinstance(day, datetime):
        return day.date()
    if isinstance(day, date):
        return day
    return date.fromisoformat(str(day))


@dataclass(frozen=True)
class TradingCalendar:
    """One exchange's sessions between ``first_day`` and ``last_day``, as NumPy arrays."""

    name: str
    tz: ZoneInfo
    sessions: np.ndarray  # datetime64[D], ascending
    opens_ns: np.ndarray  # int64 UTC epoch nanoseconds, one per session
    closes_ns: np.ndarray
    first_day: date
    last_day: date
    regular_open: time = time(9, 30)  # local time of a full session's open and close
    regular_close: time = time(16, 0)

    # --- lookups ------------------------------------------------------------------------------------
    def _check_range(self, day: date) -> None:
        if not self.first_day <= day <= self.last_day:
            raise ValueError(
                f"{self.name}: date {day.isoformat()} is outside the calendar's range "
                f"{self.first_day.isoformat()}..{self.last_day.isoformat()}"
            )

    def _index(self, day: date) -> int | None:
        d = np.datetime64(day, "D")
        i = int(np.searchsorted(self.sessions, d))
        return i if i < len(self.sessions) and self.sessions[i] == d else None

    def session_index(self, day: date | datetime | str) -> int:
        """Position of trading day ``day`` in :attr:`sessions`; raises if it is not a trading day."""
        day = _as_date(day)
        self._check_range(day)
        i = self._index(day)
        if i is None:
            raise ValueError(f"{self.name}: {day.isoformat()} ({day:%A}) is not a trading day")
        return i

    def is_trading_day(self, day: date | datetime | str) -> bool:
        day = _as_date(day)
        self._check_range(day)
        return self._index(day) is not None

    def trading_days(self, start: date, end: date) -> list[date]:
        """Trading days in ``[start, end]`` (both inclusive)."""
        start, end = _as_date(start), _as_date(end)
        self._check_range(start)
        self._check_range(end)
        lo, hi = self.sessions_slice(start, end)
        return [d.item() for d in self.sessions[lo:hi]]

    def sessions_slice(self, start: date, end: date) -> tuple[int, int]:
        """Index range ``[lo, hi)`` of the sessions within ``[start, end]`` (inclusive dates)."""
        lo = int(np.searchsorted(self.sessions, np.datetime64(start, "D"), side="left"))
        hi = int(np.searchsorted(self.sessions, np.datetime64(end, "D"), side="right"))
        return lo, max(lo, hi)

    def previous_trading_day(self, day: date | datetime | str) -> date:
        """The last trading day strictly before ``day``."""
        day = _as_date(day)
        self._check_range(day)
        i = int(np.searchsorted(self.sessions, np.datetime64(day, "D"), side="left")) - 1
        if i < 0:
            raise ValueError(f"{self.name}: no trading day before {day.isoformat()} in the calendar")
        return self.sessions[i].item()

    def next_trading_day(self, day: date | datetime | str) -> date:
        """The first trading day strictly after ``day``."""
        day = _as_date(day)
        self._check_range(day)
        i = int(np.searchsorted(self.sessions, np.datetime64(day, "D"), side="right"))
        if i >= len(self.sessions):
            raise ValueError(f"{self.name}: no trading day after {day.isoformat()} in the calendar")
        return self.sessions[i].item()

    def session_open_close(self, day: date | datetime | str) -> tuple[datetime, datetime]:
        """The session's open and close in UTC; early closes (13:00 local) are honoured."""
        i = self.session_index(day)
        return _ns_to_utc(int(self.opens_ns[i])), _ns_to_utc(int(self.closes_ns[i]))

    def local_midnight_utc(self, day: date) -> datetime:
        return datetime.combine(day, time(0), tzinfo=self.tz).astimezone(UTC)

    def trading_day_window(self, day: date | datetime | str) -> tuple[datetime, datetime]:
        """The half-open UTC window ``[00:00, 24:00)`` exchange local time of trading day ``day``.

        Daily bars (yfinance stamps them at local midnight of the trading date), dividends and splits
        (stamped at the ex-date's local midnight) all carry a timestamp at the *start* of the local
        day, before the session opens; a window bounded by the session's open/close would miss them.
        The local day, converted with the exchange's zone, is the window that holds exactly the rows
        of one trading date, whatever the UTC offset that day (EST or EDT).
        """
        day = _as_date(day)
        self.session_index(day)
        return self.local_midnight_utc(day), self.local_midnight_utc(day + timedelta(days=1))

    def intraday_windows(self, day: date | datetime | str, minutes: int) -> list[tuple[datetime, datetime]]:
        """Consecutive ``minutes``-long windows from the session's open; the last one ends at the close.

        A 60-minute scheme on a regular 09:30-16:00 session gives 09:30, 10:30, ..., 14:30 and a
        30-minute 15:30-16:00 window; on an early close (13:00) the windows stop at 13:00.
        """
        if minutes <= 0:
            raise ValueError(f"{self.name}: intraday window length must be positive, got {minutes} minutes")
        opened, closed = self.session_open_close(day)
        step = timedelta(minutes=minutes)
        windows: list[tuple[datetime, datetime]] = []
        cursor = opened
        while cursor < closed:
            windows.append((cursor, min(cursor + step, closed)))
            cursor += step
        return windows

    def last_completed_session(self, now_utc: datetime) -> date:
        """The latest trading day whose session had closed at ``now_utc``."""
        if now_utc.tzinfo is None:
            raise ValueError(f"{self.name}: now_utc {now_utc.isoformat()} is naive; pass a tz-aware datetime")
        now_ns = int(now_utc.timestamp() * 1_000_000) * 1000
        i = int(np.searchsorted(self.closes_ns, now_ns, side="right")) - 1
        if i < 0:
            raise ValueError(f"{self.name}: no session closed before {now_utc.isoformat()}")
        if i == len(self.closes_ns) - 1 and now_utc.date() > self.last_day:
            raise ValueError(f"{self.name}: {now_utc.isoformat()} is past the calendar's range")
        return self.sessions[i].item()

    def holidays(self, start: date, end: date) -> list[date]:
        """Weekdays in ``[start, end]`` without a session: regular and ad-hoc closures alike."""
        start, end = _as_date(start), _as_date(end)
        days = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1)
        weekdays = days[np.is_busday(days)]
        closed = weekdays[~np.isin(weekdays, self.sessions)]
        return [d.item() for d in closed]


_CALENDARS: dict[str, TradingCalendar] = {}
_LOCK = threading.Lock()


def _utc_ns(series) -> np.ndarray:
    return series.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy().astype("datetime64[ns]").astype(np.int64)


def _build(name: str) -> TradingCalendar:
    import exchange_calendars as xcals  # deferred: importing it (and pandas) costs ~0.5 s

    last = date.today().replace(month=1, day=1) + timedelta(days=366 * (CALENDAR_YEARS_AHEAD + 1))
    try:
        cal = xcals.get_calendar(name, start=CALENDAR_FIRST_DAY.isoformat(), end=last.isoformat())
    except xcals.errors.InvalidCalendarName as exc:
        raise ValueError(f"unknown exchange calendar {name!r}: {exc}") from exc
    except ValueError:
        # Some calendars cannot reach that far; take whatever range the library allows.
        cal = xcals.get_calendar(name)
    sessions = cal.sessions.values.astype("datetime64[D]")
    return TradingCalendar(
        name=name,
        tz=ZoneInfo(str(cal.tz)),
        sessions=sessions,
        opens_ns=_utc_ns(cal.opens),
        closes_ns=_utc_ns(cal.closes),
        first_day=sessions[0].item(),
        last_day=cal.last_session.date(),
        regular_open=cal.open_times[-1][1],
        regular_close=cal.close_times[-1][1],
    )


def get_calendar(exchange: str = DEFAULT_EXCHANGE) -> TradingCalendar:
    """The cached calendar of ``exchange`` (an ISO 10383 MIC such as ``XNYS``)."""
    cal = _CALENDARS.get(exchange)
    if cal is None:
        with _LOCK:
            cal = _CALENDARS.get(exchange)
            if cal is None:
                cal = _CALENDARS[exchange] = _build(exchange)
    return cal


# --- module-level shortcuts (XNYS unless told otherwise) --------------------------------------------
def exchange_tz(exchange: str = DEFAULT_EXCHANGE) -> ZoneInfo:
    return get_calendar(exchange).tz


def trading_days(start: date, end: date, exchange: str = DEFAULT_EXCHANGE) -> list[date]:
    return get_calendar(exchange).trading_days(start, end)


def is_trading_day(day: date, exchange: str = DEFAULT_EXCHANGE) -> bool:
    return get_calendar(exchange).is_trading_day(day)


def session_open_close(day: date, exchange: str = DEFAULT_EXCHANGE) -> tuple[datetime, datetime]:
    return get_calendar(exchange).session_open_close(day)


def previous_trading_day(day: date, exchange: str = DEFAULT_EXCHANGE) -> date:
    return get_calendar(exchange).previous_trading_day(day)


def next_trading_day(day: date, exchange: str = DEFAULT_EXCHANGE) -> date:
    return get_calendar(exchange).next_trading_day(day)


def trading_day_window(day: date, exchange: str = DEFAULT_EXCHANGE) -> tuple[datetime, datetime]:
    return get_calendar(exchange).trading_day_window(day)


def intraday_windows(day: date, minutes: int, exchange: str = DEFAULT_EXCHANGE) -> list[tuple[datetime, datetime]]:
    return get_calendar(exchange).intraday_windows(day, minutes)


def last_completed_session(now_utc: datetime, exchange: str = DEFAULT_EXCHANGE) -> date:
    return get_calendar(exchange).last_completed_session(now_utc)


def holidays(start: date, end: date, exchange: str = DEFAULT_EXCHANGE) -> list[date]:
    return get_calendar(exchange).holidays(start, end)
