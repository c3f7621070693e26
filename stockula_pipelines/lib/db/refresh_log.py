"""Watermarks of the assets that catch up from ``ops.ingest_log`` (derived metrics, aggregates).

Each refresh appends a row to ``ops.refresh_log`` naming the highest ingest id it covered; the next
run starts after it.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import psycopg

_SQL = Path(__file__).parent / "sql"


def _sql(name: str) -> str:
    return (_SQL / f"{name}.sql").read_text(encoding="utf-8")


def watermark(conn: psycopg.Connection, target: str) -> int:
    """The highest ingest id ``target`` has covered (0 before its first refresh)."""
    row = conn.execute(_sql("select_watermark"), {"target": target}).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def record_refresh(conn: psycopg.Connection, *, target: str, window: tuple[datetime, datetime], method: str,
                   rows: int, last_ingest_id: int | None, run_id: str | None) -> None:
    conn.execute(
        _sql("insert_refresh_log"),
        {"target": target, "start": window[0], "end": window[1], "method": method, "rows": rows,
         "last_ingest_id": last_ingest_id, "run_id": run_id},
    )
