"""The two engines that validate a window with its table's suite, and what either returns.

* ``compiled`` (the default, ``compiled.py``): the suite rendered as one SQL statement on the caller's
  connection -- about a millisecond for a daily window, so checking stays a small fraction of loading.
* ``great_expectations`` (``ge_engine.py``): GE's own validator over a PostgreSQL datasource on the
  writer DSN, the window as a query asset. It is the reference: the tests require both engines to
  agree on every seeded defect. Choose it with ``STOCKULA_QUALITY_ENGINE=great_expectations``.

Importing this module is cheap; great_expectations itself is imported only by the GE engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg

ENGINES: tuple[str, ...] = ("compiled", "great_expectations")

SAMPLE_ROWS = 5  # unexpected values/rows kept per failed expectation


@dataclass(frozen=True)
class ExpectationOutcome:
    check: str
    expectation: str  # GE expectation type, e.g. expect_column_values_to_be_between
    column: str | None
    success: bool
    unexpected_count: int
    element_count: int | None
    sample: list[Any] = field(default_factory=list)
    error: str | None = None


@dataclass(frozen=True)
class SuiteOutcome:
    table: str
    suite: str
    window: tuple[datetime, datetime] | None
    row_count: int | None
    expectations: tuple[ExpectationOutcome, ...]
    seconds: float
    engine: str = "great_expectations"  # or "compiled"

    def by_check(self) -> dict[str, list[ExpectationOutcome]]:
        out: dict[str, list[ExpectationOutcome]] = {}
        for e in self.expectations:
            out.setdefault(e.check, []).append(e)
        return out


def column_label(kwargs: Mapping[str, Any]) -> str | None:
    if "column" in kwargs:
        return kwargs["column"]
    if "column_A" in kwargs:
        return f"{kwargs['column_A']},{kwargs['column_B']}"
    if "column_list" in kwargs:
        return ",".join(kwargs["column_list"])
    return None


def jsonable(value: Any) -> Any:
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def validate_window(conn: psycopg.Connection, dsn: str, table: str, window: tuple[datetime, datetime] | None,
                    *, interval: str | None = None, engine: str = "compiled") -> SuiteOutcome:
    """Validate ``table``'s rows in ``window`` with its suite on ``engine``.

    The compiled engine runs on ``conn`` (and sees its uncommitted rows); GE opens its own
    connections on ``dsn`` and sees only what is committed.
    """
    if engine == "compiled":
        from .compiled import validate

        return validate(conn, table, window, interval=interval)
    if engine == "great_expectations":
        from .ge_engine import get_runner

        return get_runner().validate(dsn, table, window, interval=interval)
    raise ValueError(f"unknown quality engine {engine!r}: use one of {', '.join(ENGINES)} (STOCKULA_QUALITY_ENGINE)")
