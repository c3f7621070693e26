"""The load schedules on the exchange clock, evaluated by Dagster with no database: which partition each
tick requests, and that closed days request nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from stockula_pipelines.defs.market_data.schedules import end_of_day_schedule, intraday_schedule
from stockula_pipelines.partitions import last_completed_intraday_key


def test_end_of_day_schedule_runs_on_trading_days_only():
    friday = dg.build_schedule_context(scheduled_execution_time=datetime(2024, 7, 5, 21, 30, tzinfo=UTC))
    holiday = dg.build_schedule_context(scheduled_execution_time=datetime(2024, 7, 4, 21, 30, tzinfo=UTC))
    run = end_of_day_schedule(friday)
    assert isinstance(run, dg.RunRequest) and run.partition_key == "2024-07-05"
    assert isinstance(end_of_day_schedule(holiday), dg.SkipReason)


def test_intraday_schedule_requests_the_last_completed_window():
    # 11:45 New York on 2024-07-05 (EDT): the 10:30-11:30 window is the last one that has ended.
    assert last_completed_intraday_key(datetime(2024, 7, 5, 15, 45, tzinfo=UTC)) == "2024-07-05-10:30"
    # Before the first window ends, and on a holiday, nothing runs.
    assert last_completed_intraday_key(datetime(2024, 7, 5, 14, 0, tzinfo=UTC)) is None
    assert last_completed_intraday_key(datetime(2024, 7, 4, 16, 0, tzinfo=UTC)) is None
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2024, 7, 5, 15, 45, tzinfo=UTC))
    assert intraday_schedule(context).partition_key == "2024-07-05-10:30"
