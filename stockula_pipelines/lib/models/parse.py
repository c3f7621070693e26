"""What a model's SQL reads, found by parsing it with sqlglot (PostgreSQL dialect).

Dependencies come from the parsed statement's scopes, so CTE names, subquery aliases and table
functions (``generate_series``) are never mistaken for tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.optimizer.scope import traverse_scope

from stockula_pipelines.lib.models.errors import ModelSqlError

DIALECT = "postgres"


@dataclass(frozen=True)
class ParsedSql:
    tables: frozenset[str]  # schema-qualified relations read, lower case
    columns_read: dict[str, frozenset[str]]  # relation -> columns referenced ("*" = all)


def _statement(sql_text: str, where: str) -> exp.Expression:
    try:
        statements = [s for s in sqlglot.parse(sql_text, dialect=DIALECT) if s is not None]
    except ParseError as exc:
        raise ModelSqlError(f"{where}: SQL does not parse: {exc}") from exc
    if len(statements) != 1:
        raise ModelSqlError(f"{where}: must hold exactly one statement, found {len(statements)}")
    stmt = statements[0]
    if not isinstance(stmt, exp.Query):
        raise ModelSqlError(f"{where}: must be a SELECT (WITH ... SELECT, UNION ...), got {stmt.key.upper()}")
    return stmt


def parse_model_sql(sql_text: str, where: str | Path = "<sql>") -> ParsedSql:
    """The relations ``sql_text`` reads and the columns it references from each of them."""
    where = str(where)
    stmt = _statement(sql_text, where)
    tables: set[str] = set()
    columns: dict[str, set[str]] = {}
    try:
        scopes = traverse_scope(stmt)
    except SqlglotError as exc:
        raise ModelSqlError(f"{where}: cannot resolve the query's scopes: {exc}") from exc
    for scope in scopes:
        aliases: dict[str, str] = {}
        for alias, source in scope.sources.items():
            # CTEs and subqueries are Scopes; table functions are Tables without an identifier.
            if not isinstance(source, exp.Table) or not isinstance(source.this, exp.Identifier):
                continue
            if source.args.get("catalog"):
                raise ModelSqlError(f"{where}: {source.sql(dialect=DIALECT)}: three-part names are not allowed")
            if not source.db:
                raise ModelSqlError(
                    f"{where}: table {source.name!r} is not schema-qualified and is no CTE of the query; "
                    "write curated.<model> or market.<table>"
                )
            name = f"{source.db}.{source.name}".lower()
            tables.add(name)
            aliases[alias.lower()] = name
        if not aliases:
            continue
        select_star = isinstance(scope.expression, exp.Select) and any(
            isinstance(e, exp.Star) for e in scope.expression.expressions
        )
        for name in aliases.values():
            columns.setdefault(name, set())
            if select_star:
                columns[name].add("*")
        for col in scope.columns:
            qualifier = col.table.lower()
            # An unqualified column may come from any source of its scope: count it for each.
            targets = [aliases[qualifier]] if qualifier in aliases else [] if qualifier else aliases.values()
            for name in targets:
                columns[name].add("*" if isinstance(col.this, exp.Star) else col.name.lower())
    return ParsedSql(frozenset(tables), {k: frozenset(v) for k, v in columns.items()})


def check_expression(sql_text: str, where: str) -> None:
    """Raise a clear error when an expression test's SQL is not one boolean expression."""
    try:
        parsed = sqlglot.parse_one(f"SELECT 1 WHERE {sql_text}", dialect=DIALECT)
    except ParseError as exc:
        raise ModelSqlError(f"{where}: expression does not parse: {sql_text!r}: {exc}") from exc
    where_clause = parsed.args.get("where")
    # A stray ';' or a second statement would make the test run something else.
    if where_clause is None or ";" in sql_text:
        raise ModelSqlError(f"{where}: expression must be one SQL boolean, got {sql_text!r}")
