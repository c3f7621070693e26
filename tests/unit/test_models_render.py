"""Each yml test renders to one query counting failing rows, identifiers quoted, values bound."""

from __future__ import annotations

from pathlib import Path

from stockula_pipelines.lib.models import load_project, render_tests

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _rendered(model: str) -> dict:
    project = load_project(PROJECT_DIR / "dbt_like_models")
    return {r.name: r for r in render_tests(project.models[model])}


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_not_null_and_multi_column_unique():
    tests = _rendered("options_surface")
    assert _flat(tests["not_null_symbol"].query.as_string(None)) == (
        'SELECT count(*) FROM "curated"."options_surface" WHERE "symbol" IS NULL')
    unique = _flat(tests["unique_symbol_type_expiry_strike"].query.as_string(None))
    assert 'GROUP BY "symbol", "option_type", "expiration_date", "strike" HAVING count(*) > 1' in unique
    assert unique.startswith("-- Rows that share") or "SELECT coalesce(sum(n), 0)::bigint" in unique
    assert tests["unique_symbol_type_expiry_strike"].test.blocking


def test_accepted_values_binds_the_values():
    test = _rendered("options_surface")["accepted_values_option_type"]
    assert '"option_type"::text = ANY(%s::text[])' in test.query.as_string(None)
    assert test.params == (["call", "put"],)
    assert "call, put" in test.describe()


def test_relationships_and_expressions():
    tests = _rendered("adjusted_daily_bars")
    rel = _flat(tests["relationships_symbol"].query.as_string(None))
    assert 'FROM "curated"."adjusted_daily_bars" AS child' in rel
    assert 'NOT EXISTS (SELECT 1 FROM "curated"."stg_stocks" AS parent WHERE parent."symbol" = child."symbol")' in rel
    expr = _flat(tests["low_not_above_high"].query.as_string(None))
    assert expr.endswith('FROM "curated"."adjusted_daily_bars" WHERE NOT (low_price <= high_price)')
    assert tests["volatility_non_negative"].test.severity == "warn"
    assert tests["low_not_above_high"].params == ()
