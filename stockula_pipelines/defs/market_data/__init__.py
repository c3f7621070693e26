import dagster as dg

from stockula_pipelines.defs.market_data import assets, schedules, sensors


def definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([assets]),
        jobs=[schedules.end_of_day_job, schedules.daily_bars_job, schedules.intraday_job,
              schedules.reference_data_job],
        schedules=[schedules.end_of_day_schedule, schedules.intraday_schedule, schedules.reference_data_schedule],
        sensors=[sensors.retry_skipped_symbols_sensor],
    )
