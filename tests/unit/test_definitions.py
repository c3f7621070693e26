"""A snapshot of the code location: the asset keys, jobs, schedules and sensors operators rely on."""

from __future__ import annotations

import dagster as dg

from stockula_pipelines.definitions import defs

EXPECTED_ASSETS = {
    "market/stocks", "market/price_history", "market/price_history_intraday", "market/options_calls",
    "market/options_puts", "market/dividends", "market/splits",
    "analytics/price_metrics", "analytics/option_greeks", "analytics/strategy_performance",
    "aggregates/price_history_daily", "aggregates/price_history_weekly", "aggregates/price_history_monthly",
    "aggregates/market_volume_hourly", "aggregates/options_calls_volume_daily",
    "aggregates/options_puts_volume_daily", "aggregates/options_volume_daily",
    "curated/stg_stocks", "curated/stg_price_history", "curated/stg_intraday_bars", "curated/stg_options",
    "curated/stg_dividends", "curated/stg_splits", "curated/adjusted_daily_bars",
    "curated/symbol_return_summary", "curated/sector_performance_daily", "curated/market_summary_daily",
    "curated/options_surface", "curated/strategy_summary", "quality/quarantine_report",
}


def test_asset_keys_are_pinned():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == EXPECTED_ASSETS


def test_every_asset_has_a_group_kinds_and_a_docstring_with_its_grain():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.group_name and node.group_name != "default", key
        assert node.kinds, key
        assert "one row per" in (node.description or "").lower(), f"{key.to_user_string()}: no grain in its description"


def test_jobs_schedules_and_sensors_are_pinned():
    jobs = {j.name for j in defs.resolve_all_job_defs()} - {"__ASSET_JOB"}
    assert {"end_of_day_job", "corporate_actions_job", "intraday_job", "reference_data_job"} <= jobs
    schedules = {s.name for s in defs.schedules or []}
    assert {"end_of_day_schedule", "corporate_actions_schedule", "intraday_schedule",
            "reference_data_schedule"} <= schedules
    sensors = {s.name for s in defs.sensors or []}
    assert {"stockula_automation_sensor", "retry_skipped_symbols_sensor"} <= sensors


def test_every_derived_asset_runs_by_itself_after_its_loads():
    graph = defs.resolve_asset_graph()
    derived = [k for k in graph.get_all_asset_keys() if k.path[0] in ("analytics", "aggregates", "curated")
               or k == dg.AssetKey(["quality", "quarantine_report"])]
    assert len(derived) >= 20
    for key in derived:
        condition = graph.get(key).automation_condition
        assert condition is not None and condition.get_label() == "after_upstream_loads", key.to_user_string()
    for key in graph.get_all_asset_keys():
        if key.path[0] == "market":
            assert graph.get(key).automation_condition is None, "loads run on the schedules, not on automation"


OPERATIONS_JOBS = {"physical_backup_full_job", "physical_backup_incr_job", "logical_backup_job", "backup_drill_job",
                   "maintenance_job", "health_report_job", "ops_alert_job"}
OPERATIONS_SCHEDULES = {"weekly_full_backup_schedule", "daily_incr_backup_schedule", "nightly_logical_backup_schedule",
                        "weekly_drill_schedule", "weekly_maintenance_schedule", "daily_health_schedule"}
OPERATIONS_SENSORS = {"backup_staleness_sensor", "health_threshold_sensor", "run_failure_alert_sensor"}


def test_operations_jobs_schedules_and_sensors_are_pinned_and_follow_the_automation_switch():
    from stockula_pipelines.settings import get_settings

    running = get_settings().automation_running
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    assert OPERATIONS_JOBS <= jobs
    schedules = {s.name: s for s in defs.schedules or []}
    assert OPERATIONS_SCHEDULES <= set(schedules)
    want = dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED
    assert all(schedules[n].default_status == want for n in OPERATIONS_SCHEDULES)
    sensors = {s.name: s for s in defs.sensors or []}
    assert OPERATIONS_SENSORS <= set(sensors)
    want_sensor = dg.DefaultSensorStatus.RUNNING if running else dg.DefaultSensorStatus.STOPPED
    assert all(sensors[n].default_status == want_sensor for n in OPERATIONS_SENSORS)
    # The origin's cadence: full on Sundays, incremental on the other days.
    assert schedules["weekly_full_backup_schedule"].cron_schedule == "0 1 * * 0"
    assert schedules["daily_incr_backup_schedule"].cron_schedule == "0 1 * * 1-6"


def test_every_ingestion_asset_has_checks_and_the_guards_block():
    graph = defs.resolve_asset_graph()
    for key in ("market/stocks", "market/price_history", "market/price_history_intraday", "market/options_calls",
                "market/options_puts", "market/dividends", "market/splits"):
        checks = graph.get_check_keys_for_assets({dg.AssetKey.from_user_string(key)})
        assert checks, key
    price_checks = graph.get_check_keys_for_assets({dg.AssetKey(["market", "price_history"])})
    blocking = {c.name for c in price_checks if graph.get_check_spec(c).blocking}
    assert {"no_duplicates", "ohlc_consistent", "no_missing_trading_days"} <= blocking


def test_every_asset_of_the_pipeline_has_a_check():
    graph = defs.resolve_asset_graph()
    unchecked = {
        k.to_user_string() for k in graph.get_all_asset_keys() if not graph.get_check_keys_for_assets({k})
    }
    # The quarantine report is itself the quality signal; it has nothing further to check.
    assert unchecked == {"quality/quarantine_report"}
