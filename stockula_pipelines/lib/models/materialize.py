"""Build one model in ``curated`` through a psycopg connection, atomically, and run its tests.

Views are replaced in place; tables are built beside the old one (``<name>__new``) and swapped in, so
readers keep the old rows until the commit. Every step of a model runs in one transaction (a savepoint
when the caller already holds one), including re-creating views a DROP ... CASCADE took with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from stockula_pipelines.lib.db.sqlfiles import SqlFiles
from stockula_pipelines.lib.models.errors import ModelColumnsError
from stockula_pipelines.lib.models.project import SCHEMA, Model, Project
from stockula_pipelines.lib.models.render import RenderedTest, relation, render_tests
from stockula_pipelines.lib.quality.results import CheckOutcome, Markdown

_SQL = SqlFiles(__file__)

OWNER_ROLE = "stockula_write"
READER_ROLE = "stockula_read"
# Spellings a .yml may use for what format_type() reports.
_TYPE_ALIASES = {
    "int": "integer", "int4": "integer", "int8": "bigint", "int2": "smallint",
    "float8": "double precision", "float": "double precision", "float4": "real",
    "bool": "boolean", "varchar": "character varying",
    "timestamptz": "timestamp with time zone", "timestamp": "timestamp without time zone",
}


_COMMENT_TABLE = "COMMENT ON TABLE {relation} IS {comment}"
_COMMENT_VIEW = "COMMENT ON VIEW {relation} IS {comment}"
_DROP_TABLE = "DROP TABLE IF EXISTS {relation} CASCADE"
_DROP_VIEW = "DROP VIEW IF EXISTS {relation} CASCADE"
_COMMENT_COLUMN = "COMMENT ON COLUMN {column} IS {comment}"

_COUNT_ROWS = "SELECT count(*) FROM {relation}"

_CREATE_TABLE = """
CREATE TABLE {relation} AS
{body}
"""

_CREATE_VIEW = """
CREATE OR REPLACE VIEW {relation} AS
{body}
"""

# Keys the model no longer produces (e.g. a corrected trading day) leave the filled table too.
_DELETE_FILL_STALE = """
DELETE FROM {target} AS t
WHERE NOT EXISTS (SELECT 1 FROM {relation} AS m WHERE {key_match})
"""

_GRANT_SELECT = "GRANT SELECT ON {relation} TO {role}"

# Two runs building the same model would collide on <name>__new; the second waits for the first.
_LOCK_MODEL = "SELECT pg_advisory_xact_lock(hashtext(%s))"

_RENAME_TABLE = "ALTER TABLE {relation} RENAME TO {new_name}"

_SELECT_PREVIEW = "SELECT * FROM {relation} LIMIT %s"

_SET_ROLE = "SET LOCAL ROLE {role}"

_UPSERT_FILL = """
INSERT INTO {target} ({target_columns})
SELECT {model_columns} FROM {relation}
ON CONFLICT ({key}) DO UPDATE SET {updates}
"""


@dataclass(frozen=True)
class Materialized:
    model: str
    kind: str
    recreated: tuple[str, ...]  # dependent views a CASCADE dropped and this run rebuilt
    filled_rows: int | None  # rows upserted into the model's ``fills`` table


@dataclass(frozen=True)
class TestResult:
    rendered: RenderedTest
    failing: int

    __test__ = False

    @property
    def passed(self) -> bool:
        return self.failing == 0

    def outcome(self, asset_key: str) -> CheckOutcome:
        """This run of the test as an outcome of the model's check (the whole relation, no window):
        Dagster shows the failing rows, the test and its query."""
        test = self.rendered.describe()
        query = Markdown(f"```sql\n{self.rendered.query.as_string(None)}\n```")
        return CheckOutcome.of(self.rendered.spec, asset_key, passed=self.passed, failing_count=self.failing,
                               details={"test": test},
                               shown={"failing_rows": self.failing, "test": test, "query": query})


def _relkind(conn: psycopg.Connection, name: str) -> str | None:
    row = conn.execute(_SQL("select_relkind"), (SCHEMA, name)).fetchone()
    return row[0] if row else None


def _drop(conn: psycopg.Connection, name: str) -> None:
    kind = _relkind(conn, name)
    if kind in ("v", "r"):
        conn.execute(sql.SQL(_DROP_VIEW if kind == "v" else _DROP_TABLE).format(relation=sql.Identifier(SCHEMA, name)))


def _create(conn: psycopg.Connection, model: Model) -> None:
    rel = relation(model.relation)
    body = sql.SQL(model.sql)  # type: ignore[arg-type]  # the model file itself is the statement
    if model.spec.materialized == "view":
        try:
            with conn.transaction():
                conn.execute(sql.SQL(_CREATE_VIEW).format(relation=rel, body=body))
            return
        except (psycopg.errors.InvalidTableDefinition, psycopg.errors.WrongObjectType):
            # Columns renamed/removed/retyped, or a table of that name: only a drop can change that.
            _drop(conn, model.name)
            conn.execute(sql.SQL(_CREATE_VIEW).format(relation=rel, body=body))
            return
    staged = f"{model.name}__new"
    _drop(conn, staged)
    conn.execute(sql.SQL(_CREATE_TABLE).format(relation=sql.Identifier(SCHEMA, staged), body=body))
    _drop(conn, model.name)
    conn.execute(sql.SQL(_RENAME_TABLE).format(relation=sql.Identifier(SCHEMA, staged), new_name=sql.Identifier(model.name)))


def _normalise_type(name: str) -> str:
    name = " ".join(name.lower().split())
    return _TYPE_ALIASES.get(name, name)


def verify_columns(conn: psycopg.Connection, model: Model) -> None:
    """The relation's columns must be exactly the documented ones, with the documented types."""
    actual = conn.execute(_SQL("select_relation_columns"), (SCHEMA, model.name)).fetchall()
    documented = [(c.name, _normalise_type(c.data_type)) for c in model.spec.columns]
    actual_norm = [(n, _normalise_type(t)) for n, t in actual]
    if actual_norm == documented:
        return
    doc, act = dict(documented), dict(actual_norm)
    problems = [f"undocumented column {n} ({t})" for n, t in actual_norm if n not in doc]
    problems += [f"documented column {n} is not produced" for n in doc if n not in act]
    problems += [f"column {n} is {act[n]}, documented as {t}" for n, t in documented if n in act and act[n] != t]
    if not problems:
        problems = [f"column order differs: SQL gives {[n for n, _ in actual_norm]}"]
    raise ModelColumnsError(f"{model.spec.yml_path}: model {model.name}: " + "; ".join(problems))


