"""Freshness through Dagster on the real clock: the checks name the session they expect, and pass once the
end-of-day and intraday jobs have loaded it. (The ladder's own window, in 2025, shows them failing.)"""

from __future__ import annotations

import pytest
from conftest import TestDatabase
from ladder_support import Ladder

pytestmark = pytest.mark.integration

TARGETS = {"market/price_history", "market/price_history_intraday", "market/options_calls", "market/options_puts"}


def _expected(run) -> set[str]:
    return {e.metadata["details"].value["expected_session"] for e in run.evaluations}


def test_freshness_fails_on_an_empty_table_and_passes_once_the_expected_session_is_loaded(clean_db: TestDatabase):
    ladder = Ladder(clean_db, key="freshness")
    empty = ladder.job("freshness_checks_job", label="nothing loaded")
    assert {e.asset_key.to_user_string() for e in empty.evaluations} == TARGETS
    assert not any(e.passed for e in empty.evaluations)
    assert all(e.metadata["details"].value["latest_session"] is None for e in empty.evaluations)
    (session,) = _expected(empty)
    assert ladder.job("reference_data_job").result.success
    for attempt in range(2):  # a session may close between the two evaluations: then load the new one
        assert ladder.job("end_of_day_job", partition=session, label=f"eod {session}").result.success
        # The first window of the session exists on every trading day, early closes included.
        assert ladder.job("intraday_job", partition=f"{session}-09:30", label=f"intraday {session}").result.success
        loaded = ladder.job("freshness_checks_job", label=f"after {session}")
        if _expected(loaded) == {session} or attempt:
            break
        (session,) = _expected(loaded)
    assert {e.asset_key.to_user_string() for e in loaded.evaluations if e.passed} == TARGETS
    assert {e.metadata["details"].value["latest_session"] for e in loaded.evaluations} == {session}
