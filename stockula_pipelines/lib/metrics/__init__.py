"""Derived metrics written back into the raw tables: adjusted prices, returns, volatility, Greeks.

Pure code over a psycopg connection (no Dagster). Each ``refresh_*`` function takes the loads it has
not processed yet (``lib/db/refresh_log``), computes, writes the columns and marks the loads done,
all in the caller's transaction.
"""

from pathlib import Path

from stockula_pipelines.lib.db.refresh_log import lock_target, pending_loads, record_refresh, watermark

__all__ = ["SQL_DIR", "load_sql", "lock_target", "pending_loads", "record_refresh", "watermark"]

SQL_DIR = Path(__file__).parent / "sql"


def load_sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
