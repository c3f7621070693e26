"""Turn each yml test into one query returning the number of failing rows (0 = pass)."""

from __future__ import annotations

from dataclasses import dataclass

from psycopg import sql

from stockula_pipelines.lib.db.sqlfiles import SqlFiles
from stockula_pipelines.lib.models.project import Model
from stockula_pipelines.lib.models.spec import TestSpec
from stockula_pipelines.lib.quality.results import CheckSpec

_SQL = SqlFiles(__file__)


_TEST_ACCEPTED_VALUES = "SELECT count(*) FROM {relation} WHERE {column} IS NOT NULL AND NOT ({column}::text = ANY(%s::text[]))"

# As in a CHECK constraint, a row whose expression is NULL passes.
_TEST_EXPRESSION = "SELECT count(*) FROM {relation} WHERE NOT ({expression})"

_TEST_NOT_NULL = "SELECT count(*) FROM {relation} WHERE {column} IS NULL"

# Rows that share their key with another row (NULLs count as equal, so a NULL key also fails).
_TEST_UNIQUE = """
SELECT coalesce(sum(n), 0)::bigint
FROM (SELECT count(*) AS n FROM {relation} GROUP BY {columns} HAVING count(*) > 1) AS duplicates
"""


def relation(qualified: str) -> sql.Identifier:
    """``schema.name`` as a quoted identifier."""
    schema, name = qualified.split(".")
    return sql.Identifier(schema, name)


@dataclass(frozen=True)
class RenderedTest:
    model: str
    test: TestSpec
    query: sql.Composed
    params: tuple

    __test__ = False  # not a pytest class

    @property
    def name(self) -> str:
        return self.test.name

    def describe(self) -> str:
        t = self.test
        target = ", ".join(t.columns) or "row"
        detail = {
            "not_null": "",
            "unique": "",
            "accepted_values": f" in ({', '.join(t.values)})",
            "relationships": f" -> {t.to}.{t.field}",
            "expression": f": {t.sql}",
        }[t.kind]
        return f"{t.kind} {target}{detail} [{t.severity}{', blocking' if t.blocking else ''}]"

    @property
    def spec(self) -> CheckSpec:
        """The test as the check it is in Dagster and in ``quality.data_quality_results``."""
        t = self.test
        return CheckSpec(t.name, self.describe(), severity=t.severity.upper(), blocking=t.blocking,
                         metadata={"test": t.kind})


def render_test(model: Model, test: TestSpec) -> RenderedTest:
    rel = relation(model.relation)
    column = sql.Identifier(test.columns[0]) if test.columns else None
    params: tuple = ()
    if test.kind == "not_null":
        query = sql.SQL(_TEST_NOT_NULL).format(relation=rel, column=column)
    elif test.kind == "unique":
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in test.columns)
        query = sql.SQL(_TEST_UNIQUE).format(relation=rel, columns=cols)
    elif test.kind == "accepted_values":
        query = sql.SQL(_TEST_ACCEPTED_VALUES).format(relation=rel, column=column)
        params = (list(test.values),)
    elif test.kind == "relationships":
        query = _SQL("test_relationships").format(
            relation=rel, column=column, parent=relation(test.to or ""), field=sql.Identifier(test.field or "")
        )
    elif test.kind == "expression":
        # The expression comes from a reviewed .yml of the project and was parsed at load time.
        query = sql.SQL(_TEST_EXPRESSION).format(relation=rel, expression=sql.SQL(test.sql or ""))  # type: ignore[arg-type]
    else:  # pragma: no cover - spec.py refuses unknown kinds
        raise ValueError(f"{model.spec.yml_path}: unknown test kind {test.kind!r}")
    return RenderedTest(model=model.name, test=test, query=query, params=params)


def render_tests(model: Model) -> list[RenderedTest]:
    return [render_test(model, t) for t in model.spec.all_tests]
