"""The model's .yml: name, description (with the grain), materialisation, columns and their tests.

A test entry is either a bare name (``- not_null``) or a one-key mapping of name to arguments
(``- accepted_values: {values: [call, put]}``). Arguments common to every test: ``severity``
(``error`` | ``warn``), ``blocking`` (bool) and ``name`` (the check name, default derived).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stockula_pipelines.lib.models.errors import ModelConfigError

IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
MATERIALIZATIONS = ("view", "table")
SEVERITIES = ("error", "warn")
COLUMN_TESTS = ("not_null", "unique", "accepted_values", "relationships", "expression")
MODEL_TESTS = ("unique", "expression")
_COMMON_ARGS = {"severity", "blocking", "name"}
_TEST_ARGS = {
    "not_null": set(),
    "unique": {"columns"},
    "accepted_values": {"values"},
    "relationships": {"to", "field"},
    "expression": {"sql"},
}


@dataclass(frozen=True)
class TestSpec:
    kind: str
    name: str
    columns: tuple[str, ...]  # the column(s) under test; empty for a model-level expression
    severity: str = "error"
    blocking: bool = False
    values: tuple[str, ...] = ()  # accepted_values
    to: str | None = None  # relationships: schema-qualified relation
    field: str | None = None  # relationships: column of ``to``
    sql: str | None = None  # expression: boolean that must hold (NULL passes, as in a CHECK)

    __test__ = False  # not a pytest class


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    data_type: str
    description: str
    tests: tuple[TestSpec, ...] = ()


@dataclass(frozen=True)
class FillSpec:
    """Copy the model's rows into an existing table, keyed: upsert, then delete keys the model lost."""

    table: str  # schema-qualified
    key: tuple[str, ...]  # target columns of the table's unique key
    columns: dict[str, str]  # target column -> model column
    touch: str | None = None  # target column set to now() on every write


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    materialized: str
    columns: tuple[ColumnSpec, ...]
    tests: tuple[TestSpec, ...]
    yml_path: Path
    fills: FillSpec | None = None
    source_assets: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def all_tests(self) -> tuple[TestSpec, ...]:
        return tuple(t for c in self.columns for t in c.tests) + self.tests


def _fail(path: Path, where: str, message: str) -> ModelConfigError:
    return ModelConfigError(f"{path}: {where}: {message}")


def _ident(path: Path, where: str, value: Any) -> str:
    if not isinstance(value, str) or not IDENT.match(value):
        raise _fail(path, where, f"{value!r} is not a lower-case SQL identifier")
    return value


def _qualified(path: Path, where: str, value: Any) -> str:
    parts = value.split(".") if isinstance(value, str) else []
    if len(parts) != 2:
        raise _fail(path, where, f"{value!r} must be schema-qualified (schema.relation)")
    for part in parts:
        _ident(path, where, part)
    return value


def _test(path: Path, where: str, entry: Any, column: str | None, allowed: tuple[str, ...]) -> TestSpec:
    if isinstance(entry, str):
        kind, args = entry, {}
    elif isinstance(entry, dict) and len(entry) == 1:
        kind, args = next(iter(entry.items()))
        args = {} if args is None else args
    else:
        raise _fail(path, where, f"a test is a name or a one-key mapping, got {entry!r}")
    if kind not in allowed:
        raise _fail(path, where, f"unknown test {kind!r} (known here: {', '.join(allowed)})")
    where = f"{where}: {kind}"
    # Short forms: `unique: [a, b]`, `accepted_values: [x, y]`, `expression: "a > 0"`.
    if isinstance(args, list):
        args = {"columns": args} if kind == "unique" else {"values": args} if kind == "accepted_values" else None
    elif isinstance(args, str) and kind == "expression":
        args = {"sql": args}
    if not isinstance(args, dict):
        raise _fail(path, where, f"arguments must be a mapping, got {args!r}")
    unknown = set(args) - _COMMON_ARGS - _TEST_ARGS[kind]
    if unknown:
        raise _fail(path, where, f"unknown argument(s) {sorted(unknown)}")
    severity = args.get("severity", "error")
    if severity not in SEVERITIES:
        raise _fail(path, where, f"severity must be one of {SEVERITIES}, got {severity!r}")

    if kind == "unique" and column is None:
        cols = args.get("columns")
        if not isinstance(cols, list) or not cols:
            raise _fail(path, where, "a model-level unique needs `columns: [...]`")
        columns = tuple(_ident(path, where, c) for c in cols)
    else:
        columns = (column,) if column else ()
    values: tuple[str, ...] = ()
    if kind == "accepted_values":
        raw = args.get("values")
        if not isinstance(raw, list) or not raw:
            raise _fail(path, where, "needs a non-empty `values: [...]`")
        values = tuple(str(v) for v in raw)
    to = fld = None
    if kind == "relationships":
        to = _qualified(path, where, args.get("to"))
        fld = _ident(path, where, args.get("field"))
    expr = None
    if kind == "expression":
        expr = args.get("sql")
        if not isinstance(expr, str) or not expr.strip():
            raise _fail(path, where, "needs the SQL boolean as `sql:` (or as the value)")

    default_name = "_".join((kind, *columns)) if columns else kind
    name = _ident(path, where, args.get("name", default_name))
    # Failing keys make every downstream number wrong, so they stop the run unless told otherwise.
    blocking = args.get("blocking", kind in ("unique", "not_null") and severity == "error")
    if not isinstance(blocking, bool):
        raise _fail(path, where, f"blocking must be true or false, got {blocking!r}")
    return TestSpec(kind=kind, name=name, columns=columns, severity=severity, blocking=blocking,
                    values=values, to=to, field=fld, sql=expr)


