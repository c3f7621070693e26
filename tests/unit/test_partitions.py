"""The shared Dagster partitions: trading days only, windows that match the calendar, ranges."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import pytest

from stockula_pipelines import partitions as parts
from stockula_pipelines.lib import calendar as cal

AS_OF = datetime(2025, 1, 15, 12, tzinfo=UTC)


# The module-level intraday partitions begin at STOCKULA_INTRADAY_HISTORY_START (2025 by default);
# these tests pin 2024's sessions, so they build their own.
INTRADAY_2024 = parts.build_intraday_partitions(start=date(2024, 1, 2))

def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def keys(defn: dg.PartitionsDefinition) -> list[str]:
    return list(defn.get_partition_keys(current_time=AS_OF))


def test_daily_keys_are_exactly_the_trading_days():
    got = keys(parts.daily_partitions)
    # end_offset=1: the trading day in progress (2025-01-15 as of AS_OF) is already a partition.
    expected = [d.isoformat() for d in cal.trading_days(parts.DEFAULT_START, date(2025, 1, 15))]
    assert got == expected
    for closed in ("2024-07-04", "2024-11-28", "2024-12-25", "2025-01-09", "2024-07-06", "2024-07-07"):
        assert closed not in got


def test_daily_key_window_is_the_trading_day_window():
    window = parts.daily_partitions.time_window_for_partition_key("2024-07-05")
    assert (window.start, window.end) == cal.trading_day_window(date(2024, 7, 5))
    # Friday's window ends on Saturday (weekends are excluded, not folded into Friday).
    friday = parts.daily_partitions.time_window_for_partition_key("2024-03-08")
    assert friday.end.astimezone(UTC) == utc(2024, 3, 9, 5)
    assert parts.partition_window("2024-03-11") == (utc(2024, 3, 11, 4), utc(2024, 3, 12, 4))


def test_the_trading_day_in_progress_is_a_partition():
    # end_offset=1: Wednesday 2024-07-03 is a key from its own midnight (04:00 UTC) on, so the
    # end-of-day schedule can request it right after the close.
    before = parts.daily_partitions.get_partition_keys(current_time=utc(2024, 7, 3, 3, 59))
    during = parts.daily_partitions.get_partition_keys(current_time=utc(2024, 7, 3, 21, 30))
    assert before[-1] == "2024-07-02" and during[-1] == "2024-07-03"
    # end_offset counts partitions, not days: during the July 4th holiday the next session is listed.
    holiday = parts.daily_partitions.get_partition_keys(current_time=utc(2024, 7, 4, 16))
    assert holiday[-2:] == ["2024-07-03", "2024-07-05"]


def test_partition_range_skips_holidays():
    got = parts.daily_partition_keys(parts.daily_partitions, "2024-07-01", "2024-07-10")
    assert got == ["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-05", "2024-07-08", "2024-07-09", "2024-07-10"]
    subset = parts.daily_partitions.empty_subset().with_partition_key_range(
        parts.daily_partitions, dg.PartitionKeyRange("2024-11-25", "2024-12-02")
    )
    assert sorted(subset.get_partition_keys()) == ["2024-11-25", "2024-11-26", "2024-11-27", "2024-11-29", "2024-12-02"]


def test_holiday_is_not_a_partition_key():
    with dg.partition_loading_context(effective_dt=AS_OF):
        assert not parts.daily_partitions.has_partition_key("2024-07-04")
        assert parts.daily_partitions.has_partition_key("2024-07-05")
    with pytest.raises(ValueError, match="2024-07-04.*not a trading day"):
        parts.partition_window("2024-07-04")


def test_intraday_keys_follow_the_session():
    got = keys(INTRADAY_2024)
    on = lambda day: [k[11:] for k in got if k.startswith(day)]  # noqa: E731
    assert on("2024-07-05") == ["09:30", "10:30", "11:30", "12:30", "13:30", "14:30", "15:30"]
    assert on("2024-11-29") == ["09:30", "10:30", "11:30", "12:30"]  # early close at 13:00
    assert on("2024-07-04") == [] and on("2024-07-06") == []
    assert on("2024-03-11") == on("2024-07-05")  # local keys, whatever the UTC offset


def test_intraday_windows_are_clipped_to_the_session():
    assert parts.partition_window("2024-07-05-09:30") == (utc(2024, 7, 5, 13, 30), utc(2024, 7, 5, 14, 30))
    assert parts.partition_window("2024-07-05-15:30") == (utc(2024, 7, 5, 19, 30), utc(2024, 7, 5, 20, 0))
    assert parts.partition_window("2024-11-29-12:30") == (utc(2024, 11, 29, 17, 30), utc(2024, 11, 29, 18, 0))
    assert parts.partition_window("2024-03-11-09:30")[0] == utc(2024, 3, 11, 13, 30)
    for day in ("2024-07-05", "2024-11-29"):
        windows = [parts.partition_window(k) for k in keys(INTRADAY_2024) if k.startswith(day)]
        assert windows == cal.intraday_windows(date.fromisoformat(day), 60)


def test_intraday_key_outside_the_session_is_rejected():
    for bad in ("2024-11-29-13:30", "2024-07-05-09:00", "2024-07-05-10:00", "2024-07-04-09:30", "07/05/2024"):
        with pytest.raises(ValueError, match="partition key|not a trading day"):
            parts.partition_window(bad)


@pytest.mark.parametrize("minutes", [5, 15, 30])
def test_finer_intraday_schemes_start_at_the_open(minutes):
    defn = parts.build_intraday_partitions(minutes, start=date(2024, 11, 25))
    got = defn.get_partition_keys(current_time=utc(2024, 12, 3))
    day = [k for k in got if k.startswith("2024-11-26")]
    assert day[0].endswith("09:30") and len(day) == 390 // minutes
    assert len([k for k in got if k.startswith("2024-11-29")]) == 210 // minutes
    assert not [k for k in got if k.startswith("2024-11-28")]
    assert parts.partition_window(day[-1], minutes=minutes)[1] == utc(2024, 11, 26, 21, 0)


def test_unsupported_intraday_scheme_is_named():
    with pytest.raises(ValueError, match="45 minutes"):
        parts.build_intraday_partitions(45)


def test_options_snapshot_uses_the_daily_partitions():
    assert parts.options_snapshot_partitions is parts.daily_partitions


def test_partition_range_run_covers_trading_days_only():
    seen: list[str] = []

    @dg.asset(partitions_def=parts.daily_partitions, backfill_policy=dg.BackfillPolicy.single_run())
    def probe(context) -> None:
        seen.extend(context.partition_keys)

    result = dg.materialize(
        [probe],
        tags={"dagster/asset_partition_range_start": "2024-07-02", "dagster/asset_partition_range_end": "2024-07-08"},
    )
    assert result.success
    assert seen == ["2024-07-02", "2024-07-03", "2024-07-05", "2024-07-08"]
