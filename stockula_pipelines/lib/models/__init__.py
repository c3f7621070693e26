"""A small dbt-like runner: plain-SQL models with .yml docs and tests, materialised in ``curated``.

Pure library (no Dagster): :func:`load_project` parses the models and orders them by the tables their
SQL reads; :func:`materialize` builds one model; :func:`run_tests` runs its .yml tests.
"""

from stockula_pipelines.lib.models.errors import (
    ModelColumnsError,
    ModelConfigError,
    ModelCycleError,
    ModelError,
    ModelSqlError,
)
from stockula_pipelines.lib.models.materialize import (
    Materialized,
    TestResult,
    count_rows,
    fill,
    materialize,
    preview,
    run_all,
    run_test,
    run_tests,
    verify_columns,
)
from stockula_pipelines.lib.models.parse import ParsedSql, parse_model_sql
from stockula_pipelines.lib.models.project import SCHEMA, Model, Project, load_model, load_project, plan
from stockula_pipelines.lib.models.render import RenderedTest, render_test, render_tests
from stockula_pipelines.lib.models.spec import ColumnSpec, FillSpec, ModelSpec, TestSpec, parse_model_yml

__all__ = [
    "SCHEMA", "ColumnSpec", "FillSpec", "Materialized", "Model", "ModelColumnsError", "ModelConfigError",
    "ModelCycleError", "ModelError", "ModelSpec", "ModelSqlError", "ParsedSql", "Project", "RenderedTest",
    "TestResult", "TestSpec", "count_rows", "fill", "load_model", "load_project", "materialize",
    "parse_model_sql", "parse_model_yml", "plan", "preview", "render_test", "render_tests", "run_all",
    "run_test", "run_tests", "verify_columns",
]
