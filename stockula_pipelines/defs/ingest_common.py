"""What every ingestion asset does with its source's answers: validate, load, report.

Shared by the market_data, options and corporate_actions domains so that each asset's body is only
"fetch the window from the source". Nothing here knows a particular table.

The source is asked one symbol at a time (:func:`~stockula_pipelines.lib.sources.fetch.fetch_by_symbol`):
a symbol whose source failed or returned nothing keeps its stored rows and is named in the metadata,
the log and the ``source_coverage`` check; when the source answered for no symbol at all the step
fails, so nothing is recorded as materialised.

Partitioned ingestion assets use a single-run backfill policy: a backfill of a date range (from the
UI or ``dagster asset materialize --partition-range A...B``) is one run whose window spans the range.
The bars of a range are fetched and loaded in batches of symbols of about ``STOCKULA_LOAD_BATCH_ROWS``
rows (:func:`fetch_in_batches`), one transaction per batch, so a run's memory does not grow with the
range: 20 years of 2,000 symbols hold one batch at a time. A run that fails part-way keeps the batches it
committed, each whole; its retry compares them and rewrites nothing that is unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import dagster as dg
import polars as pl

from stockula_pipelines.defs.load_plots import column_schema, plots
from stockula_pipelines.lib.ingest.loader import LoadResult, load_window
from stockula_pipelines.lib.quality.rules import RULES, validate
from stockula_pipelines.lib.schemas import empty_frame
from stockula_pipelines.lib.sources import MarketDataSource, SourceError
from stockula_pipelines.lib.sources.fetch import Fetched, fetch_by_symbol
from stockula_pipelines.partitions import partition_window
from stockula_pipelines.resources.market_data import MarketDataResource
from stockula_pipelines.resources.timescale import TimescaleResource

PREVIEW_ROWS = 10
# A range run's metadata is stored once per partition of the range: beyond this many partitions the
# preview, the plots and the column schema (about 18 KB of the 22 KB per partition) are left out, so a
# 20-year backfill does not write 100 MB of copies of one preview; the counts and the window stay (the
# next nightly load shows the rest again).
LONG_RANGE_PARTITIONS = 100
DB_KINDS = {"python", "polars", "timescaledb"}
SOURCE_POOL = "market_data_source"
SINGLE_RUN = dg.BackfillPolicy.single_run()


def run_window(context: dg.AssetExecutionContext) -> tuple[tuple[datetime, datetime], list[str]]:
    """The half-open UTC window covered by the run's partition(s), and the partition keys."""
    keys = list(context.partition_keys)
    return (partition_window(keys[0])[0], partition_window(keys[-1])[1]), keys


def run_symbols(market_data: MarketDataResource, source: MarketDataSource) -> list[str]:
    return market_data.resolved_settings().symbols or source.universe()


