"""The quarantine round trip: rows a real load quarantined are fixed, resubmitted and feed the metrics.

The bad rows come from a load through the Dagster asset (a synthetic source that corrupts chosen
bars), never from inserting into quality.quarantine, so the test sees row_data exactly as the loader
stores it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import dagster as dg
import polars as pl
import pytest
from conftest import PROJECT_DIR, TestDatabase

from stockula_pipelines.defs.analytics.assets import price_metrics
from stockula_pipelines.defs.market_data.assets import price_history, stocks
from stockula_pipelines.defs.quality.quarantine import resubmit_quarantine_job
from stockula_pipelines.lib.ingest.resubmit import resubmit
from stockula_pipelines.resources.market_data import MarketDataResource
from stockula_pipelines.resources.timescale import TimescaleResource
from stockula_pipelines.settings import Role

pytestmark = pytest.mark.integration

FIRST, MIDDLE, LAST = "2024-07-01", "2024-07-02", "2024-07-03"
RANGE_TAGS = {"dagster/asset_partition_range_start": FIRST, "dagster/asset_partition_range_end": LAST}


class CorruptingSource:
    """The synthetic source with chosen bars damaged as a real feed damages them."""

    def __init__(self, inner, faults: dict[str, str]) -> None:
        self.inner, self.faults, self.name = inner, faults, inner.name

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def price_bars(self, symbols, start, end, interval):
        frame = self.inner.price_bars(symbols, start, end, interval)
        for target, fault in self.faults.items():
            symbol, day = target.split("|")
            hit = (pl.col("symbol") == symbol) & (pl.col("date") == date.fromisoformat(day))
            if fault == "null_volume":
                frame = frame.with_columns(pl.when(hit).then(None).otherwise(pl.col("volume")).alias("volume"))
            elif fault == "low_above_high":
                frame = frame.with_columns(
                    pl.when(hit).then(pl.col("high_price")).otherwise(pl.col("low_price")).alias("low_price"),
                    pl.when(hit).then(pl.col("low_price")).otherwise(pl.col("high_price")).alias("high_price"),
                )
        return frame


class FaultyMarketData(MarketDataResource):
    faults: dict[str, str] = {}  # "SYMBOL|YYYY-MM-DD" -> null_volume | low_above_high

    def get_source(self):
        return CorruptingSource(super().get_source(), dict(self.faults))


def _universe() -> list[str]:
    return MarketDataResource(source="synthetic", universe_size=4).get_source().universe()


def _quarantine(db: TestDatabase) -> dict[int, dict]:
    with db.connect(Role.admin, direct=True) as conn:
        rows = conn.execute(
            """
            SELECT quarantine_id, symbol, row_data->>'date', rule, detail, jsonb_typeof(row_data), row_data,
                   partition_key, resolution, resolved_at IS NOT NULL
            FROM quality.quarantine ORDER BY quarantine_id
            """
        ).fetchall()
    return {r[0]: {"id": r[0], "symbol": r[1], "date": r[2], "rule": r[3], "detail": r[4], "json_type": r[5], "row": r[6],
                           "partition_key": r[7], "resolution": r[8], "resolved": r[9]} for r in rows}


def _run_job(db: TestDatabase, config: dict) -> dg.ExecuteInProcessResult:
    return resubmit_quarantine_job.execute_in_process(
        run_config={"ops": {"resubmit_quarantined": {"config": config}}},
        resources={"timescale": TimescaleResource(dsn=db.dsn(Role.writer))},
    )


def test_rows_quarantined_by_a_real_load_are_fixed_resubmitted_and_refresh_the_metrics(clean_db: TestDatabase):
    a, b = _universe()[:2]
    faults = {f"{a}|{MIDDLE}": "null_volume", f"{a}|{LAST}": "low_above_high", f"{b}|{LAST}": "null_volume"}
    resources = {"timescale": TimescaleResource(dsn=clean_db.dsn(Role.writer)),
                 "market_data": FaultyMarketData(source="synthetic", universe_size=4, faults=faults)}
    assert dg.materialize([stocks], resources=resources).success
    # A range run: the quarantine rows carry the range label, which is their original window.
    load = dg.materialize([stocks, price_history], selection=["market/price_history"], resources=resources,
                          tags=RANGE_TAGS)
    assert load.success
    metrics = {"timescale": resources["timescale"]}
    assert dg.materialize([price_metrics], resources=metrics).success  # covers the load itself

    quarantined = {(q["symbol"], q["date"]): q for q in _quarantine(clean_db).values()}
    assert set(quarantined) == {(a, MIDDLE), (a, LAST), (b, LAST)}
    for (symbol, day), q in quarantined.items():
        # row_data is one JSON object (not a JSON string inside JSON) naming the row it came from.
        assert q["json_type"] == "object" and q["row"]["symbol"] == symbol and q["row"]["date"] == day
        assert q["partition_key"] == f"{FIRST}...{LAST}"
    assert quarantined[(a, MIDDLE)]["rule"] == "missing_value"
    # Swapping low and high also puts open and close outside the range: every rule is named.
    inverted = "low_above_high,open_outside_range,close_outside_range"
    assert quarantined[(a, LAST)]["rule"] == inverted

    # Through the job: fix A's NULL volume; resubmit A's inverted bar unfixed. Both rows are A's, so
    # only matching by row (not by symbol) tells which one still fails and why.
    qa2, qa3, qb3 = (quarantined[k]["id"] for k in ((a, MIDDLE), (a, LAST), (b, LAST)))
    first = _run_job(clean_db, {"ids": [qa3], "fixes": [{"id": qa2, "set": {"volume": "1000"}}]})
    assert first.success
    out = first.output_for_node("resubmit_quarantined")
    assert out == 1
    state = _quarantine(clean_db)
    assert state[qa2]["resolved"] and state[qa2]["resolution"] == "resubmitted with volume=1000"
    assert not state[qa3]["resolved"] and state[qa3]["rule"] == inverted
    assert f"{a} {LAST}" in state[qa3]["detail"]

    # The original window still binds: moving B's bar out of the range the load covered is refused.
    original_time = state[qb3]["row"]["time"]
    with clean_db.connect() as conn:
        moved = resubmit(conn, ids=[qb3], patch={"date": "2024-07-08", "time": "2024-07-08T13:30:00+00:00"})
    assert moved.resubmitted_ids == [] and moved.still_failing[qb3] == "outside_window,missing_value"
    # Still open, and rule, detail and row_data all describe the row as fixed so far.
    moved_state = _quarantine(clean_db)[qb3]
    assert not moved_state["resolved"] and moved_state["rule"] == "outside_window,missing_value"
    assert moved_state["date"] == "2024-07-08" and "outside" in moved_state["detail"]

    # From a shell: put the bar back on its day and give it a volume.
    env = dict(os.environ, STOCKULA_DB_NAME=clean_db.name)
    proc = subprocess.run(
        [sys.executable, "-m", "stockula_pipelines.lib.ingest.resubmit", "--id", str(qb3),
         "--set", f"time={original_time}", "--set", f"date={LAST}", "--set", "volume=2000"],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "1 resubmitted" in proc.stdout

    # The inverted bar, fixed per id in the job: swap low and high back.
    row = state[qa3]["row"]
    fix = {"low_price": str(row["high_price"]), "high_price": str(row["low_price"])}
    assert _run_job(clean_db, {"fixes": [{"id": qa3, "set": fix}]}).success

    assert all(q["resolved"] for q in _quarantine(clean_db).values())
    with clean_db.connect() as conn:
        bars = {(s, d.isoformat()): v for s, d, v in conn.execute(
            "SELECT symbol, date, volume FROM market.price_history WHERE interval = '1d'")}
        logged = conn.execute(
            """
            SELECT interval, window_start, window_end, symbols FROM ops.ingest_log
            WHERE source = 'quarantine_resubmit' AND mode = 'upsert' ORDER BY ingest_id
            """
        ).fetchall()
        times = dict(conn.execute(
            "SELECT symbol || '|' || date, time FROM market.price_history WHERE symbol IN (%s, %s)", (a, b)))
    assert len(bars) == 12  # 4 symbols x 3 sessions: nothing missing any more
    assert bars[(a, MIDDLE)] == 1000 and bars[(b, LAST)] == 2000
    # Each resubmission logged the rows' own span and symbols, interval '1d', for the derived refreshes.
    assert [(i, s) for i, _, _, s in logged] == [("1d", [a]), ("1d", [b]), ("1d", [a])]
    assert logged[0][1] == times[f"{a}|{MIDDLE}"] and logged[0][2] > logged[0][1]
    assert logged[2][1] == times[f"{a}|{LAST}"]

    # The next price_metrics run sees the resubmissions' ingest-log rows and fills the fixed bars.
    refreshed = dg.materialize([price_metrics], resources=metrics)
    assert refreshed.success
    meta = refreshed.get_asset_materialization_events()[-1].materialization.metadata
    assert meta["loads_processed"].value == 3
    with clean_db.connect() as conn:
        derived = {(s, d.isoformat()): (r, adj) for s, d, r, adj in conn.execute(
            "SELECT symbol, date, daily_return, adj_close_price FROM market.price_history "
            "WHERE (symbol = %s AND date IN (%s, %s)) OR (symbol = %s AND date = %s)",
            (a, date.fromisoformat(MIDDLE), date.fromisoformat(LAST), b, date.fromisoformat(LAST)))}
    assert set(derived) == {(a, MIDDLE), (a, LAST), (b, LAST)}
    assert all(r is not None and adj is not None for r, adj in derived.values()), derived
