"""What every ingestion asset does after its source returned a frame: validate, load, report.

Shared by the market_data, options and corporate_actions domains so that each asset's body is only
"fetch the window from the source". Nothing here knows a particular table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import dagster as dg
import polars as pl

from stockula_pipelines.lib.validation.ingest import validate
from stockula_pipelines.resources.timescale import TimescaleResource

PREVIEW_ROWS = 10
DB_KINDS = {"python", "polars", "postgres", "timescaledb"}


def known_symbols(timescale: TimescaleResource) -> set[str]:
    with timescale.connection() as conn:
        return {row[0] for row in conn.execute("SELECT symbol FROM market.stocks")}


def _preview(frame: pl.DataFrame) -> dg.MetadataValue:
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
    asset_key: dg.AssetKey | None = None,
    check_symbols: bool = True,
) -> dg.MaterializeResult:
    """Validate ``frame`` against the window, quarantine the rejects and replace the window's rows."""
    known = known_symbols(timescale) if check_symbols else None
    result = validate(table, frame, window=window, known_symbols=known)
    partition_key = context.partition_key if context.has_partition_key else None
    load = timescale.load_window(
        table,
        result.valid,
        window=window,
        symbols=list(symbols),
        interval=interval,
        rejected=result.rejected,
        source=source,
        run_id=context.run_id,
        partition_key=partition_key,
    )
    if len(result.rejected):
        context.log.warning(
            f"{table}: {len(result.rejected)} row(s) quarantined: "
            + ", ".join(f"{rule}={n}" for rule, n in sorted(result.counts.items()) if n)
        )
    context.log.info(
        f"{table}: window [{window[0].isoformat()}, {window[1].isoformat()}) replaced "
        f"{load.rows_deleted} row(s) with {load.rows_loaded}"
    )
    return dg.MaterializeResult(
        asset_key=asset_key,
        metadata={
            "dagster/row_count": dg.MetadataValue.int(load.rows_loaded),
            "rows_loaded": dg.MetadataValue.int(load.rows_loaded),
            "rows_replaced": dg.MetadataValue.int(load.rows_deleted),
            "rows_quarantined": dg.MetadataValue.int(len(result.rejected)),
            "quarantine_by_rule": dg.MetadataValue.json({k: v for k, v in result.counts.items() if v}),
            "window_start": dg.MetadataValue.text(window[0].isoformat()),
            "window_end": dg.MetadataValue.text(window[1].isoformat()),
            "symbols": dg.MetadataValue.int(len(symbols)),
            "source": dg.MetadataValue.text(source),
            "table": dg.MetadataValue.text(f"market.{table}"),
            "preview": _preview(result.valid),
        },
    )
