"""Discover the models of a directory, parse them, and order them by what they read."""

from __future__ import annotations

from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from stockula_pipelines.lib.db.sqlfiles import read_sql_file
from stockula_pipelines.lib.models.errors import ModelConfigError, ModelCycleError, ModelSqlError
from stockula_pipelines.lib.models.parse import ParsedSql, check_expression, parse_model_sql
from stockula_pipelines.lib.models.spec import ModelSpec, parse_model_yml

SCHEMA = "curated"


@dataclass(frozen=True)
class Model:
    spec: ModelSpec
    sql_path: Path
    sql: str
    parsed: ParsedSql

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def relation(self) -> str:
        return f"{SCHEMA}.{self.name}"

    @property
    def model_deps(self) -> frozenset[str]:
        """Names of the models this one reads."""
        prefix = f"{SCHEMA}."
        return frozenset(t[len(prefix):] for t in self.parsed.tables if t.startswith(prefix))

    @property
    def source_tables(self) -> frozenset[str]:
        """Relations outside ``curated`` this model reads."""
        return frozenset(t for t in self.parsed.tables if not t.startswith(f"{SCHEMA}."))


@dataclass(frozen=True)
class Project:
    models: dict[str, Model]
    order: tuple[str, ...]  # topological: every model after the models it reads

    def downstream(self, name: str) -> tuple[str, ...]:
        """Models that read ``name`` directly or transitively, in run order."""
        found: set[str] = set()
        frontier = {name}
        while frontier:
            nxt = {m.name for m in self.models.values() if m.model_deps & frontier} - found
            found |= nxt
            frontier = nxt
        return tuple(n for n in self.order if n in found)


def load_model(sql_path: Path) -> Model:
    yml_path = sql_path.with_suffix(".yml")
    if not yml_path.exists():
        raise ModelConfigError(f"{sql_path}: no {yml_path.name} beside it (every model documents its grain and tests)")
    spec = parse_model_yml(yml_path)
    sql_text = read_sql_file(sql_path).strip().rstrip(";").strip()
    parsed = parse_model_sql(sql_text, sql_path)
    for test in spec.all_tests:
        if test.kind == "expression":
            check_expression(test.sql or "", f"{yml_path}: test {test.name}")
    return Model(spec=spec, sql_path=sql_path, sql=sql_text, parsed=parsed)


def plan(models: list[Model]) -> Project:
    """Check references and cycles; return the models in an order that respects what each reads."""
    by_name: dict[str, Model] = {}
    for model in models:
        if model.name in by_name:
            raise ModelConfigError(f"{model.sql_path}: model {model.name!r} also defined in {by_name[model.name].sql_path}")
        by_name[model.name] = model
    graph: dict[str, set[str]] = {}
    for model in models:
        unknown = sorted(model.model_deps - by_name.keys())
        if unknown:
            raise ModelSqlError(f"{model.sql_path}: reads {', '.join(f'{SCHEMA}.{u}' for u in unknown)}, which is no model")
        if model.name in model.model_deps:
            raise ModelCycleError(f"{model.sql_path}: model {model.name} reads itself")
        graph[model.name] = set(model.model_deps)
    try:
        order = tuple(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        cycle = exc.args[1]
        raise ModelCycleError(f"models read each other in a cycle: {' -> '.join(cycle)}") from exc
    return Project(models=by_name, order=order)


def load_project(directory: Path) -> Project:
    """Every ``*.sql`` under ``directory`` (recursively) with its ``.yml``, planned."""
    sql_paths = sorted(directory.rglob("*.sql"))
    if not sql_paths:
        raise ModelConfigError(f"{directory}: no models (*.sql) found")
    orphans = sorted(p for p in directory.rglob("*.yml") if not p.with_suffix(".sql").exists())
    if orphans:
        raise ModelConfigError(f"{orphans[0]}: no .sql beside this .yml")
    return plan([load_model(p) for p in sql_paths])
