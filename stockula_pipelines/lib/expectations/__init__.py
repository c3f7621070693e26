"""great-expectations suites for the loaded tables, kept in code, and the runner that validates a window.

Importing this package is cheap; great_expectations itself is imported on first validation.
"""

from .runner import ExpectationOutcome, SuiteOutcome, SuiteRunner, get_runner, window_query
from .suites import MISSING_DAYS, TABLE_CHECKS, CheckDef, build_suite

__all__ = [
    "MISSING_DAYS",
    "TABLE_CHECKS",
    "CheckDef",
    "ExpectationOutcome",
    "SuiteOutcome",
    "SuiteRunner",
    "build_suite",
    "get_runner",
    "window_query",
]
