"""The compiled engine's SQL, without a database: every suite renders, values are bound, bad input is refused."""

from datetime import UTC, datetime

import pytest

from stockula_pipelines.lib.quality.compiled import UnsupportedExpectation, _render, _statements
from stockula_pipelines.lib.quality.engines import validate_window
from stockula_pipelines.lib.quality.suites import PRICE_MAX, TABLE_CHECKS, Expect, suite_spec

WINDOW = (datetime(2024, 3, 8, 5, tzinfo=UTC), datetime(2024, 3, 9, 5, tzinfo=UTC))


@pytest.mark.parametrize("table,interval", [(t, "1d" if t == "price_history" else None) for t in sorted(TABLE_CHECKS)]
                         + [("price_history", "5m")])
def test_every_suite_renders_one_statement_with_bound_values(table, interval):
    statement, samples, parts, params = _statements(table, interval)
    assert statement.startswith("WITH batch AS MATERIALIZED (")
    assert len(parts) == len(samples) == len(suite_spec(table, intraday=interval == "5m"))
    for i in range(len(parts)):
        assert f'AS "u{i}"' in statement  # one unexpected count per expectation
    # Thresholds travel as parameters, never as text.
    assert f"{PRICE_MAX:g}" not in statement and "500000" not in statement
    if table != "stocks":
        assert "%(start)s" in statement and "%(end)s" in statement
    assert all(isinstance(k, str) and k.startswith("e") for k in params)


def test_unknown_expectation_type_names_the_way_out():
    with pytest.raises(UnsupportedExpectation, match="expect_column_values_to_match_regex.*STOCKULA_QUALITY_ENGINE"):
        _render(Expect("expect_column_values_to_match_regex", "x", {"column": "symbol", "regex": "^[A-Z]+$"}), "e0")


def test_between_without_bounds_is_refused():
    with pytest.raises(UnsupportedExpectation, match="volume"):
        _render(Expect("expect_column_values_to_be_between", "value_bounds", {"column": "volume"}), "e0")


def test_unknown_engine_is_refused_before_any_connection():
    with pytest.raises(ValueError, match="unknown quality engine 'pandas'.*STOCKULA_QUALITY_ENGINE"):
        validate_window(None, "postgresql://unused", "price_history", WINDOW, interval="1d", engine="pandas")  # type: ignore[arg-type]


def test_injection_shaped_interval_is_refused():
    with pytest.raises(ValueError, match="interval"):
        validate_window(None, "", "price_history", WINDOW, interval="1d' OR '1'='1")  # type: ignore[arg-type]


def test_invalid_engine_setting_names_the_variable(monkeypatch):
    from stockula_pipelines.settings import SettingsError, reload_settings

    monkeypatch.setenv("STOCKULA_QUALITY_ENGINE", "pandas")
    try:
        with pytest.raises(SettingsError, match="quality_engine"):
            reload_settings()
    finally:
        monkeypatch.delenv("STOCKULA_QUALITY_ENGINE")
        reload_settings()
