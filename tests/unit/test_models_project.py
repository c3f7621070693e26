"""Planning: discovery, run order from the parsed SQL, cycles and unknown references."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockula_pipelines.lib.models import (
    ModelConfigError,
    ModelCycleError,
    ModelSqlError,
    load_project,
)

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _model(directory: Path, name: str, sql_text: str) -> None:
    (directory / f"{name}.sql").write_text(sql_text)
    (directory / f"{name}.yml").write_text(
        f"name: {name}\ndescription: 'X. Grain: one row per x.'\nmaterialized: view\n"
        "columns:\n  - name: x\n    data_type: integer\n    description: X.\n"
    )


def test_order_follows_what_each_model_reads(tmp_path):
    _model(tmp_path, "c_mart", "WITH a AS (SELECT * FROM curated.b_stg) SELECT * FROM a JOIN curated.a_stg USING (x)")
    _model(tmp_path, "b_stg", "SELECT * FROM curated.a_stg")
    _model(tmp_path, "a_stg", "SELECT 1 AS x FROM market.stocks")
    project = load_project(tmp_path)
    assert project.order.index("a_stg") < project.order.index("b_stg") < project.order.index("c_mart")
    assert project.models["c_mart"].model_deps == {"a_stg", "b_stg"}
    assert project.models["a_stg"].source_tables == {"market.stocks"}
    assert project.downstream("a_stg") == ("b_stg", "c_mart")
    assert project.downstream("c_mart") == ()


def test_cycle_is_reported_with_its_path(tmp_path):
    _model(tmp_path, "a", "SELECT * FROM curated.c")
    _model(tmp_path, "b", "SELECT * FROM curated.a")
    _model(tmp_path, "c", "SELECT * FROM curated.b")
    with pytest.raises(ModelCycleError, match="cycle") as info:
        load_project(tmp_path)
    assert all(name in str(info.value) for name in ("a", "b", "c"))


def test_self_reference_is_a_cycle(tmp_path):
    _model(tmp_path, "a", "SELECT * FROM curated.a")
    with pytest.raises(ModelCycleError, match="reads itself"):
        load_project(tmp_path)


def test_reading_an_unknown_model_names_the_file(tmp_path):
    _model(tmp_path, "a", "SELECT * FROM curated.nope")
    with pytest.raises(ModelSqlError, match=r"a\.sql: reads curated\.nope, which is no model"):
        load_project(tmp_path)


def test_missing_yml_and_orphan_yml_are_refused(tmp_path):
    (tmp_path / "lonely.sql").write_text("SELECT 1 AS x")
    with pytest.raises(ModelConfigError, match="no lonely.yml beside it"):
        load_project(tmp_path)
    (tmp_path / "lonely.sql").unlink()
    _model(tmp_path, "a", "SELECT 1 AS x")
    (tmp_path / "b.yml").write_text("name: b")
    with pytest.raises(ModelConfigError, match=r"b\.yml: no \.sql beside"):
        load_project(tmp_path)


def test_bad_expression_test_names_yml_and_test(tmp_path):
    _model(tmp_path, "a", "SELECT 1 AS x")
    yml = tmp_path / "a.yml"
    yml.write_text(yml.read_text() + "    tests:\n      - expression: {sql: 'x > 0; DROP TABLE y', name: x_pos}\n")
    with pytest.raises(ModelSqlError, match="test x_pos") as info:
        load_project(tmp_path)
    assert str(yml) in str(info.value)


def test_shipped_models_plan():
    project = load_project(PROJECT_DIR / "dbt_like_models")
    staging = {n for n in project.order if n.startswith("stg_")}
    assert staging == {"stg_stocks", "stg_price_history", "stg_intraday_bars", "stg_options", "stg_dividends", "stg_splits"}
    for name in staging:
        model = project.models[name]
        assert model.model_deps == set() and model.source_tables and model.spec.materialized == "view"
    assert project.models["stg_options"].source_tables == {"market.options_calls", "market.options_puts"}
    assert project.models["adjusted_daily_bars"].model_deps == {"stg_price_history", "stg_stocks", "stg_dividends", "stg_splits"}
    for mart in ("symbol_return_summary", "sector_performance_daily", "market_summary_daily"):
        assert project.models[mart].model_deps == {"adjusted_daily_bars"}
        assert project.order.index(mart) > project.order.index("adjusted_daily_bars")
    assert project.models["market_summary_daily"].spec.fills.table == "analytics.market_summary_daily"
    assert project.models["sector_performance_daily"].spec.fills.key == ("date", "sector")
    for model in project.models.values():
        assert "grain:" in model.spec.description.lower()
