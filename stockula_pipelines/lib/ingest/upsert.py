"""Staged upsert: late corrections that overlap existing rows, and reference data (``stocks``).

The batch is COPYed into a temporary table that drops at commit, then merged with one
``INSERT ... SELECT ... ON CONFLICT (key) DO UPDATE``. Rows whose values did not change are left
alone, so ``rows_updated`` counts real corrections. The staging table lives only inside the
transaction, which is what PgBouncer's transaction mode allows.
"""

from __future__ import annotations

import time as _time
import uuid
from datetime import datetime, timedelta

import polars as pl
import psycopg
from psycopg import sql

from stockula_pipelines.lib.db.sqlfiles import SqlFiles

from . import bookkeeping as bk
from .copy import BatchHook, copy_frame
from .loader import LoadResult
from .validate import IngestError, check_unique_keys, check_window, conform, quarantine_frame, table_spec

_SQL = SqlFiles(__file__)

# The column each table stamps when a row changes (the database fills it on insert).
_TOUCHED = {"stocks": "updated_at"}
_DEFAULT_TOUCHED = "loaded_at"


# Same column types as the target, none of its constraints: those are checked when rows reach it.
_CREATE_STAGE = """
CREATE TEMPORARY TABLE {stage} ON COMMIT DROP AS
SELECT {columns} FROM {target} WITH NO DATA
"""


def _prepare(table: str, frame: pl.DataFrame, source: str) -> pl.DataFrame:
    frame = conform(table, frame)
    if "source" not in frame.columns:  # stocks: provenance is the loader's argument, not a frame column
        frame = frame.with_columns(pl.lit(source, pl.String).alias("source"))
    return frame


def _log_window(table: str, frame: pl.DataFrame,
                window: tuple[datetime, datetime] | None) -> tuple[datetime | None, datetime | None]:
    if window is not None:
        return check_window(table, window)
    if "time" not in frame.columns or frame.height == 0:
        return None, None  # the log row records the instant of the upsert
    lo, hi = frame.select(pl.col("time").min().alias("lo"), pl.col("time").max().alias("hi")).row(0)
    return lo, hi + timedelta(microseconds=1)


def upsert(
    conn: psycopg.Connection,
    table: str,
    frame: pl.DataFrame,
    *,
    source: str,
    window: tuple[datetime, datetime] | None = None,
    rejected: pl.DataFrame | None = None,
    run_id: str | None = None,
    partition_key: str | None = None,
    batch_rows: int = 250_000,
    on_batch: BatchHook | None = None,
) -> LoadResult:
    """Insert ``frame``'s new keys and update existing ones (by ``schemas.TABLES[table]``'s key).

    Unlike :func:`load_window` nothing is deleted: rows of the window absent from the frame stay.
    ``window`` is only recorded in the ingest log (default: the frame's time range).
    """
    started = _time.perf_counter()
    _, key = table_spec(table)
    frame = _prepare(table, frame, source)
    check_unique_keys(table, frame, key)
    start, end = _log_window(table, frame, window)
    symbols = sorted(frame.get_column("symbol").drop_nulls().unique().to_list())
    interval = None
    if table == "price_history" and frame.height:
        intervals = sorted(map(str, frame.get_column("interval").unique().to_list()))
        if len(intervals) != 1:
            # The ingest log holds one interval per load and the derived refreshes select loads by
            # it: a mixed batch would be logged with none and never reach price_metrics.
            raise IngestError(f"price_history: upsert one interval at a time, the frame has {intervals} "
                              "(rule: single_interval)")
        interval = intervals[0]
    quarantine = None if rejected is None else quarantine_frame(
        table, rejected, run_id=run_id, partition_key=partition_key)

    columns = list(frame.columns)
    others = [c for c in columns if c not in key]
    stage = sql.Identifier(f"stage_{table}_{uuid.uuid4().hex[:12]}")
    ident = sql.Identifier
    join = sql.SQL(", ").join
    touched = _TOUCHED.get(table, _DEFAULT_TOUCHED)

    with conn.transaction():
        bk.lock_symbols(conn, table, symbols)
        conn.execute(sql.SQL(_CREATE_STAGE).format(
            stage=stage, target=bk.target(table), columns=join(ident(c) for c in columns)))
        copy_frame(conn, stage, frame, batch_rows=batch_rows, on_batch=on_batch)
        row = conn.execute(_SQL("upsert_from_stage").format(
            target=bk.target(table),
            stage=stage,
            columns=join(ident(c) for c in columns),
            key=join(ident(c) for c in key),
            updates=join(sql.SQL("{} = EXCLUDED.{}").format(ident(c), ident(c)) for c in others),
            touched=ident(touched),
            current=join(sql.SQL("t.{}").format(ident(c)) for c in others),
            incoming=join(sql.SQL("EXCLUDED.{}").format(ident(c)) for c in others),
        )).fetchone()
        assert row is not None
        inserted, updated = int(row[0]), int(row[1])
        quarantined = bk.write_quarantine(conn, quarantine)
        # Event tables restate history for the symbols a load changed; an upsert that inserted and
        # updated nothing changed no symbol's events. Otherwise which ones changed is not known here,
        # so the log's default (all of them) stands.
        changed = [] if table in bk.EVENT_VALUE and inserted + updated == 0 else None
        ingest_id = bk.write_ingest_log(
            conn, table=table, interval=interval, start=start, end=end, symbols=symbols, mode="upsert",
            rows_deleted=0, rows_loaded=inserted, rows_updated=updated, rows_quarantined=quarantined,
            source=source, run_id=run_id, partition_key=partition_key, symbols_changed=changed,
        )
    return LoadResult(
        table=table, mode="upsert", window=(start, end) if start is not None and end is not None else None,
        symbols=tuple(symbols), interval=interval, rows_deleted=0, rows_loaded=inserted,
        rows_updated=updated, rows_unchanged=frame.height - inserted - updated,
        rows_quarantined=quarantined, chunks_decompressed=0, ingest_id=ingest_id,
        seconds=_time.perf_counter() - started, symbols_changed=tuple(changed) if changed is not None else None,
    )
