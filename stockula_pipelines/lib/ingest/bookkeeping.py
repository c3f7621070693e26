"""Statements every load runs inside its transaction: locks, decompression, quarantine, ingest log."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import psycopg
from psycopg import sql

from stockula_pipelines.lib.db.capabilities import Capabilities
from stockula_pipelines.lib.db.sqlfiles import SqlFiles

from .copy import copy_frame

_SQL = SqlFiles(__file__)

SCHEMA = "market"
QUARANTINE = sql.Identifier("quality", "quarantine")


# Sorted, so two loads with overlapping symbol sets always take their locks in the same order.
_LOCK_SYMBOLS = """
SELECT pg_advisory_xact_lock(hashtextextended(%(table)s || ':' || s, 0))
FROM (SELECT DISTINCT s FROM unnest(%(symbols)s::text[]) AS s ORDER BY s) AS ordered
"""


def target(table: str) -> sql.Identifier:
    return sql.Identifier(SCHEMA, table)


def lock_symbols(conn: psycopg.Connection, table: str, symbols: list[str]) -> None:
    """Serialise concurrent loads touching the same (table, symbol): transaction-scoped, so PgBouncer-safe.

    Without it two overlapping loads both delete, then both COPY, and one dies on the primary key.
    """
    conn.execute(sql.SQL(_LOCK_SYMBOLS), {"table": table, "symbols": symbols})


# Only a hypertable's owner may decompress its chunks; the writer asks sql/0014's SECURITY DEFINER
# function, which decompresses chunks of market hypertables and nothing else.
DECOMPRESS_CHUNK = "SELECT ops.decompress_market_chunk(%(chunk)s::regclass)"


def decompress_window(conn: psycopg.Connection, caps: Capabilities, table: str,
                      start: datetime, end: datetime) -> int:
    """Decompress the compressed chunks overlapping [start, end) (full edition only); returns how many."""
    if not caps.compression:
        return 0
    chunks = conn.execute(
        _SQL("select_compressed_chunks"),
        {"schema": SCHEMA, "table": table, "start": start, "end": end},
    ).fetchall()
    for chunk_schema, chunk_name, _ext_schema in chunks:
        conn.execute(DECOMPRESS_CHUNK, {"chunk": sql.Identifier(chunk_schema, chunk_name).as_string(conn)})
    return len(chunks)


# Tables whose every row is an event that restates history (adjusted prices, dividend yields): for
# them a load reports which symbols' events really changed, so an unchanged reload restates nothing.
EVENT_VALUE = {"dividends": "amount", "splits": "ratio"}


def delete_window(conn: psycopg.Connection, table: str, *, start: datetime, end: datetime,
                  symbols: list[str], interval: str | None,
                  spare: tuple[list[str], list[datetime]] = ([], [])) -> tuple[int, set[tuple] | None]:
    """Delete the window's rows of ``symbols`` except the ``spare`` (key, time) pairs.

    Returns the number of rows deleted and, for event tables, the deleted (symbol, time, value)s.
    """
    name = "delete_window_interval" if interval is not None else "delete_window"
    key = sql.Identifier("contract_symbol" if table.startswith("options_") else "symbol")
    value = EVENT_VALUE.get(table)
    returning = (sql.SQL("t.symbol, t.time, t.{}").format(sql.Identifier(value)) if value
                 else sql.SQL("1"))
    statement = _SQL(name).format(table=target(table), key=key, returning=returning)
    outer = sql.SQL("SELECT * FROM deleted") if value else sql.SQL("SELECT count(*) FROM deleted")
    params = {"start": start, "end": end, "symbols": symbols, "interval": interval,
              "spare_keys": spare[0], "spare_times": spare[1]}
    rows = conn.execute(sql.SQL("WITH deleted AS ({}) {}").format(statement, outer), params).fetchall()
    if value:
        return len(rows), {(r[0], r[1], r[2]) for r in rows}
    return int(rows[0][0]), None


def changed_event_symbols(table: str, deleted: set[tuple] | None, frame: pl.DataFrame) -> list[str] | None:
    """Symbols whose events differ between what the load deleted and what it wrote (event tables)."""
    value = EVENT_VALUE.get(table)
    if value is None or deleted is None:
        return None
    written = {(r[0], r[1], r[2]) for r in frame.select("symbol", "time", value).iter_rows()}
    return sorted({r[0] for r in deleted ^ written})


def write_quarantine(conn: psycopg.Connection, rows: pl.DataFrame | None) -> int:
    if rows is None or rows.height == 0:
        return 0
    return copy_frame(conn, QUARANTINE, rows, jsonb=("row_data",))


def write_ingest_log(
    conn: psycopg.Connection,
    *,
    table: str,
    interval: str | None,
    start: datetime | None,
    end: datetime | None,
    symbols: list[str],
    mode: str,
    rows_deleted: int,
    rows_loaded: int,
    rows_updated: int,
    rows_quarantined: int,
    source: str | None,
    run_id: str | None,
    partition_key: str | None,
    symbols_changed: list[str] | None = None,
    symbols_skipped: list[str] | None = None,
) -> int:
    row = conn.execute(
        _SQL("insert_ingest_log"),
        {
            "table": table, "interval": interval, "start": start, "end": end, "symbols": symbols,
            "mode": mode, "deleted": rows_deleted, "loaded": rows_loaded, "updated": rows_updated,
            "quarantined": rows_quarantined, "source": source, "run_id": run_id,
            "partition_key": partition_key,
            "changed": symbols_changed if symbols_changed is not None else symbols,
            "skipped": symbols_skipped or [],
        },
    ).fetchone()
    assert row is not None
    return int(row[0])
