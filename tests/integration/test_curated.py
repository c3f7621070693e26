"""The curated models against the real database: contents, tests, fills, privileges, Dagster wiring."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from stockula_pipelines.defs.curated import definitions
from stockula_pipelines.lib.models import ModelColumnsError, load_project, materialize, run_all
from stockula_pipelines.resources.timescale import TimescaleResource
from stockula_pipelines.settings import Role

pytestmark = pytest.mark.integration

PROJECT_DIR = Path(__file__).resolve().parents[2]
MODELS = PROJECT_DIR / "dbt_like_models"
MARTS = ["adjusted_daily_bars", "symbol_return_summary", "sector_performance_daily", "market_summary_daily",
         "options_surface"]
D1, D2, D3 = date(2024, 3, 4), date(2024, 3, 5), date(2024, 3, 6)
# Adjusted close and return per symbol and day; raw close = adjusted close in this fixture.
BARS = {
    "AAA": [(D1, 100.0, None, None), (D2, 110.0, 0.10, None), (D3, 99.0, -0.10, 0.2)],
    "BBB": [(D1, 50.0, None, None), (D2, 50.0, 0.0, None), (D3, 55.0, 0.10, 0.3)],
    "CCC": [(D1, 20.0, None, None), (D2, 19.0, -0.05, None), (D3, 19.95, 0.05, None)],
}
VOLUME = {"AAA": 1000, "BBB": 2000, "CCC": 500}
SECTOR = {"AAA": "Technology", "BBB": "Technology", "CCC": "Energy"}


def _bar_time(day: date) -> datetime:
    # 00:00 New York (EST in early March) is 05:00 UTC.
    return datetime(day.year, day.month, day.day, 5, tzinfo=UTC)


def _insert_bar(conn: psycopg.Connection, symbol: str, day: date, close: float, ret: float | None,
                vol: float | None, *, time: datetime | None = None, interval: str = "1d") -> None:
    conn.execute(
        """
        INSERT INTO market.price_history (time, symbol, interval, date, open_price, high_price, low_price,
            close_price, adj_close_price, volume, daily_return, volatility, source)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'test')
        """,
        (time or _bar_time(day), symbol, interval, day, close, close * 1.01, close * 0.99, close, close,
         VOLUME.get(symbol, 100), ret, vol),
    )


def _insert_option(conn: psycopg.Connection, table: str, contract: str, day: date, expiry: date, strike: float,
                   bid: float, ask: float, delta: float) -> None:
    conn.execute(
        sql.SQL("""
        INSERT INTO {} (time, snapshot_date, symbol, contract_symbol, expiration_date, strike, bid, ask,
            last_price, volume, open_interest, underlying_price, implied_volatility, delta, gamma, theta, vega,
            rho, greeks_status, source)
        VALUES (%s, %s, 'AAA', %s, %s, %s, %s, %s, %s, 10, 100, 99.0, 0.25, %s, 0.05, -5.0, 10.0, 2.0, 'ok', 'test')
        """).format(sql.Identifier("market", table)),
        (_bar_time(day) + timedelta(hours=16), day, contract, expiry, strike, bid, ask, (bid + ask) / 2, delta),
    )


def seed(conn: psycopg.Connection) -> None:
    for symbol, sector in SECTOR.items():
        conn.execute("INSERT INTO market.stocks (symbol, name, sector, source) VALUES (%s, %s, %s, 'test')",
                     (symbol, f"{symbol} Inc.", sector))
    for symbol, bars in BARS.items():
        for day, close, ret, vol in bars:
            _insert_bar(conn, symbol, day, close, ret, vol)
    _insert_bar(conn, "AAA", D3, 99.0, None, None, time=_bar_time(D3) + timedelta(hours=10), interval="5m")
    conn.execute("INSERT INTO market.dividends (time, symbol, ex_date, amount, source) VALUES (%s, 'AAA', %s, 0.5, 'test')",
                 (_bar_time(D2), D2))
    conn.execute("INSERT INTO market.splits (time, symbol, ex_date, ratio, source) VALUES (%s, 'BBB', %s, 2, 'test')",
                 (_bar_time(D3), D3))
    expiry = date(2024, 3, 15)
    _insert_option(conn, "options_calls", "AAA240315C00100000", D2, expiry, 100.0, 3.0, 3.4, 0.6)  # older snapshot
    _insert_option(conn, "options_calls", "AAA240315C00100000", D3, expiry, 100.0, 1.0, 1.2, 0.45)
    _insert_option(conn, "options_puts", "AAA240315P00100000", D3, expiry, 100.0, 2.0, 2.4, -0.55)


@pytest.fixture()
def seeded(clean_db):
    with clean_db.connect(Role.admin, direct=True) as conn:
        seed(conn)
    return clean_db


@pytest.fixture(scope="module")
def project():
    return load_project(MODELS)


def _run(db, project) -> dict[str, dict[str, int]]:
    with db.connect(Role.writer) as conn:
        results = run_all(conn, project)
    return {model: {r.rendered.name: r.failing for r in rs} for model, rs in results.items()}


def _rows(db, query: str, params=None) -> list[tuple]:
    with db.connect(Role.admin, direct=True) as conn:
        return conn.execute(query, params).fetchall()


def test_marts_hold_hand_checked_numbers_and_all_tests_pass(seeded, project):
    failing = _run(seeded, project)
    assert {m: {t: n for t, n in ts.items() if n} for m, ts in failing.items()} == {m: {} for m in failing}

    bars = _rows(seeded, "SELECT symbol, trading_date, sector, dividend_amount, split_ratio FROM curated.adjusted_daily_bars "
                         "WHERE dividend_amount IS NOT NULL OR split_ratio IS NOT NULL ORDER BY symbol")
    assert bars == [("AAA", D2, "Technology", 0.5, None), ("BBB", D3, "Technology", None, 2.0)]
    assert _rows(seeded, "SELECT count(*) FROM curated.adjusted_daily_bars")[0][0] == 9

    summary = {r[0]: r[1:] for r in _rows(seeded, """
        SELECT symbol, first_date, last_date, trading_days, latest_close, total_return, annualized_return,
               annualized_volatility, max_drawdown FROM curated.symbol_return_summary""")}
    first, last, days, latest, total, annual, vol, mdd = summary["AAA"]
    assert (first, last, days, latest) == (D1, D3, 3, 99.0)
    assert total == pytest.approx(-0.01)
    assert annual == pytest.approx(0.99 ** 126 - 1)
    assert vol == pytest.approx(math.sqrt(0.02) * math.sqrt(252))  # sample sd of (0.1, -0.1)
    assert mdd == pytest.approx(99 / 110 - 1)
    assert summary["BBB"][4] == pytest.approx(0.10) and summary["BBB"][7] == pytest.approx(0.0)

    market = {r[0]: r[1:] for r in _rows(seeded, """
        SELECT date, symbols_count, advancers, decliners, unchanged, total_volume, total_trading_value,
               avg_return, median_return, avg_volatility FROM analytics.market_summary_daily""")}
    assert set(market) == {D1, D2, D3}
    assert market[D1][:4] == (3, 0, 0, 0) and market[D1][6] is None
    count, adv, dec, unch, volume, value, avg, median, avg_vol = market[D2]
    assert (count, adv, dec, unch, volume) == (3, 1, 1, 1, 3500)
    assert value == pytest.approx(110 * 1000 + 50 * 2000 + 19 * 500)
    assert avg == pytest.approx(0.05 / 3) and median == pytest.approx(0.0) and avg_vol is None
    assert market[D3][1:3] == (2, 1) and market[D3][7] == pytest.approx(0.05) and market[D3][8] == pytest.approx(0.25)
    assert _rows(seeded, "SELECT count(*) FROM curated.market_summary_daily")[0][0] == 3

    sectors = {(r[0], r[1]): r[2:] for r in _rows(seeded, """
        SELECT date, sector, symbols_count, avg_return, total_volume, total_trading_value
        FROM analytics.sector_performance""")}
    assert len(sectors) == 6
    assert sectors[(D2, "Technology")][:1] == (2,) and sectors[(D2, "Technology")][1] == pytest.approx(0.05)
    assert sectors[(D2, "Technology")][2:] == (3000, pytest.approx(210000.0))
    assert sectors[(D2, "Energy")] == (1, pytest.approx(-0.05), 500, pytest.approx(9500.0))

    surface = _rows(seeded, """SELECT option_type, snapshot_date, mid_price, moneyness, days_to_expiry, delta
                               FROM curated.options_surface ORDER BY option_type""")
    assert surface == [("call", D3, pytest.approx(1.1), pytest.approx(100 / 99), 9, 0.45),
                       ("put", D3, pytest.approx(2.2), pytest.approx(100 / 99), 9, -0.55)]
    intraday = _rows(seeded, "SELECT symbol, bar_interval FROM curated.stg_intraday_bars")
    assert intraday == [("AAA", "5m")]


def test_fills_replace_keys_the_model_no_longer_has(seeded, project):
    _run(seeded, project)
    with seeded.connect(Role.admin, direct=True) as conn:
        conn.execute("DELETE FROM market.price_history WHERE date = %s", (D1,))
    _run(seeded, project)
    assert [r[0] for r in _rows(seeded, "SELECT date FROM analytics.market_summary_daily ORDER BY date")] == [D2, D3]
    assert {r[0] for r in _rows(seeded, "SELECT DISTINCT date FROM analytics.sector_performance")} == {D2, D3}


def test_yml_tests_fail_on_bad_data(seeded, project):
    with seeded.connect(Role.admin, direct=True) as conn:
        # A second daily bar for AAA on D3 (another bar time): duplicates the (symbol, trading_date) grain.
        _insert_bar(conn, "AAA", D3, 98.0, -1.5, None, time=_bar_time(D3) + timedelta(hours=1))
        # Bars of a symbol missing from market.stocks break the relationship to stg_stocks.
        _insert_bar(conn, "ZZZ", D2, 10.0, None, None)
    failing = _run(seeded, project)
    assert failing["stg_price_history"]["unique_symbol_trading_date"] == 2
    assert failing["adjusted_daily_bars"]["unique_symbol_trading_date"] == 2
    assert failing["adjusted_daily_bars"]["daily_return_above_minus_one"] == 1
    assert failing["adjusted_daily_bars"]["relationships_symbol"] == 1
    assert failing["symbol_return_summary"]["relationships_symbol"] == 1
    assert failing["market_summary_daily"]["unique_trading_date"] == 0
    assert failing["stg_stocks"] == {name: 0 for name in failing["stg_stocks"]}


def test_analyst_reads_every_mart_but_cannot_write(seeded, project):
    _run(seeded, project)
    with seeded.connect(Role.analyst, autocommit=True) as conn:
        for name in [*MARTS, *[n for n in project.order if n.startswith("stg_")]]:
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier("curated", name))
            assert conn.execute(query).fetchone()[0] >= 1, name
        for statement in ("DELETE FROM curated.market_summary_daily",
                          "INSERT INTO curated.symbol_return_summary (symbol) VALUES ('X')",
                          "DROP TABLE curated.adjusted_daily_bars",
                          "CREATE TABLE curated.analyst_table (x int)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    comment = _rows(seeded, "SELECT obj_description('curated.adjusted_daily_bars'::regclass)")[0][0]
    assert "Grain: one row per symbol per trading day" in comment
    column = _rows(seeded, "SELECT col_description('curated.options_surface'::regclass, 1)")[0][0]
    assert column == "Underlying ticker symbol."


def test_dagster_assets_materialise_and_report_checks(seeded):
    defs = definitions(MODELS)
    assets = list(defs.assets or [])
    result = dg.materialize(assets, resources={"timescale": TimescaleResource(dsn=seeded.dsn(Role.writer))})
    assert result.success
    materialized = {e.asset_key.path[-1]: e for e in result.get_asset_materialization_events()}
    assert set(materialized) >= set(MARTS)
    meta = materialized["market_summary_daily"].materialization.metadata
    assert meta["dagster/row_count"].value == 3
    assert meta["filled_rows"].value == 3
    assert len(meta["preview"].value.records) == 3
    evaluations = result.get_asset_check_evaluations()
    assert evaluations and all(e.passed for e in evaluations)
    assert {e.check_name for e in evaluations if e.asset_key.path[-1] == "options_surface"} >= {
        "unique_symbol_type_expiry_strike", "accepted_values_option_type", "delta_in_range"}


def _write_model(directory: Path, name: str, sql_text: str, materialized: str, columns: list[tuple[str, str]]) -> None:
    (directory / f"{name}.sql").write_text(sql_text)
    cols = "\n".join(f"  - name: {c}\n    data_type: {t}\n    description: Column {c}." for c, t in columns)
    (directory / f"{name}.yml").write_text(
        f"name: {name}\ndescription: 'Test model. Grain: one row per symbol.'\nmaterialized: {materialized}\ncolumns:\n{cols}\n")


@pytest.fixture()
def scratch_models(seeded, tmp_path):
    yield seeded, tmp_path
    with seeded.connect(Role.admin, direct=True) as conn:
        for kind in ("VIEW", "TABLE"):
            for (name,) in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'curated' "
                "AND table_name LIKE 'scratch%%' AND table_type = %s", ("VIEW" if kind == "VIEW" else "BASE TABLE",)
            ).fetchall():
                conn.execute(sql.SQL("DROP {} IF EXISTS {} CASCADE").format(sql.SQL(kind), sql.Identifier("curated", name)))


def test_rebuild_with_changed_columns_recreates_dependent_views(scratch_models):
    db, models = scratch_models
    _write_model(models, "scratch_base", "SELECT symbol, name FROM market.stocks", "view",
                 [("symbol", "text"), ("name", "text")])
    _write_model(models, "scratch_table", "SELECT symbol FROM curated.scratch_base", "table", [("symbol", "text")])
    _write_model(models, "scratch_view", "SELECT symbol FROM curated.scratch_table", "view", [("symbol", "text")])
    _write_model(models, "scratch_child", "SELECT symbol FROM curated.scratch_base", "view", [("symbol", "text")])
    with db.connect(Role.writer) as conn:
        run_all(conn, load_project(models))
    # A view that loses a column cannot be CREATE OR REPLACEd; its dependent view must come back.
    _write_model(models, "scratch_base", "SELECT symbol FROM market.stocks", "view", [("symbol", "text")])
    project = load_project(models)
    with db.connect(Role.writer) as conn:
        assert materialize(conn, project, "scratch_base").recreated == ("scratch_child",)
        # A table rebuilt under a view: the swap drops the view, which comes back in the same transaction.
        assert materialize(conn, project, "scratch_table").recreated == ("scratch_view",)
    assert sorted(_rows(db, "SELECT symbol FROM curated.scratch_child")) == [("AAA",), ("BBB",), ("CCC",)]
    assert len(_rows(db, "SELECT symbol FROM curated.scratch_view")) == 3
    with db.connect(Role.analyst) as conn:
        assert conn.execute("SELECT count(*) FROM curated.scratch_view").fetchone()[0] == 3


def test_undocumented_columns_fail_and_leave_the_old_relation(scratch_models):
    db, models = scratch_models
    _write_model(models, "scratch_doc", "SELECT symbol FROM market.stocks", "table", [("symbol", "text")])
    with db.connect(Role.writer) as conn:
        run_all(conn, load_project(models))
    _write_model(models, "scratch_doc", "SELECT symbol, sector FROM market.stocks", "table",
                 [("symbol", "text"), ("sector", "integer"), ("industry", "text")])
    with db.connect(Role.writer) as conn, pytest.raises(ModelColumnsError) as info:
        materialize(conn, load_project(models), "scratch_doc")
    message = str(info.value)
    assert "scratch_doc.yml" in message and "sector is text, documented as integer" in message
    assert "industry is not produced" in message
    assert _rows(db, "SELECT column_name FROM information_schema.columns WHERE table_schema = 'curated' "
                     "AND table_name = 'scratch_doc'") == [("symbol",)]
