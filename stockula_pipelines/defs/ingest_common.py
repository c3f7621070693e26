"""What every ingestion asset does after its source returned a frame: validate, load, report.

Shared by the market_data, options and corporate_actions domains so that each asset's body is only
"fetch the window from the source". Nothing here knows a particular table.

Partitioned ingestion assets use a single-run backfill policy: a backfill of a date range (from the
UI or ``dagster asset materialize --partition-range A...B``) is one run whose window spans the range,
loaded in one transaction per table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import dagster as dg
import polars as pl

from stockula_pipelines.lib.ingest.loader import LoadResult
from stockula_pipelines.lib.sources import MarketDataSource
from stockula_pipelines.lib.validation.ingest import RULES, validate
from stockula_pipelines.partitions import partition_window
from stockula_pipelines.resources.market_data import MarketDataResource
from stockula_pipelines.resources.timescale import TimescaleResource

PREVIEW_ROWS = 10
DB_KINDS = {"python", "polars", "timescaledb"}
SOURCE_POOL = "market_data_source"
SINGLE_RUN = dg.BackfillPolicy.single_run()


def run_window(context: dg.AssetExecutionContext) -> tuple[tuple[datetime, datetime], list[str]]:
    """The half-open UTC window covered by the run's partition(s), and the partition keys."""
    keys = list(context.partition_keys)
    return (partition_window(keys[0])[0], partition_window(keys[-1])[1]), keys


def run_symbols(market_data: MarketDataResource, source: MarketDataSource) -> list[str]:
    return market_data.resolved_settings().symbols or source.universe()


def known_symbols(timescale: TimescaleResource) -> set[str]:
    with timescale.connection() as conn:
        return {row[0] for row in conn.execute("SELECT symbol FROM market.stocks")}


def preview_table(frame: pl.DataFrame) -> dg.MetadataValue:
    head = frame.head(PREVIEW_ROWS)
    columns = [
        dg.TableColumn(name, "float" if dtype.is_float() else "int" if dtype.is_integer() else "string")
        for name, dtype in head.schema.items()
    ]
    records = [
        dg.TableRecord({k: (v if isinstance(v, int | float | bool) or v is None else str(v)) for k, v in row.items()})
        for row in head.iter_rows(named=True)
    ]
    return dg.MetadataValue.table(records=records, schema=dg.TableSchema(columns=columns))


@dataclass
class TableLoad:
    """Counts of one table over one or several loads of a run (options load day by day)."""

    table: str
    source: str
    symbols: int = 0
    rows_loaded: int = 0
    rows_replaced: int = 0
    rows_quarantined: int = 0
    load_seconds: float = 0.0  # the loader's transactions (delete + COPY + ingest log), summed
    by_rule: dict[str, int] = field(default_factory=dict)
    window: tuple[datetime, datetime] | None = None
    preview: pl.DataFrame | None = None

    def add(self, load: LoadResult, valid: pl.DataFrame, counts: dict[str, int], window, symbols: int) -> None:
        self.rows_loaded += load.rows_loaded
        self.rows_replaced += load.rows_deleted
        self.rows_quarantined += load.rows_quarantined
        self.load_seconds += load.seconds
        self.symbols = max(self.symbols, symbols)
        for rule in RULES:
            if counts.get(rule):
                self.by_rule[rule] = self.by_rule.get(rule, 0) + counts[rule]
        self.window = window if self.window is None else (min(self.window[0], window[0]), max(self.window[1], window[1]))
        if self.preview is None or self.preview.is_empty():
            self.preview = valid

    def result(self, asset_key: dg.AssetKey | None = None, **extra: dg.MetadataValue) -> dg.MaterializeResult:
        window = self.window
        return dg.MaterializeResult(
            asset_key=asset_key,
            metadata={
                "dagster/row_count": dg.MetadataValue.int(self.rows_loaded),
                "rows_loaded": dg.MetadataValue.int(self.rows_loaded),
                "rows_replaced": dg.MetadataValue.int(self.rows_replaced),
                "rows_quarantined": dg.MetadataValue.int(self.rows_quarantined),
                "quarantined_by_rule": dg.MetadataValue.json(self.by_rule),
                "load_seconds": dg.MetadataValue.float(round(self.load_seconds, 4)),
                "window_start": dg.MetadataValue.text(window[0].isoformat() if window else ""),
                "window_end": dg.MetadataValue.text(window[1].isoformat() if window else ""),
                "symbols": dg.MetadataValue.int(self.symbols),
                "source": dg.MetadataValue.text(self.source),
                "table": dg.MetadataValue.text(f"market.{self.table}"),
                "preview": preview_table(self.preview if self.preview is not None else pl.DataFrame()),
                **extra,
            },
        )


def load_table_window(
    context: dg.AssetExecutionContext,
    timescale: TimescaleResource,
    *,
    table: str,
    frame: pl.DataFrame,
    window: tuple[datetime, datetime],
    symbols: Sequence[str],
    source: str,
    interval: str | None = None,
    known: set[str] | None = None,
    into: TableLoad | None = None,
) -> TableLoad:
    """Validate ``frame`` against the window, quarantine the rejects and replace the window's rows."""
    known = known if known is not None else known_symbols(timescale)
    checked = validate(table, frame, window=window, known_symbols=known)
    keys = list(context.partition_keys) if context.has_partition_key or context.has_partition_key_range else []
    partition_key = keys[0] if len(keys) == 1 else f"{keys[0]}...{keys[-1]}" if keys else None
    load = timescale.load_window(
        table, checked.valid, window=window, symbols=list(symbols), interval=interval,
        rejected=checked.rejected, source=source, run_id=context.run_id, partition_key=partition_key,
    )
    if len(checked.rejected):
        rules = ", ".join(f"{rule}={checked.counts[rule]}" for rule in RULES if checked.counts.get(rule))
        context.log.warning(f"{table}: {len(checked.rejected)} row(s) quarantined ({rules})")
    context.log.info(
        f"{table}{f' {interval}' if interval else ''}: [{window[0].isoformat()}, {window[1].isoformat()}) "
        f"replaced {load.rows_deleted} row(s) with {load.rows_loaded}"
    )
    summary = into or TableLoad(table=table, source=source)
    summary.add(load, checked.valid, checked.counts, window, len(symbols))
    return summary
