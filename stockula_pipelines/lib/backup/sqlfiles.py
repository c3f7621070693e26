"""SQL files beside the backup code, read once."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent / "sql"


@cache
def load_sql(name: str) -> str:
    return (SQL_DIR / name).read_text().strip()
