"""Statements every load runs inside its transaction: locks, decompression, quarantine, ingest log."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import psycopg
from psycopg import sql

from stockula_pipelines.lib.db.capabilities import Capabilities

from .copy import copy_frame
from .sqlfiles import load_sql

SCHEMA = "market"
QUARANTINE = sql.Identifier("quality", "quarantine")


def target(table: str) -> sql.Identifier:
    return sql.Identifier(SCHEMA, table)


def lock_symbols(conn: psycopg.Connection, table: str, symbols: list[str]) -> None:
    """Serialise concurrent loads touching the same (table, symbol): transaction-scoped, so PgBouncer-safe.

    Without it two overlapping loads both delete, then both COPY, and one dies on the primary key.
    """
    conn.execute(load_sql("lock_symbols.sql"), {"table": table, "symbols": symbols})


def decompress_window(conn: psycopg.Connection, caps: Capabilities, table: str,
                      start: datetime, end: datetime) -> int:
    """Decompress the compressed chunks overlapping [start, end) (full edition only); returns how many."""
    if not caps.compression:
        return 0
    chunks = conn.execute(
        load_sql("select_compressed_chunks.sql"),
        {"schema": SCHEMA, "table": table, "start": start, "end": end},
    ).fetchall()
    for chunk_schema, chunk_name, ext_schema in chunks:
        conn.execute(
            load_sql("decompress_chunk.sql").format(function=sql.Identifier(ext_schema, "decompress_chunk")),
            {"chunk": sql.Identifier(chunk_schema, chunk_name).as_string(conn)},
        )
    return len(chunks)


def delete_window(conn: psycopg.Connection, table: str, *, start: datetime, end: datetime,
                  symbols: list[str], interval: str | None) -> int:
    name = "delete_window_interval.sql" if interval is not None else "delete_window.sql"
    cur = conn.execute(
        load_sql(name).format(table=target(table)),
        {"start": start, "end": end, "symbols": symbols, "interval": interval},
    )
    return max(cur.rowcount, 0)


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
) -> int:
    row = conn.execute(
        load_sql("insert_ingest_log.sql"),
        {
            "table": table, "interval": interval, "start": start, "end": end, "symbols": symbols,
            "mode": mode, "deleted": rows_deleted, "loaded": rows_loaded, "updated": rows_updated,
            "quarantined": rows_quarantined, "source": source, "run_id": run_id,
            "partition_key": partition_key,
        },
    ).fetchone()
    assert row is not None
    return int(row[0])
