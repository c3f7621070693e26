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

import psycopg
from psycopg.rows import dict_row

from stockula_pipelines.lib.db.sqlfiles import SqlFiles

_SQL = SqlFiles(__file__)


_INSERT_REFRESH_COVERED = """
INSERT INTO ops.refresh_covered (target, ingest_id, refresh_id)
SELECT %(target)s, id, %(refresh_id)s FROM unnest(%(ids)s::bigint[]) AS id
ON CONFLICT (target, ingest_id) DO NOTHING
"""

_INSERT_REFRESH_LOG = """
INSERT INTO ops.refresh_log (target, window_start, window_end, method, rows_written, last_ingest_id, run_id)
VALUES (%(target)s, %(start)s, %(end)s, %(method)s, %(rows)s, %(last_ingest_id)s, %(run_id)s)
RETURNING refresh_id
"""

_LOCK_REFRESH_TARGET = "SELECT pg_advisory_xact_lock(hashtextextended('refresh:' || %(target)s, 0))"

_SELECT_WATERMARK = "SELECT coalesce(max(last_ingest_id), 0) FROM ops.refresh_log WHERE target = %(target)s"


def lock_target(conn: psycopg.Connection, target: str) -> None:
    """Serialise refreshes of one target (transaction-scoped, so PgBouncer-safe)."""
    conn.execute(_LOCK_REFRESH_TARGET, {"target": target})


def pending_loads(conn: psycopg.Connection, target: str, tables: Sequence[str],
                  intervals: Sequence[str] | None = None) -> list[dict]:
    """Ingest-log rows of ``tables`` (and ``intervals``, if given) that ``target`` has not processed."""
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(_SQL.text("select_pending_loads"), {
            "target": target, "tables": list(tables),
            "intervals": list(intervals) if intervals is not None else None,
        }).fetchall()


def watermark(conn: psycopg.Connection, target: str) -> int:
    """The highest ingest id ``target`` has processed (0 before its first refresh); for reports."""
    row = conn.execute(_SELECT_WATERMARK, {"target": target}).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def record_refresh(conn: psycopg.Connection, *, target: str, window: tuple[datetime, datetime], method: str,
                   rows: int, covers: Sequence[int] = (), run_id: str | None) -> int:
    """Append a refresh and mark the loads it ``covers`` as processed; returns its refresh_id."""
    row = conn.execute(
        _INSERT_REFRESH_LOG,
        {"target": target, "start": window[0], "end": window[1], "method": method, "rows": rows,
         "last_ingest_id": max(covers, default=None), "run_id": run_id},
    ).fetchone()
    refresh_id = int(row[0])  # type: ignore[index]
    if covers:
        conn.execute(_INSERT_REFRESH_COVERED,
                     {"target": target, "refresh_id": refresh_id, "ids": sorted(set(covers))})
    return refresh_id
