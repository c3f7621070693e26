"""The compiled engine: a suite evaluated over a window in one SQL statement.

great-expectations' validator spends a fixed 0.2-0.6 s per window building its metric graph, whatever
the window's size: ten to thirty times the time it takes to load a daily window. This engine reads the
same suite (``suites.suite_spec``: GE expectation types and kwargs) and renders it as one statement:

    WITH batch AS MATERIALIZED (<the window's rows>)
    SELECT count(*),                                          -- element count
           count(*) FILTER (WHERE <row breaks expectation 0>), count(<rows expectation 0 considers>),
           ...,
           (SELECT ... GROUP BY ... HAVING count(*) > 1),     -- uniqueness
           (SELECT count(*) FROM (<unexpected rows query>) q) -- unexpected_rows_expectation
    FROM batch

so a clean window costs one round trip and one scan. Every threshold and the window are bound
parameters; column names come from the suite in code and are quoted as identifiers. Only a failed
expectation costs more: one further ``LIMIT`` query for its sample of unexpected values.

Success follows GE's rules exactly (``mostly`` over the rows the expectation considers; an empty
domain is vacuously true). ``tests/integration/test_quality.py`` runs every seeded defect through both
engines and requires the same success, unexpected and element counts from each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

from .engines import SAMPLE_ROWS, ExpectationOutcome, SuiteOutcome, column_label, jsonable
from .suites import Expect, suite_name, suite_spec
from .windows import is_intraday, window_select, window_values

_OPERATORS = {">": ">", ">=": ">=", "<": "<", "<=": "<=", "=": "="}


class UnsupportedExpectation(ValueError):
    """The suite holds an expectation type this engine cannot render; run it with great_expectations."""


@dataclass(frozen=True)
class _Compiled:
    """One expectation as SQL: what breaks it, what it considers, and how to sample the breakers."""

    expect: Expect
    unexpected: sql.Composable  # an aggregate expression over batch
    considered: sql.Composable | None  # rows the mostly-ratio is over; None = not a ratio expectation
    sample: sql.Composable  # SELECT ... FROM batch ... (no LIMIT)
    element_count: sql.Composable | None  # GE's element_count for this expectation, or None
    params: dict[str, Any]


def _col(name: str) -> sql.Identifier:
    return sql.Identifier(name)


def _and(*parts: sql.Composable | None) -> sql.Composable:
    kept = [p for p in parts if p is not None]
    return sql.SQL(" AND ").join(sql.SQL("({})").format(p) for p in kept) if kept else sql.SQL("true")


def _count_where(predicate: sql.Composable) -> sql.Composable:
    return sql.SQL("count(*) FILTER (WHERE {})").format(predicate)


def _row_condition(e: Expect, params: dict[str, Any], prefix: str) -> sql.Composable | None:
    if e.row_condition is None:
        return None
    column, op, value = e.row_condition
    if op not in _OPERATORS:
        raise UnsupportedExpectation(f"{e.type}: row condition operator {op!r} is not one of {sorted(_OPERATORS)}")
    params[f"{prefix}_cond"] = value
    return sql.SQL("{} {} {}").format(_col(column), sql.SQL(_OPERATORS[op]), sql.Placeholder(f"{prefix}_cond"))


def _between(e: Expect, prefix: str) -> _Compiled:
    k, params = e.kwargs, {}
    c = _col(k["column"])
    bounds = []
    for key, strict, op, op_strict in (("min_value", "strict_min", ">=", ">"), ("max_value", "strict_max", "<=", "<")):
        if k.get(key) is not None:
            params[f"{prefix}_{key}"] = k[key]
            bounds.append(sql.SQL("{} {} {}").format(c, sql.SQL(op_strict if k.get(strict) else op),
                                                     sql.Placeholder(f"{prefix}_{key}")))
    if not bounds:
        raise UnsupportedExpectation(f"{e.type} on {k['column']}: neither min_value nor max_value is set")
    breaks = _and(sql.SQL("{} IS NOT NULL").format(c), sql.SQL("NOT ({})").format(_and(*bounds)))
    return _Compiled(e, _count_where(breaks), sql.SQL("count({})").format(c),
                     sql.SQL("SELECT {} AS value FROM batch WHERE {}").format(c, breaks),
                     sql.SQL("count(*)"), params)


def _not_null(e: Expect, prefix: str) -> _Compiled:
    c = _col(e.kwargs["column"])
    breaks = sql.SQL("{} IS NULL").format(c)
    return _Compiled(e, _count_where(breaks), sql.SQL("count(*)"),
                     sql.SQL("SELECT NULL AS value FROM batch WHERE {}").format(breaks), sql.SQL("count(*)"), {})


def _duplicates(e: Expect, columns: list[str], considered: sql.Composable, element: sql.Composable) -> _Compiled:
    cols = sql.SQL(", ").join(map(_col, columns))
    groups = sql.SQL("SELECT {cols}, count(*) AS n FROM batch WHERE {keep} GROUP BY {cols} HAVING count(*) > 1").format(
        cols=cols, keep=considered)
    unexpected = sql.SQL("(SELECT coalesce(sum(n), 0) FROM ({}) AS dup)").format(groups)
    return _Compiled(e, unexpected, _count_where(considered), groups, element, {})


def _compound_unique(e: Expect, prefix: str) -> _Compiled:
    columns = e.kwargs["column_list"]
    mode = e.kwargs.get("ignore_row_if", "all_values_are_missing")
    nulls = [sql.SQL("{} IS NULL").format(_col(c)) for c in columns]
    if mode == "all_values_are_missing":
        keep = sql.SQL("NOT ({})").format(sql.SQL(" AND ").join(nulls))
    elif mode == "any_value_is_missing":
        keep = sql.SQL("NOT ({})").format(sql.SQL(" OR ").join(nulls))
    elif mode == "never":
        keep = sql.SQL("true")
    else:
        raise UnsupportedExpectation(f"{e.type}: ignore_row_if={mode!r}")
    return _duplicates(e, columns, keep, sql.SQL("count(*)"))


def _unique(e: Expect, prefix: str) -> _Compiled:
    column = e.kwargs["column"]
    return _duplicates(e, [column], sql.SQL("{} IS NOT NULL").format(_col(column)), sql.SQL("count(*)"))


def _pair_greater(e: Expect, prefix: str) -> _Compiled:
    k, params = e.kwargs, {}
    a, b = _col(k["column_A"]), _col(k["column_B"])
    domain = _row_condition(e, params, prefix)
    mode = k.get("ignore_row_if", "both_values_are_missing")
    if mode == "both_values_are_missing":
        keep = sql.SQL("NOT ({} IS NULL AND {} IS NULL)").format(a, b)
    elif mode == "either_value_is_missing":
        keep = sql.SQL("{} IS NOT NULL AND {} IS NOT NULL").format(a, b)
    elif mode == "neither":
        keep = sql.SQL("true")
    else:
        raise UnsupportedExpectation(f"{e.type}: ignore_row_if={mode!r}")
    considered = _and(domain, keep)
    holds = sql.SQL("{} {} {}").format(a, sql.SQL(">=" if k.get("or_equal") else ">"), b)
    breaks = _and(considered, sql.SQL("NOT ({})").format(holds))
    return _Compiled(e, _count_where(breaks), _count_where(considered),
                     sql.SQL("SELECT {} AS a, {} AS b FROM batch WHERE {}").format(a, b, breaks),
                     _count_where(domain) if domain is not None else sql.SQL("count(*)"), params)


def _unexpected_rows(e: Expect, prefix: str) -> _Compiled:
    query = e.kwargs["unexpected_rows_query"]
    if "%" in query:  # it is pasted into a statement with bound parameters
        raise UnsupportedExpectation(f"{e.type}: a literal % in the query would be read as a placeholder")
    rows = sql.SQL(query.replace("{batch}", "batch"))  # type: ignore[arg-type]
    return _Compiled(e, sql.SQL("(SELECT count(*) FROM ({}) AS q)").format(rows), None,
                     sql.SQL("SELECT * FROM ({}) AS q").format(rows), None, {})


_RENDERERS = {
    "expect_column_values_to_be_between": _between,
    "expect_column_values_to_not_be_null": _not_null,
    "expect_compound_columns_to_be_unique": _compound_unique,
    "expect_column_values_to_be_unique": _unique,
    "expect_column_pair_values_a_to_be_greater_than_b": _pair_greater,
    "unexpected_rows_expectation": _unexpected_rows,
}


def _render(e: Expect, prefix: str) -> _Compiled:
    renderer = _RENDERERS.get(e.type)
    if renderer is None:
        raise UnsupportedExpectation(f"the compiled engine cannot evaluate {e.type}; "
                                     f"set STOCKULA_QUALITY_ENGINE=great_expectations or add a renderer")
    if e.row_condition is not None and e.type != "expect_column_pair_values_a_to_be_greater_than_b":
        raise UnsupportedExpectation(f"{e.type}: row conditions are only rendered for column pairs")
    return renderer(e, prefix)


def compile_suite(table: str, intraday: bool) -> tuple[sql.Composable, tuple[_Compiled, ...], dict[str, Any]]:
    """The aggregate SELECT over ``batch`` for ``table``'s suite, its parts, and their bound values."""
    parts = tuple(_render(e, f"e{i}") for i, e in enumerate(suite_spec(table, intraday=intraday)))
    columns: list[sql.Composable] = [sql.SQL("count(*) AS element_count")]
    params: dict[str, Any] = {}
    for i, p in enumerate(parts):
        columns.append(sql.SQL("{} AS {}").format(p.unexpected, sql.Identifier(f"u{i}")))
        if p.considered is not None:
            columns.append(sql.SQL("{} AS {}").format(p.considered, sql.Identifier(f"c{i}")))
        if p.element_count is not None:
            columns.append(sql.SQL("{} AS {}").format(p.element_count, sql.Identifier(f"n{i}")))
        params.update(p.params)
    select = sql.SQL("SELECT {} FROM batch").format(sql.SQL(",\n       ").join(columns))
    return select, parts, params