def bars_per_symbol(keys: Sequence[str], interval: str | None) -> int:
    """How many rows a symbol answers for the partitions ``keys``: one per day for daily bars, the
    partition's minutes over the bar's for intraday ones (an upper bound: a half day has fewer)."""
    if not keys:
        return 0
    minutes = {"m": 1, "h": 60}.get((interval or "1d")[-1])
    if minutes is None:  # '1d', '5d', '1wk', '1mo': at most a bar per partition
        return len(keys)
    step = int((interval or "1m")[:-1]) * minutes
    return sum(max(1, int((end - start).total_seconds() // 60) // step)
               for start, end in map(partition_window, keys))


def fetch_in_batches(
    market_data: MarketDataResource,
    source: MarketDataSource,
    symbols: Sequence[str],
    window: tuple[datetime, datetime],
    call: Callable[[str], Mapping[str, pl.DataFrame]],
    table: str,
    *,
    rows_per_symbol: int,
    batch_rows: int,
) -> Iterator[tuple[list[str], Fetched, float]]:
    """(symbols, answers, seconds fetching) per batch of symbols holding about ``batch_rows`` rows.

    A run whose rows fit in one batch (a nightly or intraday load) is one batch of every symbol.
    """
    size = max(1, batch_rows // max(1, rows_per_symbol))
    for first in range(0, len(symbols), size):
        batch = list(symbols[first:first + size])
        started = time.perf_counter()
        fetched = fetch(market_data, source, batch, window, call, [table])[table]
        yield batch, fetched, time.perf_counter() - started


def known_symbols(timescale: TimescaleResource) -> set[str]:
    with timescale.connection() as conn:
        return {row[0] for row in conn.execute("SELECT symbol FROM market.stocks")}


def fetch(
    market_data: MarketDataResource,
    source: MarketDataSource,
    symbols: Sequence[str],
    window: tuple[datetime, datetime],
    call: Callable[[str], Mapping[str, pl.DataFrame]],
    tables: Sequence[str],
) -> dict[str, Fetched]:
    return fetch_by_symbol(source, symbols, window, call, tables=tables,
                           retry_delay=market_data.retry_delay_seconds)


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
    answered: set[str] = field(default_factory=set)  # symbols the source answered for, in any load
    rows_loaded: int = 0
    rows_replaced: int = 0
    rows_unchanged: int = 0  # fetched rows equal to the stored ones: not rewritten
    rows_quarantined: int = 0
    load_seconds: float = 0.0  # the loader's transactions (delete + COPY + ingest log), summed
    fetch_seconds: float = 0.0  # asking the source
    validate_seconds: float = 0.0  # the row rules
    batches: int = 0
    unlogged_skips: list[str] = field(default_factory=list)  # skipped in a batch that loaded nothing
    by_rule: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # symbol -> why its stored rows were kept
    retried: set[str] = field(default_factory=set)
    changed: set[str] | None = None
    window: tuple[datetime, datetime] | None = None
    preview: pl.DataFrame | None = None
    latest: pl.DataFrame | None = None  # the last load's rows: the plots draw them
    partitions: tuple[str, ...] = ()  # the run's partition keys
    columns: dg.TableSchema | None = None

    def add(self, load: LoadResult | None, valid: pl.DataFrame, counts: dict[str, int], window,
            fetched: Fetched) -> None:
        if load is not None:
            self.rows_loaded += load.rows_loaded
            self.rows_replaced += load.rows_deleted
            self.rows_unchanged += load.rows_unchanged
            self.rows_quarantined += load.rows_quarantined
            self.load_seconds += load.seconds
            if load.symbols_changed is not None:
                self.changed = (self.changed or set()) | set(load.symbols_changed)
        self.answered |= set(fetched.replace)
        self.batches += 1
        day = window[0].date().isoformat()
        for symbol, why in [*fetched.failed.items(), *((s, "no data returned") for s in fetched.empty)]:
            # A range run of several loads (options, day by day) keeps every day's reason.
            self.skipped[symbol] = "; ".join(filter(None, (self.skipped.get(symbol), f"{day}: {why}")))
        self.retried |= set(fetched.retried)
        for rule in RULES:
            if counts.get(rule):
                self.by_rule[rule] = self.by_rule.get(rule, 0) + counts[rule]
        self.window = window if self.window is None else (min(self.window[0], window[0]), max(self.window[1], window[1]))
        if self.preview is None or self.preview.is_empty():
            self.preview = valid
        if not valid.is_empty():
            self.latest = valid

    @property
    def symbols(self) -> int:
        return len(self.answered)

    def result(self, asset_key: dg.AssetKey | None = None, **extra: dg.MetadataValue) -> dg.MaterializeResult:
        """The run's metadata. A range run's materialisation is recorded on every partition of the range
        with the same metadata, so its counts and window are labelled as the run's, not the partition's."""
        window = self.window
        ranged = len(self.partitions) > 1
        where = "run_range" if ranged else "window"
        metadata = {
            # Dagster's row count is read as "rows in this partition" (written or already stored as fetched):
            # only true for a one-partition run.
            **({} if ranged else {"dagster/row_count": dg.MetadataValue.int(self.rows_loaded + self.rows_unchanged)}),
            ("rows_in_run" if ranged else "rows_loaded"): dg.MetadataValue.int(self.rows_loaded),
            **({"run_partitions": dg.MetadataValue.int(len(self.partitions))} if ranged else {}),
            "rows_replaced": dg.MetadataValue.int(self.rows_replaced),
            "rows_unchanged": dg.MetadataValue.int(self.rows_unchanged),
            "rows_quarantined": dg.MetadataValue.int(self.rows_quarantined),
            "quarantined_by_rule": dg.MetadataValue.json(self.by_rule),
            "load_seconds": dg.MetadataValue.float(round(self.load_seconds, 4)),
            "fetch_seconds": dg.MetadataValue.float(round(self.fetch_seconds, 4)),
            "validate_seconds": dg.MetadataValue.float(round(self.validate_seconds, 4)),
            "load_batches": dg.MetadataValue.int(self.batches),
            f"{where}_start": dg.MetadataValue.text(window[0].isoformat() if window else ""),
            f"{where}_end": dg.MetadataValue.text(window[1].isoformat() if window else ""),
            "symbols": dg.MetadataValue.int(self.symbols),
            "symbols_skipped": dg.MetadataValue.json(dict(sorted(self.skipped.items()))),
            "symbols_retried": dg.MetadataValue.json(sorted(self.retried)),
            "source": dg.MetadataValue.text(self.source),
            "table": dg.MetadataValue.text(f"market.{self.table}"),
            **extra,
        }
        if len(self.partitions) <= LONG_RANGE_PARTITIONS:
            metadata["preview"] = preview_table(self.preview if self.preview is not None else pl.DataFrame())
            metadata.update(plots(self.table, self.latest))
        if self.columns is not None and len(self.partitions) <= LONG_RANGE_PARTITIONS:
            metadata["dagster/column_schema"] = dg.MetadataValue.table_schema(self.columns)
        if self.changed is not None:
            metadata["symbols_changed"] = dg.MetadataValue.json(sorted(self.changed))
        return dg.MaterializeResult(asset_key=asset_key, metadata=metadata)


def _partition_label(context: dg.AssetExecutionContext) -> str | None:
    keys = list(context.partition_keys) if context.has_partition_key or context.has_partition_key_range else []
    return keys[0] if len(keys) == 1 else f"{keys[0]}...{keys[-1]}" if keys else None


def log_unlogged_skips(context: dg.AssetExecutionContext, timescale: TimescaleResource, summary: TableLoad, *,
                       window: tuple[datetime, datetime], interval: str | None = None) -> None:
    """Record in the ingest log the symbols skipped by the last batches of a run, which loaded nothing:
    the coverage check reads them there. (A run whose every batch was skipped fails instead.)"""
    if not summary.unlogged_skips or not summary.answered:
        return
    with timescale.connection() as conn:
        load_window(conn, summary.table, empty_frame(summary.table), window=window, symbols=[], interval=interval,
                    source=summary.source, run_id=context.run.run_id, partition_key=_partition_label(context),
                    skipped=summary.unlogged_skips)
    summary.unlogged_skips = []


def load_fetched(
    context: dg.AssetExecutionContext,
    timescale: TimescaleResource,
    fetched: Fetched,
    *,
    window: tuple[datetime, datetime],
    source: str,
    interval: str | None = None,
    known: set[str] | None = None,
    into: TableLoad | None = None,
    partition_key: str | None = None,
    batch: bool = False,
) -> TableLoad:
    """Validate the answers, quarantine the rejects and replace the window of the symbols that answered.

    ``batch``: these answers are one batch of the run's symbols; a batch the source answered for no
    symbol is recorded as skipped (the caller raises when no batch was answered at all)."""
    table = fetched.table
    summary = into or TableLoad(table=table, source=source)
    if summary.columns is None:
        summary.partitions = tuple(context.partition_keys) if context.has_partition_key_range or \
            context.has_partition_key else ()
        with timescale.connection() as conn:
            summary.columns = column_schema(conn, "market", table)
    if fetched.skipped:
        context.log.warning(f"{table}: kept the stored rows of {len(fetched.skipped)} symbol(s) the source "
                            f"did not answer for [{window[0].isoformat()}, {window[1].isoformat()}): "
                            f"{fetched.describe_skipped()}")
    if not fetched.replace and batch:
        # Nothing to load in this batch: its skipped symbols go into the ingest log with the next load.
        summary.add(None, fetched.frame, {}, window, fetched)
        summary.unlogged_skips += fetched.skipped
        return summary
    if not fetched.replace:
        # Nothing to replace: recording the partition as materialised would hide that no data came.
        raise SourceError(f"{table}: the source answered for no symbol in [{window[0].isoformat()}, "
                          f"{window[1].isoformat()}), nothing was changed: {fetched.describe_skipped()}",
                          source=source)
    known = known if known is not None else known_symbols(timescale)
    started = time.perf_counter()
    checked = validate(table, fetched.frame, window=window, known_symbols=known)
    summary.validate_seconds += time.perf_counter() - started
    with timescale.connection() as conn:
        load = load_window(
            conn, table, checked.valid, window=window, symbols=fetched.replace, interval=interval,
            rejected=checked.rejected, source=source, run_id=context.run.run_id,
            partition_key=partition_key or _partition_label(context),
            skipped=[*summary.unlogged_skips, *fetched.skipped],
        )
    summary.unlogged_skips = []
    if len(checked.rejected):
        rules = ", ".join(f"{rule}={checked.counts[rule]}" for rule in RULES if checked.counts.get(rule))
        context.log.warning(f"{table}: {len(checked.rejected)} row(s) quarantined ({rules}); the stored rows "
                            "they would have replaced were kept")
    context.log.info(
        f"{table}{f' {interval}' if interval else ''}: [{window[0].isoformat()}, {window[1].isoformat()}) "
        f"replaced {load.rows_deleted} row(s) with {load.rows_loaded}"
        + (f"; {load.rows_unchanged} row(s) of {len(load.symbols_unchanged)} symbol(s) were already stored "
           "as fetched and were left untouched" if load.symbols_unchanged else "")
    )
    summary.add(load, checked.valid, checked.counts, window, fetched)
    return summary
