"""Idempotent loads: replace one half-open window of a table for a set of symbols, in one transaction.

A load deletes ``[start, end)`` for its symbols (and interval, for bars), COPYs the new rows, records
the rows validation refused in ``quality.quarantine`` and one row in ``ops.ingest_log``, all in a
single transaction: re-running a load gives identical table contents, and a load that fails midway
leaves nothing behind. Symbols whose stored rows already equal the new ones are neither deleted nor
written (:mod:`.unchanged`): re-running an unchanged window costs a read, not a rewrite. Only transaction-scoped state is used (no session SETs, no prepared
statements, no temp tables outliving the transaction), so it works through PgBouncer in transaction
mode.
"""

from __future__ import annotations

import time as _time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import polars as pl
import psycopg

from stockula_pipelines.lib.db.capabilities import detect

from . import bookkeeping as bk
from . import unchanged
from .copy import BatchHook, copy_frame
from .validate import (
    IngestError,
    check_rows_in_batch,
    check_symbols,
    check_window,
    conform,
    quarantine_frame,
    resolve_interval,
    spared_keys,
    table_spec,
)


@dataclass(frozen=True)
class LoadResult:
    table: str
    mode: str  # 'replace' or 'upsert'
    window: tuple[datetime, datetime] | None
    symbols: tuple[str, ...]
    interval: str | None
    rows_deleted: int
    rows_loaded: int  # rows written: COPYed (replace) or newly inserted (upsert)
    rows_updated: int  # upsert: existing rows whose values changed
    rows_unchanged: int  # rows that already held the same values, so were not written
    rows_quarantined: int
    chunks_decompressed: int
    ingest_id: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step, for tuning
    symbols_changed: tuple[str, ...] | None = None  # event tables: symbols whose events changed
    symbols_skipped: tuple[str, ...] = ()  # asked for, left untouched (the source failed or was empty)
    keys_spared: int = 0  # keys of rejected rows, whose stored rows the delete kept
    symbols_unchanged: tuple[str, ...] = ()  # replace: stored rows equal to the new ones, left untouched



def load_window(
    conn: psycopg.Connection,
    table: str,
    frame: pl.DataFrame,
    *,
    window: tuple[datetime, datetime],
    symbols: Sequence[str],
    source: str,
    interval: str | None = None,
    rejected: pl.DataFrame | None = None,
    run_id: str | None = None,
    partition_key: str | None = None,
    batch_rows: int = 250_000,
    on_batch: BatchHook | None = None,
    skipped: Sequence[str] = (),
) -> LoadResult:
    """Replace ``market.<table>``'s rows in ``window`` for ``symbols`` (and ``interval``) with ``frame``.

    ``frame`` must conform to ``schemas.TABLES[table]`` and hold only rows of the window and symbols:
    a symbol listed but absent from the frame has its window emptied, so list only symbols whose
    source answered (or confirmed the window empty); ``skipped`` names the ones left out, for the log.
    ``rejected`` carries rows that validation refused: any of the table's columns plus ``rule`` and
    ``detail``; the stored rows they would have replaced are kept. COPY runs one statement per
    ``batch_rows`` rows; ``on_batch(n, rows_so_far)`` is called after each.

    Commits when ``conn`` had no transaction open; inside a caller's transaction it becomes a
    savepoint and the caller commits. On any error nothing of the load remains.
    """
    started = _time.perf_counter()
    if table == "stocks":
        raise IngestError("stocks is reference data keyed by symbol, not a time window: use upsert()")
    table_spec(table)
    start, end = check_window(table, window)
    wanted = check_symbols(table, symbols)
    frame = conform(table, frame)
    if table == "price_history" and interval is None and frame.height == 0:
        raise IngestError("price_history: an empty frame needs interval= to know which bars to replace")
    interval = resolve_interval(table, frame, interval)
    check_rows_in_batch(table, frame, start=start, end=end, symbols=wanted, interval=interval)
    quarantine = None if rejected is None else quarantine_frame(
        table, rejected, run_id=run_id, partition_key=partition_key)
    spare = spared_keys(table, rejected, frame)
    skipped_list = sorted(set(skipped) - set(wanted))

    timings: dict[str, float] = {"validate": _time.perf_counter() - started}
    with conn.transaction():
        mark = _time.perf_counter()
        caps = detect(conn)
        bk.lock_symbols(conn, table, wanted)
        timings["prepare"], mark = _lap(mark)
        stored = unchanged.read_window(conn, table, start=start, end=end, symbols=wanted, interval=interval)
        rewrite = sorted(unchanged.changed_symbols(table, frame, stored, spare))
        same = sorted(set(wanted) - set(rewrite))
        del stored
        written = frame if not same else frame.filter(pl.col("symbol").is_in(rewrite))
        timings["compare"], mark = _lap(mark)
        deleted, deleted_events, loaded, decompressed = 0, set() if table in bk.EVENT_VALUE else None, 0, 0
        if rewrite:
            decompressed = bk.decompress_window(conn, caps, table, start, end)
            deleted, deleted_events = bk.delete_window(conn, table, start=start, end=end, symbols=rewrite,
                                                       interval=interval, spare=spare)
            timings["delete"], mark = _lap(mark)
            loaded = copy_frame(conn, bk.target(table), written, batch_rows=batch_rows, on_batch=on_batch)
            timings["copy"], mark = _lap(mark)
        quarantined = bk.write_quarantine(conn, quarantine)
        changed = bk.changed_event_symbols(table, deleted_events, written)
        ingest_id = bk.write_ingest_log(
            conn, table=table, interval=interval, start=start, end=end, symbols=wanted, mode="replace",
            rows_deleted=deleted, rows_loaded=loaded, rows_updated=0, rows_quarantined=quarantined,
            source=source, run_id=run_id, partition_key=partition_key,
            symbols_changed=changed if changed is not None else rewrite, symbols_skipped=skipped_list,
        )
        timings["log"], mark = _lap(mark)
    timings["commit"], mark = _lap(mark)
    return LoadResult(
        table=table, mode="replace", window=(start, end), symbols=tuple(wanted), interval=interval,
        rows_deleted=deleted, rows_loaded=loaded, rows_updated=0, rows_unchanged=frame.height - written.height,
        rows_quarantined=quarantined, chunks_decompressed=decompressed, ingest_id=ingest_id,
        seconds=_time.perf_counter() - started, timings=timings,
        symbols_changed=tuple(changed) if changed is not None else None, symbols_skipped=tuple(skipped_list),
        keys_spared=len(spare[0]), symbols_unchanged=tuple(same),
    )


def _lap(mark: float) -> tuple[float, float]:
    now = _time.perf_counter()
    return now - mark, now
