"""Which loads each derived target (metrics, aggregates) has processed, and the refreshes it ran.

A refresh takes every ``ops.ingest_log`` row of its source tables that ``ops.refresh_covered`` does
not list for it yet, and, in the transaction that writes its results, lists them there and appends
a row to ``ops.refresh_log``. An explicit set rather than a max-id watermark: ingest ids are taken at
insert and become visible at commit, so a load that commits after a later id was processed would
fall behind a watermark for good.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

_SQL = Path(__file__).parent / "sql"


def _sql(name: str) -> str:
    return (_SQL / f"{name}.sql").read_text(encoding="utf-8")


def lock_target(conn: psycopg.Connection, target: str) -> None:
    """Serialise refreshes of one target (transaction-scoped, so PgBouncer-safe)."""
    conn.execute(_sql("lock_refresh_target"), {"target": target})


def pending_loads(conn: psycopg.Connection, target: str, tables: Sequence[str],
                  intervals: Sequence[str] | None = None) -> list[dict]:
    """Ingest-log rows of ``tables`` (and ``intervals``, if given) that ``target`` has not processed."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_sql("select_pending_loads"), {
            "target": target, "tables": list(tables),
            "intervals": list(intervals) if intervals is not None else None,
        }).fetchall()


def watermark(conn: psycopg.Connection, target: str) -> int:
    """The highest ingest id ``target`` has processed (0 before its first refresh); for reports."""
    row = conn.execute(_sql("select_watermark"), {"target": target}).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def record_refresh(conn: psycopg.Connection, *, target: str, window: tuple[datetime, datetime], method: str,
                   rows: int, covers: Sequence[int] = (), run_id: str | None) -> int:
    """Append a refresh and mark the loads it ``covers`` as processed; returns its refresh_id."""
    row = conn.execute(
        _sql("insert_refresh_log"),
        {"target": target, "start": window[0], "end": window[1], "method": method, "rows": rows,
         "last_ingest_id": max(covers, default=None), "run_id": run_id},
    ).fetchone()
    refresh_id = int(row[0])  # type: ignore[index]
    if covers:
        conn.execute(_sql("insert_refresh_covered"),
                     {"target": target, "refresh_id": refresh_id, "ids": sorted(set(covers))})
    return refresh_id
