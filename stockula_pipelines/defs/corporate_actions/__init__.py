import dagster as dg

from stockula_pipelines.defs.corporate_actions import assets


def definitions() -> dg.Definitions:
    return dg.Definitions(assets=dg.load_assets_from_modules([assets]))
