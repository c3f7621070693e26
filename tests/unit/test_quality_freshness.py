"""Freshness in exchange time, with an injected clock (no database)."""

from datetime import UTC, date, datetime

import pytest

from stockula_pipelines.lib.quality.freshness import evaluate_freshness


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_friday_close_is_still_fresh_on_sunday():
    # Friday 2024-03-08; Sunday 2024-03-10 15:00 UTC: no session closed since Friday's.
    state = evaluate_freshness(date(2024, 3, 8), utc(2024, 3, 10, 15))
    assert state.expected_session == date(2024, 3, 8)
    assert state.fresh and state.sessions_behind == 0


def test_holiday_is_not_a_gap():
    # Good Friday 2024-03-29 is an NYSE holiday: on Saturday the latest session is Thursday 03-28.
    state = evaluate_freshness(date(2024, 3, 28), utc(2024, 3, 30, 12))
    assert state.expected_session == date(2024, 3, 28)
    assert state.fresh


def test_tuesday_after_a_missing_monday_is_stale():
    # Friday 2024-03-08 loaded, Monday 03-11 never loaded, Tuesday 03-12 after the close.
    state = evaluate_freshness(date(2024, 3, 8), utc(2024, 3, 12, 21, 30))
    assert state.expected_session == date(2024, 3, 12)
    assert not state.fresh
    assert state.sessions_behind == 2  # Monday and Tuesday
    assert "stale" in state.describe("daily bars")


def test_before_the_close_the_previous_session_is_expected():
    # Tuesday 2024-03-12 at 15:00 New York time (19:00 UTC): Tuesday's session has not closed yet.
    state = evaluate_freshness(date(2024, 3, 11), utc(2024, 3, 12, 19))
    assert state.expected_session == date(2024, 3, 11)
    assert state.fresh


def test_empty_table_is_stale():
    state = evaluate_freshness(None, utc(2024, 3, 12, 21, 30))
    assert not state.fresh and state.latest_session is None and state.sessions_behind > 0


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="naive"):
        evaluate_freshness(date(2024, 3, 8), datetime(2024, 3, 10, 12))
