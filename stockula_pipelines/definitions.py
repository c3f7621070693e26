"""The code location: assembles each domain's Definitions and the shared resources. No config here."""

from __future__ import annotations

import warnings

import dagster as dg

# The project uses single-run backfill policies (beta) and partitioned asset checks (preview) on
# purpose; the notice printed on every load of the code location says nothing new to an operator.
warnings.filterwarnings("ignore", category=dg.BetaWarning)
warnings.filterwarnings("ignore", category=dg.PreviewWarning)

from stockula_pipelines.automation import automation_sensor  # noqa: E402
from stockula_pipelines.defs import (  # noqa: E402
    aggregates,
    analytics,
    corporate_actions,
    curated,
    market_data,
    operations,
    options,
    quality,
    strategies,
)
from stockula_pipelines.executors import executor_from_settings  # noqa: E402
from stockula_pipelines.resources.backup import OperationsResource  # noqa: E402
from stockula_pipelines.resources.market_data import MarketDataResource  # noqa: E402
from stockula_pipelines.resources.timescale import TimescaleResource  # noqa: E402

defs = dg.Definitions.merge(
    market_data.definitions(),
    options.definitions(),
    corporate_actions.definitions(),
    analytics.definitions(),
    aggregates.definitions(),
    curated.definitions(),
    strategies.definitions(),
    quality.definitions(),
    operations.definitions(),
    dg.Definitions(
        sensors=[automation_sensor()],
        resources={
            "timescale": TimescaleResource(),
            "market_data": MarketDataResource(),
            "operations": OperationsResource(),
        },
        # STOCKULA_EXECUTOR (docs/executors.md): multiprocess unless the settings say otherwise.
        executor=executor_from_settings(),
    ),
)
