"""The curated Dagster assets are built from the models: keys, deps, descriptions, schemas, checks."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from stockula_pipelines.defs.curated import JOB_NAME, definitions
from stockula_pipelines.defs.curated.translator import CuratedTranslator
from stockula_pipelines.resources.timescale import TimescaleResource

PROJECT_DIR = Path(__file__).resolve().parents[2]


def _defs(translator: CuratedTranslator | None = None) -> dg.Definitions:
    return dg.Definitions.merge(
        definitions(PROJECT_DIR / "dbt_like_models", translator),
        dg.Definitions(resources={"timescale": TimescaleResource(dsn="postgresql://unused@127.0.0.1:1/x")}),
    )


def _graph(translator: CuratedTranslator | None = None):
    return _defs(translator).resolve_asset_graph()


def _parents(graph, *path: str) -> set[tuple[str, ...]]:
    return {tuple(k.path) for k in graph.get(dg.AssetKey(list(path))).parent_keys}


def test_deps_come_from_the_sql_and_derived_columns():
    graph = _graph()
    assert _parents(graph, "curated", "stg_price_history") == {("market", "price_history"), ("analytics", "price_metrics")}
    assert _parents(graph, "curated", "stg_options") == {
        ("market", "options_calls"), ("market", "options_puts"), ("analytics", "option_greeks")}
    # Intraday bars read no derived column and come from their own asset.
    assert _parents(graph, "curated", "stg_intraday_bars") == {("market", "price_history_intraday")}
    assert _parents(graph, "curated", "stg_stocks") == {("market", "stocks")}
    assert _parents(graph, "curated", "market_summary_daily") == {("curated", "adjusted_daily_bars")}
    # options_surface's relationships test reads stg_stocks, so it is built first.
    assert _parents(graph, "curated", "options_surface") == {
        ("curated", "stg_options"), ("curated", "stg_price_history"), ("curated", "stg_stocks")}


def test_assets_carry_group_kinds_description_and_column_schema():
    graph = _graph()
    node = graph.get(dg.AssetKey(["curated", "adjusted_daily_bars"]))
    assert node.group_name == "curated"
    assert node.kinds == {"sql", "postgres"}
    assert "Grain: one row per symbol per trading day" in node.description
    schema = node.metadata["dagster/column_schema"]
    columns = {c.name: c for c in schema.columns}
    assert columns["trading_date"].type == "date"
    assert columns["symbol"].description == "Ticker symbol." and not columns["symbol"].constraints.nullable
    assert node.metadata["dagster/table_name"] == "curated.adjusted_daily_bars"


def test_every_yml_test_is_an_asset_check_with_blocking_keys():
    graph = _graph()
    checks = {(k.asset_key.path[-1], k.name) for k in graph.asset_check_keys}
    assert ("market_summary_daily", "unique_trading_date") in checks
    assert ("options_surface", "accepted_values_option_type") in checks
    assert ("adjusted_daily_bars", "relationships_symbol") in checks
    node = graph.get(dg.AssetKey(["curated", "stg_price_history"]))
    assert "unique_symbol_trading_date" in {k.name for k in node.check_keys}
    specs = {s.name: s for s in graph.assets_defs_for_keys([dg.AssetKey(["curated", "adjusted_daily_bars"])])[0].check_specs}
    assert specs["unique_symbol_trading_date"].blocking and specs["not_null_symbol"].blocking
    assert not specs["relationships_symbol"].blocking and not specs["volatility_non_negative"].blocking


class WarehouseTranslator(CuratedTranslator):
    """Another naming scheme: keys under ``warehouse/``, staging and marts in groups of their own."""

    def get_asset_key(self, model):
        return dg.AssetKey(["warehouse", model.name])

    def get_group_name(self, model):
        return "marts" if model.sql_path.parent.name == "marts" else "staging"


def test_a_translator_subclass_renames_and_regroups_the_assets_and_their_deps():
    defs = _defs(WarehouseTranslator())
    graph = defs.resolve_asset_graph()
    models = {p.stem for p in (PROJECT_DIR / "dbt_like_models").rglob("*.sql")}
    built = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    assert built == {dg.AssetKey(["warehouse", m]) for m in models}
    assert graph.get(dg.AssetKey(["warehouse", "adjusted_daily_bars"])).group_name == "marts"
    assert graph.get(dg.AssetKey(["warehouse", "stg_stocks"])).group_name == "staging"
    # Models that read models depend on the new keys; raw tables and their fillers keep theirs.
    assert _parents(graph, "warehouse", "market_summary_daily") == {("warehouse", "adjusted_daily_bars")}
    assert _parents(graph, "warehouse", "options_surface") == {
        ("warehouse", "stg_options"), ("warehouse", "stg_price_history"), ("warehouse", "stg_stocks")}
    assert _parents(graph, "warehouse", "stg_price_history") == {
        ("market", "price_history"), ("analytics", "price_metrics")}
    # The .yml tests follow their models, and the job rebuilds the renamed assets.
    assert dg.AssetCheckKey(dg.AssetKey(["warehouse", "market_summary_daily"]), "unique_trading_date") in (
        graph.asset_check_keys)
    job = defs.resolve_job_def(JOB_NAME)
    assert set(job.asset_layer.executable_asset_keys) == built


def test_check_specs_show_severity_and_test_kind():
    specs = {s.name: s for s in _graph().assets_defs_for_keys(
        [dg.AssetKey(["curated", "options_surface"])])[0].check_specs}
    assert specs["accepted_values_option_type"].metadata == {"severity": "ERROR", "test": "accepted_values"}
