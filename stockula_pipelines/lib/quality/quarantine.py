"""The open quarantine, summarised for the report (fixing and re-submitting rows is ingestion's:
``lib/ingest/resubmit.py``)."""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from stockula_pipelines.lib.db.sqlfiles import SqlFiles

_SQL = SqlFiles(__file__)
_TOTALS = """SELECT count(*) AS open_rows, count(DISTINCT symbol) AS symbols, count(DISTINCT rule) AS rules
FROM quality.quarantine WHERE resolved_at IS NULL"""


def open_summary(conn: psycopg.Connection, limit: int = 200) -> tuple[list[dict], dict[str, int]]:
    """Open quarantine grouped by table/rule/symbol/trading day (largest first) and overall totals."""
    with conn.cursor(row_factory=dict_row) as cur:
        groups = cur.execute(_SQL("select_quarantine_summary"), {"limit": limit}).fetchall()
        totals = cur.execute(sql.SQL(_TOTALS)).fetchone() or {}
    return groups, {k: int(v or 0) for k, v in totals.items()}
