"""Derived metrics written back into the raw tables: adjusted prices, returns, volatility, Greeks.

Pure code over a psycopg connection (no Dagster). Each ``refresh_*`` function finds the work the
ingest log says is pending since its watermark in ``ops.refresh_log``, computes, writes the columns
and moves the watermark, all in the caller's transaction.
"""

from pathlib import Path

import psycopg

from stockula_pipelines.lib.db.refresh_log import record_refresh, watermark

__all__ = ["SQL_DIR", "load_sql", "pending_loads", "record_refresh", "watermark"]

SQL_DIR = Path(__file__).parent / "sql"


def load_sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def pending_loads(conn: psycopg.Connection, target: str, tables: list[str]) -> list[dict]:
    """Ingest-log rows of ``tables`` newer than ``target``'s watermark, oldest first."""
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(
        load_sql("select_pending_loads"), {"after": watermark(conn, target), "tables": tables}
    ).fetchall()
