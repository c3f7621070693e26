"""The partitions every partitioned asset shares: trading days and intraday windows of the exchange.

Both are ``TimeWindowPartitionsDefinition``s (so ``dagster asset materialize --partition-range A...B``
and range backfills work) whose ``exclusions`` remove every non-trading day taken from
:mod:`stockula_pipelines.lib.calendar`, hence from ``exchange_calendars``: holidays and ad-hoc closures
are never partitions.

* ``daily_partitions``: keys ``YYYY-MM-DD``. The cron ticks every day at 00:00 exchange time and
  weekends are excluded by a cron exclusion, rather than ticking only Mon-Fri: with a Mon-Fri cron,
  Friday's window would run to Monday 00:00 and Friday would not become a partition until Monday.
  So each key's Dagster window is exactly :func:`~stockula_pipelines.lib.calendar.trading_day_window`
  (that trading date's local day). ``end_offset=1`` makes today's trading day a partition from
  its midnight on, so the end-of-day schedule can request it right after the close.
* ``intraday_partitions``: keys ``YYYY-MM-DD-HH:MM`` (exchange local time), one per
  ``minutes``-long window starting at the regular open (XNYS, 60 minutes: 09:30, 10:30, ..., 15:30). A
  Dagster window runs to the next cron tick (so the 15:30 one would reach the next morning); use
  :func:`partition_window`, which clips every window to the session: the 15:30 window is
  15:30-16:00, and on early-close days the ticks at or after the 13:00 close are excluded.
  ``end_offset=1`` likewise makes the window in progress a partition, so the last completed one
  (and the 15:30 one right after the close) can be requested the moment it ends.

Options snapshots (``options_snapshot``) use the daily partitions.

The exchange is ``STOCKULA_EXCHANGE`` (an exchange_calendars code; default XNYS): its calendar, time
zone and regular hours shape every partition, the schedules' clock (:data:`EXCHANGE_TZ`), the
freshness checks and the aggregates' buckets. The module-level definitions begin at
``STOCKULA_HISTORY_START`` (daily and monthly; default 2000-01-03) and at the later of that and
``STOCKULA_INTRADAY_HISTORY_START`` (intraday). These three are the settings read when the code
location loads, because they shape the partitions themselves; they hold nothing secret. Call the ``build_*`` functions for other starts. Exclusions reach as far as the
calendar does (two years past the day the code location was loaded).

A key outside the partitions (before the start) is answered by :func:`check_keys_in_range` with one
line naming the range and the setting that moves it.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg

from stockula_pipelines.lib.calendar import CALENDAR_FIRST_DAY, get_calendar
from stockula_pipelines.settings import SettingsError, get_settings

DEFAULT_START = date(2000, 1, 3)
DEFAULT_INTRADAY_WINDOW_MINUTES = 60
DAILY_FMT = "%Y-%m-%d"
INTRADAY_FMT = "%Y-%m-%d-%H:%M"
MONTHLY_FMT = "%Y-%m"
# Window lengths whose ticks fall on a :00 or :30 open every day and fit a cron minute field.
SUPPORTED_INTRADAY_MINUTES = (1, 2, 3, 5, 6, 10, 15, 30, 60)


def build_daily_partitions(
    start: date = DEFAULT_START, exchange: str | None = None, end_offset: int = 1
) -> dg.TimeWindowPartitionsDefinition:
    cal = get_calendar(exchange or EXCHANGE)
    closed = [datetime(d.year, d.month, d.day) for d in cal.holidays(start, cal.last_day)]
    return dg.TimeWindowPartitionsDefinition(
        start=start.strftime(DAILY_FMT),
        fmt=DAILY_FMT,
        cron_schedule="0 0 * * *",
        timezone=str(cal.tz),
        end_offset=end_offset,
        exclusions=["0 0 * * 0,6", *closed],
    )


def _minutes(t) -> int:
    return t.hour * 60 + t.minute


def _intraday_cron(minutes: int, open_minute: int, close_minute: int) -> tuple[str, list[str]]:
    """Cron of the window starts, from the regular open to the last start before the regular close,
    and cron exclusions for the ticks of the opening hour that come before the open."""
    if minutes not in SUPPORTED_INTRADAY_MINUTES:
        raise ValueError(
            f"intraday window of {minutes} minutes is not supported; use one of {SUPPORTED_INTRADAY_MINUTES}"
        )
    hour, minute = divmod(open_minute, 60)
    last_hour = (close_minute - 1) // 60
    if minutes == 60:
        return f"{minute} {hour}-{last_hour} * * 1-5", []
    if minute % minutes:
        raise ValueError(f"intraday windows of {minutes} minutes do not start at the exchange's "
                         f"{hour:02d}:{minute:02d} open")
    minute_field = ",".join(str(m) for m in range(0, 60, minutes))
    before_open = [f"{m} {hour} * * *" for m in range(0, minute, minutes)]
    return f"{minute_field} {hour}-{last_hour} * * 1-5", before_open


def build_intraday_partitions(
    minutes: int = DEFAULT_INTRADAY_WINDOW_MINUTES,
    start: date = DEFAULT_START,
    exchange: str | None = None,
    end_offset: int = 1,
) -> dg.TimeWindowPartitionsDefinition:
    """Windows of ``minutes`` from the exchange's regular open; ticks at or after a session's close
    (early closes included) and every tick of a holiday are excluded."""
    cal = get_calendar(exchange or EXCHANGE)
    open_minute, close_minute = _minutes(cal.regular_open), _minutes(cal.regular_close)
    cron, before_open = _intraday_cron(minutes, open_minute, close_minute)
    ticks_per_day = [divmod(m, 60) for m in range(open_minute, close_minute, minutes)]
    excluded: list[datetime] = []
    for day in cal.holidays(start, cal.last_day):
        excluded.extend(datetime(day.year, day.month, day.day, h, m) for h, m in ticks_per_day)
    lo, hi = cal.sessions_slice(start, cal.last_day)
    for i in range(lo, hi):
        day = cal.sessions[i].item()
        close_local = datetime.fromtimestamp(cal.closes_ns[i] / 1e9, tz=cal.tz).replace(tzinfo=None)
        excluded.extend(
            tick
            for h, m in ticks_per_day
            if (tick := datetime(day.year, day.month, day.day, h, m)) >= close_local
        )
    return dg.TimeWindowPartitionsDefinition(
        start=datetime(start.year, start.month, start.day, *divmod(open_minute, 60)).strftime(INTRADAY_FMT),
        fmt=INTRADAY_FMT,
        cron_schedule=cron,
        timezone=str(cal.tz),
        end_offset=end_offset,
        exclusions=[*before_open, *excluded],
    )


def partition_window(
    partition_key: str,
    *,
    minutes: int = DEFAULT_INTRADAY_WINDOW_MINUTES,
    exchange: str | None = None,
) -> tuple[datetime, datetime]:
    """The half-open UTC window ``[start, end)`` of a daily or an intraday partition key.

    A daily key (``YYYY-MM-DD``) gives the trading date's local day; an intraday key
    (``YYYY-MM-DD-HH:MM``) gives its window clipped to the session's close; a monthly key
    (``YYYY-MM``) gives the calendar month in exchange time.
    """
    cal = get_calendar(exchange or EXCHANGE)
    if len(partition_key) == 7:
        return month_window(partition_key, exchange=exchange)
    try:
        if len(partition_key) == 10:
            return cal.trading_day_window(datetime.strptime(partition_key, DAILY_FMT).date())
        local_start = datetime.strptime(partition_key, INTRADAY_FMT)
    except ValueError as exc:
        raise ValueError(
            f"partition key {partition_key!r}: not a trading-day key (YYYY-MM-DD) or an intraday key "
            f"(YYYY-MM-DD-HH:MM) of a trading day: {exc}"
        ) from exc
    opened, closed = cal.session_open_close(local_start.date())
    start = local_start.replace(tzinfo=cal.tz).astimezone(opened.tzinfo)
    offset = (start - opened).total_seconds() / 60
    if not opened <= start < closed or offset % minutes:
        raise ValueError(
            f"partition key {partition_key!r}: {local_start:%H:%M} is not the start of a {minutes}-minute "
            f"window of the {local_start.date().isoformat()} session"
        )
    return start, min(start + timedelta(minutes=minutes), closed)


def daily_partition_keys(partitions: dg.TimeWindowPartitionsDefinition, first: str, last: str) -> list[str]:
    """The keys of ``partitions`` in ``[first, last]`` (both inclusive), as a CLI range would pick."""
    return list(partitions.get_partition_keys_in_range(dg.PartitionKeyRange(first, last)))


def month_window(partition_key: str, *, exchange: str | None = None) -> tuple[datetime, datetime]:
    """``[first day 00:00, next month's first day 00:00)`` in exchange time, as UTC."""
    cal = get_calendar(exchange or EXCHANGE)
    try:
        first = datetime.strptime(partition_key, MONTHLY_FMT)
    except ValueError as exc:
        raise ValueError(f"partition key {partition_key!r}: not a month key (YYYY-MM): {exc}") from exc
    nxt = first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
    return (first.replace(tzinfo=cal.tz).astimezone(UTC), nxt.replace(tzinfo=cal.tz).astimezone(UTC))


def build_monthly_partitions(start: date = DEFAULT_START, exchange: str | None = None):
    """Calendar months in exchange time, including the month in progress (``end_offset=1``), so the
    nightly corporate-actions load can reload the current month so far."""
    cal = get_calendar(exchange or EXCHANGE)
    return dg.MonthlyPartitionsDefinition(
        start_date=start.replace(day=1).strftime(MONTHLY_FMT), fmt=MONTHLY_FMT, timezone=str(cal.tz), end_offset=1
    )


class PartitionRangeError(ValueError):
    """A requested partition key lies outside the partitions; the message names the range and setting."""


def history_starts() -> tuple[date, date]:
    """(daily/monthly start, intraday start) from the settings, checked against the calendar."""
    settings = get_settings()
    start = settings.history_start
    if start < CALENDAR_FIRST_DAY:
        raise SettingsError(f"STOCKULA_HISTORY_START={start.isoformat()} is before the exchange calendar's first "
                            f"day {CALENDAR_FIRST_DAY.isoformat()}; use {CALENDAR_FIRST_DAY.isoformat()} or later")
    return start, max(start, settings.intraday_history_start)


def check_keys_in_range(partitions: dg.PartitionsDefinition, keys: list[str], *, what: str) -> None:
    """Raise :class:`PartitionRangeError` unless every key in ``keys`` is one of ``partitions``'."""
    first, last = partitions.get_first_partition_key(), partitions.get_last_partition_key()
    for key in keys:
        if not partitions.has_partition_key(key):
            setting = "STOCKULA_INTRADAY_HISTORY_START" if what == "intraday" else "STOCKULA_HISTORY_START"
            reason = ("is before the first partition" if first and key < first else
                      "is after the last partition (the calendar ends two years ahead)" if last and key > last
                      else "is not a trading day (or not a window start) of the exchange calendar")
            raise PartitionRangeError(
                f"{what} partition {key} {reason}: the {what} partitions run {first}..{last}; "
                f"set {setting} (a date) to move where they begin, then reload the code location")


def session_today(scheduled: datetime) -> str | None:
    """The daily partition key of the exchange day ``scheduled`` falls on, or None on a closed day."""
    cal = get_calendar(EXCHANGE)
    day = scheduled.astimezone(cal.tz).date()
    return day.isoformat() if cal.is_trading_day(day) else None


def last_completed_intraday_key(now: datetime, minutes: int = DEFAULT_INTRADAY_WINDOW_MINUTES) -> str | None:
    """The key of the latest intraday window that has ended by ``now`` today, if any."""
    cal = get_calendar(EXCHANGE)
    day = now.astimezone(cal.tz).date()
    if not cal.is_trading_day(day):
        return None
    done = [start for start, end in cal.intraday_windows(day, minutes) if end <= now.astimezone(UTC)]
    return done[-1].astimezone(cal.tz).strftime(INTRADAY_FMT) if done else None


# The exchange and the history starts are partition shapes: read once, when the code location loads.
EXCHANGE = get_settings().exchange
EXCHANGE_TZ = str(get_calendar(EXCHANGE).tz)
_daily_start, _intraday_start = history_starts()
daily_partitions = build_daily_partitions(start=_daily_start)
intraday_partitions = build_intraday_partitions(start=_intraday_start)
options_snapshot_partitions = daily_partitions
# Dividends and splits are sparse (a few hundred a year for the default universe): a month per
# partition keeps a multi-year backfill to a few dozen partitions instead of hundreds.
corporate_action_partitions = build_monthly_partitions(start=_daily_start)