def _fills(path: Path, raw: Any) -> FillSpec:
    if not isinstance(raw, dict):
        raise _fail(path, "fills", "must be a mapping with table, key and columns")
    table = _qualified(path, "fills.table", raw.get("table"))
    key = raw.get("key")
    columns = raw.get("columns")
    if not isinstance(key, list) or not key:
        raise _fail(path, "fills.key", "must be a non-empty list of the target's key columns")
    if not isinstance(columns, dict) or not columns:
        raise _fail(path, "fills.columns", "must map target columns to model columns")
    mapping = {_ident(path, "fills.columns", t): _ident(path, "fills.columns", m) for t, m in columns.items()}
    for k in key:
        if k not in mapping:
            raise _fail(path, "fills.key", f"key column {k!r} is not in fills.columns")
    touch = raw.get("touch")
    return FillSpec(table=table, key=tuple(key), columns=mapping,
                    touch=_ident(path, "fills.touch", touch) if touch is not None else None)


def parse_model_yml(path: Path) -> ModelSpec:
    """Parse and validate one model's .yml; raise :class:`ModelConfigError` naming ``path``."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ModelConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ModelConfigError(f"{path}: the top level must be a mapping")
    known = {"name", "description", "materialized", "columns", "tests", "fills", "source_assets"}
    if set(raw) - known:
        raise _fail(path, "top level", f"unknown key(s) {sorted(set(raw) - known)}")
    name = _ident(path, "name", raw.get("name"))
    if name != path.stem:
        raise _fail(path, "name", f"{name!r} must equal the file name {path.stem!r}")
    description = raw.get("description")
    if not isinstance(description, str) or "grain" not in description.lower():
        raise _fail(path, "description", "required, and must state the grain ('Grain: one row per ...')")
    materialized = raw.get("materialized")
    if materialized not in MATERIALIZATIONS:
        raise _fail(path, "materialized", f"must be one of {MATERIALIZATIONS}, got {materialized!r}")

    columns: list[ColumnSpec] = []
    raw_columns = raw.get("columns")
    if not isinstance(raw_columns, list) or not raw_columns:
        raise _fail(path, "columns", "a non-empty list of columns is required")
    for i, col in enumerate(raw_columns):
        if not isinstance(col, dict):
            raise _fail(path, f"columns[{i}]", "each column is a mapping with name, data_type, description")
        cname = _ident(path, f"columns[{i}].name", col.get("name"))
        where = f"column {cname}"
        if set(col) - {"name", "data_type", "description", "tests"}:
            raise _fail(path, where, f"unknown key(s) {sorted(set(col) - {'name', 'data_type', 'description', 'tests'})}")
        data_type, cdesc = col.get("data_type"), col.get("description")
        if not isinstance(data_type, str) or not data_type.strip():
            raise _fail(path, where, "data_type is required")
        if not isinstance(cdesc, str) or not cdesc.strip():
            raise _fail(path, where, "description is required")
        tests = tuple(_test(path, where, t, cname, COLUMN_TESTS) for t in col.get("tests") or [])
        columns.append(ColumnSpec(cname, data_type.strip().lower(), cdesc.strip(), tests))
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise _fail(path, "columns", "a column is listed twice")

    model_tests = tuple(_test(path, "tests", t, None, MODEL_TESTS) for t in raw.get("tests") or [])
    for t in model_tests:
        missing = [c for c in t.columns if c not in names]
        if missing:
            raise _fail(path, f"tests: {t.name}", f"unknown column(s) {missing}")
    spec = ModelSpec(
        name=name, description=" ".join(description.split()), materialized=materialized,
        columns=tuple(columns), tests=model_tests, yml_path=path,
        fills=_fills(path, raw["fills"]) if raw.get("fills") is not None else None,
        source_assets=_source_assets(path, raw.get("source_assets")),
    )
    test_names = [t.name for t in spec.all_tests]
    dupes = sorted({n for n in test_names if test_names.count(n) > 1})
    if dupes:
        raise _fail(path, "tests", f"duplicate test name(s) {dupes}; give one a `name:`")
    if spec.fills:
        missing = [m for m in spec.fills.columns.values() if m not in names]
        if missing:
            raise _fail(path, "fills.columns", f"unknown model column(s) {missing}")
    return spec


def _source_assets(path: Path, raw: Any) -> dict[str, tuple[str, ...]]:
    """Per-model override of the asset that produces a raw table (e.g. intraday bars)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _fail(path, "source_assets", "must map schema.table to an asset key path")
    out = {}
    for table, key in raw.items():
        _qualified(path, "source_assets", table)
        if not isinstance(key, list) or not all(isinstance(p, str) and p for p in key):
            raise _fail(path, f"source_assets.{table}", "the asset key must be a list of strings")
        out[table] = tuple(key)
    return out
