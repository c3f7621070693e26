"""great-expectations suites for the loaded tables, kept in code, and the two engines that validate a window.

* ``compiled`` (the default): the suite rendered as one SQL statement on the caller's connection --
  about a millisecond for a daily window, so checking stays a small fraction of loading.
* ``great_expectations``: GE's own validator over a PostgreSQL datasource on the writer DSN, the
  window as a query asset. It is the reference: the tests require both engines to agree on every
  seeded defect. Choose it with ``STOCKULA_QUALITY_ENGINE=great_expectations``.

Importing this package is cheap; great_expectations itself is imported only by the GE engine.
"""

from __future__ import annotations

from datetime import datetime

import psycopg

from .outcome import ExpectationOutcome, SuiteOutcome
from .runner import SuiteRunner, get_runner
from .suites import MISSING_DAYS, TABLE_CHECKS, CheckDef, Expect, build_suite, suite_spec
from .windows import window_query, window_select, window_values

ENGINES: tuple[str, ...] = ("compiled", "great_expectations")


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
        return get_runner().validate(dsn, table, window, interval=interval)
    raise ValueError(f"unknown quality engine {engine!r}: use one of {', '.join(ENGINES)} (STOCKULA_QUALITY_ENGINE)")


__all__ = [
    "ENGINES",
    "MISSING_DAYS",
    "TABLE_CHECKS",
    "CheckDef",
    "Expect",
    "ExpectationOutcome",
    "SuiteOutcome",
    "SuiteRunner",
    "build_suite",
    "get_runner",
    "suite_spec",
    "validate_window",
    "window_query",
    "window_select",
    "window_values",
]
