"""STOCKULA_EXCHANGE is one setting: a second exchange's calendar (London, XLON) runs through the
partitions, the session clock and the aggregates' daily and weekly buckets (time zone bound as a
parameter), and the full edition's continuous aggregates refuse a zone they were not created in."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from test_aggregates import actual, frame, load_bars

from stockula_pipelines import partitions
from stockula_pipelines.lib import aggregates as agg
from stockula_pipelines.lib.db.capabilities import detect
from stockula_pipelines.settings import get_settings

LONDON = ZoneInfo("Europe/London")
pytestmark = pytest.mark.integration


@pytest.fixture()
def london(monkeypatch):
    monkeypatch.setenv("STOCKULA_EXCHANGE", "XLON")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_london_partitions_follow_its_calendar_and_hours():
    daily = partitions.build_daily_partitions(start=date(2024, 12, 20), exchange="XLON")
    # Christmas Day and Boxing Day are closed in London; 24 and 31 December are (early-close) sessions.
    assert daily.get_partition_keys()[:6] == ["2024-12-20", "2024-12-23", "2024-12-24", "2024-12-27",
                                              "2024-12-30", "2024-12-31"]
    assert partitions.partition_window("2024-07-01", exchange="XLON") == (
        datetime(2024, 6, 30, 23, tzinfo=UTC), datetime(2024, 7, 1, 23, tzinfo=UTC))

    intraday = partitions.build_intraday_partitions(minutes=60, start=date(2024, 7, 1), exchange="XLON")
    first_day = [k for k in intraday.get_partition_keys()[:12] if k.startswith("2024-07-01")]
    # 08:00 open to the 16:30 close: the last window is clipped to the close.
    assert first_day == [f"2024-07-01-{h:02d}:00" for h in range(8, 17)]
    assert partitions.partition_window("2024-07-01-16:00", minutes=60, exchange="XLON") == (
        datetime(2024, 7, 1, 15, tzinfo=UTC), datetime(2024, 7, 1, 15, 30, tzinfo=UTC))


def _london_bars(days: list[date]) -> list[tuple]:
    rows = []
    for n, day in enumerate(days):
        start = datetime.combine(day, time(8), LONDON)
        for k in range(102):  # 08:00-16:30 in 5-minute bars
            price = 100 + n + k / 100
            rows.append((start + timedelta(minutes=5 * k), "VOD.L", "5m", day, price, price + 0.5, price - 0.5,
                         price + 0.1, 1000 + k))
    return rows


def test_london_daily_and_weekly_buckets_are_london_midnights(clean_db, london):
    # The week of the end of British Summer Time (Sunday 2024-10-27): Friday is BST, Monday is GMT.
    days = [date(2024, 10, 24), date(2024, 10, 25), date(2024, 10, 28)]
    bars = _london_bars(days)
    daily_bars = [(datetime.combine(d, time(0), LONDON), "VOD.L", "1d", d, 100.0, 101.0, 99.0, 100.5, 5000)
                  for d in days]
    with clean_db.connect() as conn:
        load_bars(conn, bars, "5m")
        load_bars(conn, daily_bars, "1d")
        caps = detect(conn)
        if caps.continuous_aggregates:
            pytest.skip("the full edition's continuous aggregates are created in America/New_York")
        agg.refresh_aggregate(conn, "price_history_daily", caps=caps, run_id="test")
        agg.refresh_aggregate(conn, "price_history_weekly", caps=caps, run_id="test")
        daily = actual(conn, "price_history_daily")
        weekly = actual(conn, "price_history_weekly")
    assert list(daily["bucket"]) == [datetime(2024, 10, 23, 23, tzinfo=UTC), datetime(2024, 10, 24, 23, tzinfo=UTC),
                                     datetime(2024, 10, 28, 0, tzinfo=UTC)]
    assert list(daily["bar_count"]) == [102, 102, 102]
    # Recomputed independently from the raw bars, grouped by their London date.
    raw = frame(bars).sort_values("time")
    by_day = raw.groupby(raw["time"].dt.tz_convert(LONDON).dt.date)
    assert list(daily["open_price"]) == pytest.approx(list(by_day["open_price"].first()))
    assert list(daily["close_price"]) == pytest.approx(list(by_day["close_price"].last()))
    assert list(daily["volume"]) == list(by_day["volume"].sum())
    # Monday 00:00 London: BST (23:00 UTC Sunday) for the first week, GMT (00:00 UTC) for the second.
    assert list(weekly["bucket"]) == [datetime(2024, 10, 20, 23, tzinfo=UTC), datetime(2024, 10, 28, 0, tzinfo=UTC)]
    assert list(weekly["bar_count"]) == [2, 1]


def test_the_clock_and_freshness_zone_follow_the_setting():
    assert partitions.EXCHANGE == get_settings().exchange
    assert partitions.EXCHANGE_TZ == str(partitions.get_calendar(partitions.EXCHANGE).tz)


def test_continuous_aggregates_refuse_another_zone(london):
    class _Autocommit:
        autocommit = True

    with pytest.raises(ValueError, match="STOCKULA_EXCHANGE=XLON trades in Europe/London"):
        agg._refresh_cagg(_Autocommit(), agg.get_aggregate("price_history_daily"), None)  # type: ignore[arg-type]
