"""STOCKULA_QUALITY_ENGINE picks the engine the pipeline's checks use; both record the same results."""

from datetime import date

import pytest
from psycopg import sql

from stockula_pipelines.lib.calendar import trading_day_window
from stockula_pipelines.lib.validation import quality
from stockula_pipelines.settings import Role, reload_settings

pytestmark = pytest.mark.integration

DAY = date(2024, 3, 8)
WINDOW = trading_day_window(DAY)


@pytest.fixture
def engine_setting(monkeypatch):
    def choose(engine: str | None) -> None:
        if engine is None:
            monkeypatch.delenv("STOCKULA_QUALITY_ENGINE", raising=False)
        else:
            monkeypatch.setenv("STOCKULA_QUALITY_ENGINE", engine)
        reload_settings()

    yield choose
    monkeypatch.delenv("STOCKULA_QUALITY_ENGINE", raising=False)
    reload_settings()


def _seed(db) -> None:
    with db.connect(Role.admin, direct=True, autocommit=True) as conn:
        # One clean bar and one with negative volume (the table's CHECK refuses it: lift it for the seed).
        definition = conn.execute("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                                  "WHERE conname = 'price_history_volume_check'").fetchone()[0]
        conn.execute("ALTER TABLE market.price_history DROP CONSTRAINT price_history_volume_check")
        try:
            conn.execute("INSERT INTO market.price_history (time, symbol, interval, date, open_price, high_price, "
                         "low_price, close_price, volume, source) VALUES "
                         "(%(t)s, 'AAA', '1d', %(d)s, 10, 11, 9, 10.5, 100, 'test'), "
                         "(%(t)s, 'BBB', '1d', %(d)s, 10, 11, 9, 10.5, -1, 'test')", {"t": WINDOW[0], "d": DAY})
        finally:
            conn.execute(sql.SQL("ALTER TABLE market.price_history ADD CONSTRAINT price_history_volume_check {} "
                                 "NOT VALID").format(sql.SQL(definition)))


@pytest.mark.parametrize("engine", [None, "compiled", "great_expectations"])
def test_setting_chooses_the_engine_and_results_match(clean_db, engine_setting, engine):
    _seed(clean_db)
    engine_setting(engine)
    with clean_db.connect() as conn:
        checked = quality.suite_checks(conn, clean_db.dsn(), "price_history", WINDOW,
                                       asset_key="market/price_history", interval="1d")
    results = {r.check_name: r for r in checked}
    assert {r.details["engine"] for r in results.values()} == {engine or "compiled"}
    bounds = results["value_bounds"]
    assert not bounds.passed and bounds.failing_count == 1
    assert bounds.details["failed_expectations"] == [
        {"expectation": "expect_column_values_to_be_between", "column": "volume", "unexpected_count": 1,
         "sample": [-1]}]
    assert all(r.passed for name, r in results.items() if name != "value_bounds")


def test_invalid_engine_setting_names_the_variable(clean_db, engine_setting):
    from stockula_pipelines.settings import SettingsError

    with pytest.raises(SettingsError, match="quality_engine"):
        engine_setting("pandas")
