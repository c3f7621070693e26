"""The suites' structure and the window SQL handed to great-expectations (no database)."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from stockula_pipelines.lib.quality.suites import TABLE_CHECKS, build_suite
from stockula_pipelines.lib.quality.windows import window_query

WINDOW = (datetime(2024, 3, 8, 5, tzinfo=UTC), datetime(2024, 3, 9, 5, tzinfo=UTC))


def test_window_is_rendered_as_typed_literals():
    text = window_query("price_history", WINDOW, "1d")
    assert "'2024-03-08 05:00:00+00:00'::timestamptz" in text
    assert "interval = '1d'" in text


def test_window_in_another_zone_is_normalised_to_utc():
    eastern = timezone(timedelta(hours=-5))
    text = window_query("options_calls", (WINDOW[0].astimezone(eastern), WINDOW[1].astimezone(eastern)))
    assert "'2024-03-08 05:00:00+00:00'::timestamptz" in text
    assert '"market"."options_calls"' in text


@pytest.mark.parametrize("bad", [
    (datetime(2024, 3, 8), datetime(2024, 3, 9)),  # naive
    (WINDOW[1], WINDOW[0]),  # reversed
    ("2024-03-08'; DROP TABLE market.stocks; --", WINDOW[1]),  # not a datetime
])
def test_bad_windows_are_refused(bad):
    with pytest.raises(ValueError, match="price_history"):
        window_query("price_history", bad, "1d")


def test_unknown_interval_is_refused():
    with pytest.raises(ValueError, match="interval"):
        window_query("price_history", WINDOW, "1d' OR '1'='1")


@pytest.mark.parametrize("table", sorted(TABLE_CHECKS))
def test_every_expectation_belongs_to_a_declared_check(table):
    suite = build_suite(table)
    declared = {c.name for c in TABLE_CHECKS[table]}
    used = {e.meta["check"] for e in suite.expectations}
    assert used == declared
