"""The code location of ``bench_backfill.py``: the project's definitions plus a no-op asset on the daily
partitions, so the two backfills it compares load the same code and write to the same instance."""

import dagster as dg

from stockula_pipelines import definitions as project
from stockula_pipelines.defs.ingest_common import SINGLE_RUN
from stockula_pipelines.partitions import daily_partitions


@dg.asset(key=["bench", "noop_daily"], partitions_def=daily_partitions, backfill_policy=SINGLE_RUN,
          group_name="bench")
def noop_daily(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Does nothing on the partitions of market/price_history: Dagster's own cost of a range run."""
    return dg.MaterializeResult(metadata={"partitions": dg.MetadataValue.int(len(context.partition_keys))})


defs = dg.Definitions.merge(project.defs, dg.Definitions(assets=[noop_daily]))
