import dagster as dg

from stockula_pipelines.defs.options import assets, schedules


def definitions() -> dg.Definitions:
    return dg.Definitions(assets=dg.load_assets_from_modules([assets]), jobs=[schedules.options_job])
