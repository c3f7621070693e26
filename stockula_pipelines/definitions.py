"""The code location: assembles each domain's Definitions and the shared resources. No config here."""

from __future__ import annotations

import dagster as dg

from stockula_pipelines.defs import (
    aggregates,
    analytics,
    corporate_actions,
    curated,
    market_data,
    operations,
    options,
    quality,
)
from stockula_pipelines.resources.backup import OperationsResource
from stockula_pipelines.resources.market_data import MarketDataResource
from stockula_pipelines.resources.timescale import TimescaleResource

defs = dg.Definitions.merge(
    market_data.definitions(),
    options.definitions(),
    corporate_actions.definitions(),
    analytics.definitions(),
    aggregates.definitions(),
    curated.definitions(),
    quality.definitions(),
    operations.definitions(),
    dg.Definitions(
        resources={
            "timescale": TimescaleResource(),
            "market_data": MarketDataResource(),
            "operations": OperationsResource(),
        }
    ),
)
