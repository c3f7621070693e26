"""Backtests in the database: analytics.strategy_performance kept current from the ingest log through
the Dagster assets, restated exactly where a late corporate action changed the prices it read, equal
to a rebuild from scratch, and summarised by curated.strategy_summary."""

from __future__ import annotations

from datetime import UTC, date, datetime

import dagster as dg
import numpy as np
import polars as pl
import pytest
from conftest import TestDatabase

from stockula_pipelines.defs.analytics.assets import price_metrics
from stockula_pipelines.defs.curated import definitions as curated_definitions
from stockula_pipelines.defs.strategies.assets import catalogue, strategy_performance
from stockula_pipelines.defs.strategies.checks import strategy_performance_checks
from stockula_pipelines.lib.calendar import get_calendar
from stockula_pipelines.lib.ingest import load_window, upsert
from stockula_pipelines.lib.metrics.prices import refresh_price_metrics
from stockula_pipelines.lib.sources.synthetic import SyntheticSource
from stockula_pipelines.lib.strategies.catalogue import parse
from stockula_pipelines.lib.strategies.refresh import refresh_strategy_performance
from stockula_pipelines.lib.strategies.report import portfolio_series
from stockula_pipelines.partitions import partition_window
from stockula_pipelines.resources.timescale import TimescaleResource
from stockula_pipelines.settings import Role

pytestmark = pytest.mark.integration

ROWS = """SELECT strategy_id, symbol, time, date, position, turnover, daily_return, equity, cumulative_return,
                 drawdown, trades, refresh_id
          FROM analytics.strategy_performance ORDER BY strategy_id, symbol, time"""


def _source() -> SyntheticSource:
    return SyntheticSource(seed=7, universe_size=4)


def _load_days(conn, source: SyntheticSource, days: list[date]) -> None:
    window = (partition_window(days[0].isoformat())[0], partition_window(days[-1].isoformat())[1])
    symbols = source.universe()
    load_window(conn, "price_history", source.price_bars(symbols, *window, "1d"), window=window,
                symbols=symbols, interval="1d", source=source.name)
    for table, frame in (("dividends", source.dividends(symbols, *window)), ("splits", source.splits(symbols, *window))):
        load_window(conn, table, frame, window=window, symbols=symbols, source=source.name)


def _late_dividend(conn, symbol: str, ex: date, amount: float) -> None:
    t = datetime(ex.year, ex.month, ex.day, 5, tzinfo=UTC)
    frame = pl.DataFrame({"time": [t], "symbol": [symbol], "ex_date": [ex], "amount": [amount], "source": ["test"]},
                         schema_overrides={"time": pl.Datetime("us", "UTC")})
    load_window(conn, "dividends", frame, window=(t, partition_window(ex.isoformat())[1]), symbols=[symbol],
                source="test")


def _rows(db: TestDatabase) -> list[tuple]:
    with db.connect() as conn:
        return conn.execute(ROWS).fetchall()


def _materialize(db: TestDatabase) -> dg.ExecuteInProcessResult:
    result = dg.materialize([price_metrics, strategy_performance, strategy_performance_checks],
                            resources={"timescale": TimescaleResource(dsn=db.dsn())})
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} == {
        "strategy_equity_positive", "strategy_position_has_price", "strategy_return_matches_position"}
    assert all(e.passed for e in evaluations), [(e.check_name, e.metadata) for e in evaluations if not e.passed]
    return result


@pytest.fixture()
def loaded(clean_db: TestDatabase):
    source = _source()
    days = get_calendar().trading_days(date(2023, 1, 3), date(2024, 3, 28))
    with clean_db.connect() as conn:
        conn.autocommit = True
        upsert(conn, "stocks", source.stocks(), source=source.name)
        _load_days(conn, source, days[:-1])
    return clean_db, source, days


