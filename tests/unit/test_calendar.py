"""The exchange calendar wrapper, checked against known XNYS sessions (holidays, early closes, DST)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from stockula_pipelines.lib import calendar as cal


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_holidays_and_weekends_are_not_trading_days():
    assert not cal.is_trading_day(date(2024, 7, 4))  # Independence Day
    assert not cal.is_trading_day(date(2024, 11, 28))  # Thanksgiving
    assert not cal.is_trading_day(date(2025, 1, 9))  # ad-hoc closure (national day of mourning)
    assert not cal.is_trading_day(date(2024, 7, 6))  # Saturday
    assert cal.is_trading_day(date(2024, 7, 5))


def test_trading_days_is_inclusive_and_skips_closures():
    days = cal.trading_days(date(2024, 7, 1), date(2024, 7, 8))
    assert days == [date(2024, 7, 1), date(2024, 7, 2), date(2024, 7, 3), date(2024, 7, 5), date(2024, 7, 8)]
    assert cal.trading_days(date(2024, 7, 4), date(2024, 7, 4)) == []


def test_previous_and_next_trading_day_step_over_holidays():
    assert cal.next_trading_day(date(2024, 7, 3)) == date(2024, 7, 5)
    assert cal.previous_trading_day(date(2024, 7, 5)) == date(2024, 7, 3)
    assert cal.previous_trading_day(date(2024, 11, 29)) == date(2024, 11, 27)
    assert cal.next_trading_day(date(2024, 11, 29)) == date(2024, 12, 2)


def test_session_after_a_holiday_is_a_full_session():
    assert cal.session_open_close(date(2024, 7, 5)) == (utc(2024, 7, 5, 13, 30), utc(2024, 7, 5, 20, 0))


def test_early_closes_are_honoured():
    # Day after Thanksgiving and July 3rd close at 13:00 New York time.
    assert cal.session_open_close(date(2024, 11, 29)) == (utc(2024, 11, 29, 14, 30), utc(2024, 11, 29, 18, 0))
    assert cal.session_open_close(date(2024, 7, 3))[1] == utc(2024, 7, 3, 17, 0)


@pytest.mark.parametrize(
    ("day", "open_utc", "close_utc"),
    [
        (date(2024, 3, 8), utc(2024, 3, 8, 14, 30), utc(2024, 3, 8, 21, 0)),  # last EST session
        (date(2024, 3, 11), utc(2024, 3, 11, 13, 30), utc(2024, 3, 11, 20, 0)),  # first EDT session
        (date(2024, 11, 1), utc(2024, 11, 1, 13, 30), utc(2024, 11, 1, 20, 0)),  # last EDT session
        (date(2024, 11, 4), utc(2024, 11, 4, 14, 30), utc(2024, 11, 4, 21, 0)),  # first EST session
    ],
)
def test_dst_changes_move_the_utc_session(day, open_utc, close_utc):
    assert cal.session_open_close(day) == (open_utc, close_utc)


def test_trading_day_window_is_the_local_day_in_utc():
    assert cal.trading_day_window(date(2024, 3, 11)) == (utc(2024, 3, 11, 4), utc(2024, 3, 12, 4))
    assert cal.trading_day_window(date(2024, 11, 4)) == (utc(2024, 11, 4, 5), utc(2024, 11, 5, 5))
    # Friday 8 March: EST day; the window is 24 hours although DST starts two days later.
    start, end = cal.trading_day_window(date(2024, 3, 8))
    assert (start, end - start) == (utc(2024, 3, 8, 5), timedelta(hours=24))


def test_consecutive_windows_are_half_open_and_hold_their_session():
    first = cal.trading_day_window(date(2024, 7, 2))
    second = cal.trading_day_window(date(2024, 7, 3))
    assert first[1] == second[0]  # end exclusive, so no instant belongs to both
    opened, closed = cal.session_open_close(date(2024, 7, 3))
    assert second[0] <= opened < closed <= second[1]


def test_trading_day_window_rejects_a_holiday_by_name():
    with pytest.raises(ValueError, match="2024-07-04.*not a trading day"):
        cal.trading_day_window(date(2024, 7, 4))


def test_intraday_windows_tile_the_session():
    windows = cal.intraday_windows(date(2024, 7, 5), 60)
    assert windows[0] == (utc(2024, 7, 5, 13, 30), utc(2024, 7, 5, 14, 30))
    assert windows[-1] == (utc(2024, 7, 5, 19, 30), utc(2024, 7, 5, 20, 0))
    assert len(windows) == 7
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:], strict=False))
    early = cal.intraday_windows(date(2024, 11, 29), 30)
    assert len(early) == 7 and early[-1][1] == utc(2024, 11, 29, 18, 0)


def test_last_completed_session():
    # 2024-07-05 closes at 20:00 UTC; before that the last completed session is July 3rd.
    assert cal.last_completed_session(utc(2024, 7, 5, 19, 59)) == date(2024, 7, 3)
    assert cal.last_completed_session(utc(2024, 7, 5, 20, 0)) == date(2024, 7, 5)
    assert cal.last_completed_session(utc(2024, 7, 7, 12, 0)) == date(2024, 7, 5)
    with pytest.raises(ValueError, match="naive"):
        cal.last_completed_session(datetime(2024, 7, 5, 12))


def test_exchange_tz_and_cached_calendar():
    assert str(cal.exchange_tz()) == "America/New_York"
    assert cal.get_calendar("XNYS") is cal.get_calendar("XNYS")
    c = cal.get_calendar()
    assert c.first_day <= date(2000, 1, 3) and c.last_day >= date.today() + timedelta(days=700)


def test_out_of_range_and_unknown_exchange_are_named():
    with pytest.raises(ValueError, match="1990-01-02.*outside"):
        cal.is_trading_day(date(1990, 1, 2))
    with pytest.raises(ValueError, match="NOPE"):
        cal.get_calendar("NOPE")


def test_holidays_lists_weekday_closures_only():
    assert cal.holidays(date(2024, 7, 1), date(2024, 7, 31)) == [date(2024, 7, 4)]
