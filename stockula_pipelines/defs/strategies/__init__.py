import dagster as dg

from stockula_pipelines.defs.strategies import assets, checks


def definitions() -> dg.Definitions:
    return dg.Definitions(assets=[assets.strategy_performance], asset_checks=[checks.strategy_performance_checks])
