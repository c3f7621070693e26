"""The runner's SQL, kept in ``*.sql`` files beside this module and composed with psycopg.sql."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from psycopg import sql

_DIR = Path(__file__).resolve().parent


@cache
def _text(name: str) -> str:
    return (_DIR / f"{name}.sql").read_text(encoding="utf-8").strip()


def load_sql(name: str) -> sql.SQL:
    """The statement in ``name``.sql; its ``{placeholders}`` take identifiers via ``.format()``."""
    return sql.SQL(_text(name))  # type: ignore[arg-type]  # trusted files shipped with the package


def relation(qualified: str) -> sql.Identifier:
    schema, name = qualified.split(".")
    return sql.Identifier(schema, name)
