"""Derived metrics written back into the raw tables: adjusted prices, returns, volatility, Greeks.

Pure code over a psycopg connection (no Dagster). Each ``refresh_*`` function finds the work the
ingest log says is pending since its watermark in ``ops.refresh_log``, computes, writes the columns
and moves the watermark, all in the caller's transaction.
"""

from pathlib import Path

import psycopg

SQL_DIR = Path(__file__).parent / "sql"


def load_sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def watermark(conn: psycopg.Connection, target: str) -> int:
    row = conn.execute(load_sql("select_watermark"), {"target": target}).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def pending_loads(conn: psycopg.Connection, target: str, tables: list[str]) -> list[dict]:
    """Ingest-log rows of ``tables`` newer than ``target``'s watermark, oldest first."""
    cur = conn.cursor(row_factory=psycopg.rows.dict_row)
    return cur.execute(
        load_sql("select_pending_loads"), {"after": watermark(conn, target), "tables": tables}
    ).fetchall()


def record_refresh(conn: psycopg.Connection, *, target: str, window: tuple, method: str, rows: int,
                   last_ingest_id: int, run_id: str | None) -> None:
    conn.execute(
        load_sql("insert_refresh_log"),
        {"target": target, "start": window[0], "end": window[1], "method": method, "rows": rows,
         "last_ingest_id": last_ingest_id, "run_id": run_id},
    )