def _success(considered: int | None, unexpected: int, mostly: float) -> bool:
    """GE's rule: vacuously true on an empty domain, else the share of good rows reaches ``mostly``."""
    if considered is None:  # unexpected_rows_expectation: any row is a failure
        return unexpected == 0
    if considered == 0:
        return True
    return (considered - unexpected) / considered >= mostly


@cache
def _statements(table: str, interval: str | None) -> tuple[str, tuple[str, ...], tuple[_Compiled, ...], dict[str, Any]]:
    """The suite statement and each expectation's sample statement as text, rendered once per process."""
    select, parts, params = compile_suite(table, is_intraday(table, interval))
    with_batch = sql.SQL("WITH batch AS MATERIALIZED ({}) ").format(window_select(table))
    samples = tuple((with_batch + p.sample + sql.SQL(f" LIMIT {SAMPLE_ROWS}")).as_string(None) for p in parts)
    return (with_batch + select).as_string(None), samples, parts, params


def _sample_value(row: dict[str, Any]) -> Any:
    if set(row) == {"value"}:
        return row["value"]
    if set(row) == {"a", "b"}:
        return [row["a"], row["b"]]
    return {k: v for k, v in row.items() if k != "n"}


def validate(conn: psycopg.Connection, table: str, window: tuple[datetime, datetime] | None,
             *, interval: str | None = None) -> SuiteOutcome:
    """Evaluate ``table``'s suite over ``window`` on ``conn`` (inside the caller's transaction, if any)."""
    started = time.perf_counter()
    window_params = window_values(table, window, interval)  # checks the window and the interval
    statement, samples, parts, params = _statements(table, interval)
    with conn.cursor(row_factory=dict_row) as cur:
        counts = cur.execute(statement, {**params, **window_params}).fetchone()  # type: ignore[arg-type]
        assert counts is not None  # an aggregate without GROUP BY always returns a row
        outcomes = []
        for i, p in enumerate(parts):
            unexpected = int(counts[f"u{i}"])
            considered = counts.get(f"c{i}")
            sample: list[Any] = []
            if unexpected:
                found = cur.execute(samples[i], {**p.params, **window_params}).fetchall()  # type: ignore[arg-type]
                sample = [jsonable(_sample_value(r)) for r in found]
            element = counts.get(f"n{i}")
            outcomes.append(ExpectationOutcome(
                check=p.expect.check, expectation=p.expect.type, column=column_label(p.expect.kwargs),
                success=_success(considered, unexpected, float(p.expect.kwargs.get("mostly", 1.0))),
                unexpected_count=unexpected, element_count=int(element) if element is not None else None,
                sample=sample,
            ))
    intraday = is_intraday(table, interval)
    return SuiteOutcome(table=table, suite=suite_name(table, intraday=intraday), window=window,
                        row_count=int(counts["element_count"]), expectations=tuple(outcomes),
                        seconds=time.perf_counter() - started, engine="compiled")