def _document(conn: psycopg.Connection, model: Model, reader_role: str | None) -> None:
    rel = relation(model.relation)
    if reader_role:
        conn.execute(sql.SQL(_GRANT_SELECT).format(relation=rel, role=sql.Identifier(reader_role)))
    # COMMENT is a utility statement and cannot take a bound parameter; sql.Literal quotes the text.
    comment = _COMMENT_VIEW if model.spec.materialized == "view" else _COMMENT_TABLE
    conn.execute(sql.SQL(comment).format(relation=rel, comment=sql.Literal(model.spec.description)))
    for col in model.spec.columns:
        conn.execute(sql.SQL(_COMMENT_COLUMN).format(
            column=sql.Identifier(SCHEMA, model.name, col.name), comment=sql.Literal(col.description)))


def fill(conn: psycopg.Connection, model: Model) -> int | None:
    """Upsert the model's rows into its ``fills`` table and delete the keys the model no longer has."""
    spec = model.spec.fills
    if spec is None:
        return None
    target = relation(spec.table)
    key = sql.SQL(", ").join(sql.Identifier(k) for k in spec.key)
    updates = [
        sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(t)) for t in spec.columns if t not in spec.key
    ]
    if spec.touch:
        updates.append(sql.SQL("{c} = now()").format(c=sql.Identifier(spec.touch)))
    cur = conn.execute(sql.SQL(_UPSERT_FILL).format(
        target=target,
        target_columns=sql.SQL(", ").join(sql.Identifier(t) for t in spec.columns),
        model_columns=sql.SQL(", ").join(sql.Identifier(m) for m in spec.columns.values()),
        relation=relation(model.relation), key=key, updates=sql.SQL(", ").join(updates),
    ))
    written = cur.rowcount
    key_match = sql.SQL(" AND ").join(
        sql.SQL("m.{m} = t.{t}").format(m=sql.Identifier(spec.columns[k]), t=sql.Identifier(k)) for k in spec.key
    )
    conn.execute(sql.SQL(_DELETE_FILL_STALE).format(target=target, relation=relation(model.relation), key_match=key_match))
    return written


def materialize(
    conn: psycopg.Connection,
    project: Project,
    name: str,
    *,
    owner_role: str | None = OWNER_ROLE,
    reader_role: str | None = READER_ROLE,
) -> Materialized:
    """Build ``curated.<name>`` (and re-create dependents a CASCADE dropped) in one transaction.

    ``owner_role``: the group the objects belong to, so any member of it may replace them later.
    """
    model = project.models[name]
    with conn.transaction():
        conn.execute(sql.SQL(_LOCK_MODEL), (model.relation,))
        if owner_role:
            conn.execute(sql.SQL(_SET_ROLE).format(role=sql.Identifier(owner_role)))
        downstream = project.downstream(name)
        existing = {d for d in downstream if _relkind(conn, d) is not None}
        _create(conn, model)
        verify_columns(conn, model)
        _document(conn, model, reader_role)
        recreated = []
        for dependent in downstream:
            # Only what the CASCADE took: models never built before stay for their own run.
            if dependent in existing and _relkind(conn, dependent) is None:
                dep_model = project.models[dependent]
                _create(conn, dep_model)
                _document(conn, dep_model, reader_role)
                recreated.append(dependent)
        filled = fill(conn, model)
        if owner_role:
            conn.execute("RESET ROLE")
    return Materialized(model=name, kind=model.spec.materialized, recreated=tuple(recreated), filled_rows=filled)


def count_rows(conn: psycopg.Connection, model: Model) -> int:
    return conn.execute(sql.SQL(_COUNT_ROWS).format(relation=relation(model.relation))).fetchone()[0]


def preview(conn: psycopg.Connection, model: Model, limit: int = 10) -> tuple[list[str], list[tuple[Any, ...]]]:
    cur = conn.execute(sql.SQL(_SELECT_PREVIEW).format(relation=relation(model.relation)), (limit,))
    return [d.name for d in cur.description or []], cur.fetchall()


def run_test(conn: psycopg.Connection, rendered: RenderedTest) -> TestResult:
    row = conn.execute(rendered.query, rendered.params or None).fetchone()
    return TestResult(rendered=rendered, failing=int(row[0]))


def run_tests(conn: psycopg.Connection, model: Model) -> list[TestResult]:
    return [run_test(conn, r) for r in render_tests(model)]


def run_all(conn: psycopg.Connection, project: Project, **kwargs: Any) -> dict[str, list[TestResult]]:
    """Materialise every model in order and test each one after it is built."""
    results: dict[str, list[TestResult]] = {}
    for name in project.order:
        materialize(conn, project, name, **kwargs)
        results[name] = run_tests(conn, project.models[name])
    return results