def test_late_dividend_restates_exactly_the_rows_reading_it_and_a_rebuild_gives_the_same_rows(loaded):
    db, source, days = loaded
    result = _materialize(db)
    versions = len(catalogue())
    first = _rows(db)
    assert len(first) == versions * 4 * (len(days) - 1)
    meta = result.get_asset_materialization_events()[-1].materialization.metadata
    assert meta["rows_written"].value == len(first)
    curves = meta["equity_curves"].value
    for s in catalogue():
        assert f"| {s.name}@{s.version} |" in curves and meta[f"final_equity/{s.name}"].value > 0
    assert all(r[4] in (-1.0, 0.0, 1.0) for r in first)
    assert {r[4] for r in first} == {-1.0, 0.0, 1.0}  # the catalogue's strategies trade both ways here

    # A new day: only that day's rows are written; every earlier row is untouched.
    with db.connect() as conn:
        conn.autocommit = True
        _load_days(conn, source, days[-1:])
    _materialize(db)
    second = _rows(db)
    new = [r for r in second if r[3] == days[-1]]
    assert len(new) == versions * 4 and len({r[11] for r in new}) == 1
    assert [r for r in second if r[3] != days[-1]] == first

    # A dividend arrives late for one symbol, in the middle of its history: every row of that symbol
    # (whose adjusted closes all moved) is restated, no row of any other symbol is.
    symbol, ex = source.universe()[1], days[120]
    with db.connect() as conn:
        conn.autocommit = True
        _late_dividend(conn, symbol, ex, 0.5)
    _materialize(db)
    third = _rows(db)
    assert [r for r in third if r[1] != symbol] == [r for r in second if r[1] != symbol]
    restated = [r for r in third if r[1] == symbol]
    before = {(r[0], r[2]): r for r in second if r[1] == symbol}
    assert len(restated) == len(before) and len({r[11] for r in restated}) == 1
    assert restated[0][11] > max(r[11] for r in second)
    # The dividend is earned from its ex-date on: buy-and-hold's equity rises by ~ amount / close.
    with db.connect() as conn:
        bh = conn.execute("SELECT strategy_id FROM analytics.strategies WHERE name = 'buy_and_hold'").fetchone()[0]
    after_ex = [r for r in restated if r[0] == bh and r[3] >= ex]
    assert after_ex[0][7] > before[(bh, after_ex[0][2])][7]
    # Before the ex-date the adjusted closes only scaled by a constant: equity equal up to rounding.
    earlier = [r for r in restated if r[0] == bh and r[3] < ex]
    np.testing.assert_allclose([r[7] for r in earlier], [before[(r[0], r[2])][7] for r in earlier], rtol=1e-12)

    # Rebuild from scratch: the same rows (value for value), only the refresh that wrote them differs.
    with db.connect() as conn:
        conn.execute("DELETE FROM analytics.strategy_performance")
        conn.execute("DELETE FROM ops.refresh_covered WHERE target = 'strategy_performance'")
        conn.commit()
    _materialize(db)
    rebuilt = _rows(db)
    assert [r[:11] for r in rebuilt] == [r[:11] for r in third]


def test_a_new_version_gets_its_own_rows_and_the_old_ones_stay(loaded):
    db, _source_, _days = loaded
    entry = {"name": "sma", "kind": "ma_crossover", "parameters": {"fast": 10, "slow": 40},
             "universe": {"symbols": ["AAAA", *_source().universe()[:2]]}, "costs": {"commission_bps": 1}}
    with db.connect() as conn:
        refresh_price_metrics(conn)
        old = parse([entry])[0]
        first = refresh_strategy_performance(conn, [old])
        new = parse([{**entry, "parameters": {"fast": 10, "slow": 60}}])[0]
        second = refresh_strategy_performance(conn, [new])
        counts = dict(conn.execute("SELECT s.version, count(*) FROM analytics.strategy_performance p "
                                   "JOIN analytics.strategies s USING (strategy_id) GROUP BY 1").fetchall())
        conn.commit()
    assert old.version != new.version and first.pairs_full_history == second.pairs_full_history == 2
    assert counts[old.version] == counts[new.version] == first.rows_written == second.rows_written
    with db.connect() as conn:
        again = refresh_strategy_performance(conn, [old, new])  # nothing changed: nothing written
    assert again.rows_written == 0 and again.refresh_id is None


def test_strategy_summary_matches_the_statistics_functions_and_analysts_read_both(loaded):
    db, _source_, _days = loaded
    _materialize(db)
    curated = curated_definitions()
    summary = next(a for a in curated.assets if dg.AssetKey(["curated", "strategy_summary"]) in a.keys)
    result = dg.materialize([summary], resources={"timescale": TimescaleResource(dsn=db.dsn())})
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    with db.connect(Role.analyst) as conn:
        mart = conn.execute("""SELECT strategy_id, trading_days, cagr, annual_volatility, sharpe_ratio, sortino_ratio,
                                      max_drawdown, max_drawdown_peak_date, max_drawdown_trough_date, hit_rate,
                                      annual_turnover, last_252_trading_days, last_252_cagr, last_252_sharpe_ratio,
                                      last_252_max_drawdown
                               FROM curated.strategy_summary ORDER BY strategy_id""").fetchall()
        conn.execute("SELECT position, equity FROM analytics.strategy_performance LIMIT 1")
        conn.execute("SELECT name, version, parameters FROM analytics.strategies LIMIT 1")
        series = portfolio_series(conn, [r[0] for r in mart])
    assert len(mart) == len(catalogue())
    for row in mart:
        s = series[row[0]]
        full, last = s.stats(), s.__class__(s.dates[-252:], s.returns[-252:], s.turnover[-252:]).stats()
        assert row[1] == full.days and row[11] == last.days == 252
        expected = [full.cagr, full.annual_volatility, full.sharpe_ratio, full.sortino_ratio, full.max_drawdown]
        np.testing.assert_allclose(row[2:7], expected, rtol=1e-9, atol=1e-12)
        assert (row[7], row[8]) == (full.max_drawdown_peak, full.max_drawdown_trough)
        np.testing.assert_allclose([row[9], row[10], row[12], row[13], row[14]],
                                   [full.hit_rate, full.annual_turnover, last.cagr, last.sharpe_ratio,
                                    last.max_drawdown], rtol=1e-9, atol=1e-12)
