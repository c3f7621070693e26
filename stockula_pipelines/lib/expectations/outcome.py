"""What validating a window returns, whichever engine ran it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
