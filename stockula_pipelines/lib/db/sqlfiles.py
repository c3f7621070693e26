"""The one loader of the package's SQL files.

Convention: a statement longer than a few lines lives in ``sql/<verb_object>.sql`` in the folder of
the only module that runs it; shorter ones are constants in that module. A module makes its loader
once, from its own ``__file__``::

    _SQL = SqlFiles(__file__)
    conn.execute(_SQL("select_previous_bars"), params)

``{placeholders}`` in a file take identifiers through ``.format()``; values are always bound
parameters (``%(name)s``), never formatted in. The migrations (``sql/`` at the top of the project)
and the curated models (``dbt_like_models/``) are SQL files too, found by their own runners but read
here, by :func:`read_sql_file`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from psycopg import sql


def read_sql_file(path: Path) -> str:
    """The text of one SQL file, exactly as stored (migrations checksum it)."""
    return path.read_text(encoding="utf-8")


@cache
def _read(path: Path) -> str:
    return read_sql_file(path).strip()


class SqlFiles:
    """The ``sql/`` folder beside one module."""

    def __init__(self, module_file: str) -> None:
        self.folder = Path(module_file).resolve().parent / "sql"

    def text(self, name: str) -> str:
        """The file's text; ``name`` is its stem (``select_previous_bars``), never with ``.sql``."""
        if name.endswith(".sql"):
            raise ValueError(f"SQL file names are passed without '.sql': {name!r}")
        path = self.folder / f"{name}.sql"
        if not path.is_file():
            raise FileNotFoundError(f"no SQL file {name}.sql in {self.folder}")
        return _read(path)

    def __call__(self, name: str) -> sql.SQL:
        """The file as a composable statement."""
        return sql.SQL(self.text(name))  # type: ignore[arg-type]  # trusted files shipped with the package
