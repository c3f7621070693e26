import dagster as dg

from stockula_pipelines.defs.corporate_actions import assets, schedules


def definitions() -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([assets]),
        jobs=[schedules.corporate_actions_job],
        schedules=[schedules.corporate_actions_schedule],
    )
