"""The top rung of the test ladder: every asset, every asset check and every job of the code location's
definitions runs through Dagster, against the test database, over a small window of synthetic data.

The ``ladder`` fixture loads the window the way the schedules do (reference data, a month of
corporate actions, four daily partitions as one range run, the end-of-day job for the fifth day, the
last intraday window of that day) and then runs everything downstream, the freshness checks, the
quarantine re-submission and the operations jobs. The coverage test compares what those runs
materialised, evaluated and executed with the definitions: an asset, check or job added to the code
location without a run here fails it, by name.

The other tests feed defects in through the source (never by writing a table), so each one passes the
normalisation, row validation, quarantine and load a real feed's would, and show that the check
guarding against it fails -- then that it passes again once the source is fixed.
"""

from __future__ import annotations

from datetime import date

import dagster as dg
import polars as pl
import pytest
from conftest import TestDatabase, empty_data_tables
from ladder_support import IMPLICIT_JOB, Fault, Ladder, Run, clean_source

from stockula_pipelines.definitions import defs
from stockula_pipelines.partitions import partition_window

pytestmark = pytest.mark.integration

MONTH = "2025-06"  # corporate actions: FALF goes ex-dividend on 2025-06-23
RANGE = ("2025-06-02", "2025-06-05")  # Monday..Thursday, one range run
EOD = "2025-06-06"  # Friday: bars and option chains of the end-of-day job
INTRADAY = "2025-06-06-15:30"  # the day's last window, 15:30-16:00 New York
SYMBOLS = ("AURS", "BLUM", "COBA", "DRIM", "EMBM", "FALF")  # the synthetic universe of six
CROSSED = "EMBM"  # one of its intraday bars comes with the low above the high
OHLC = ("open_price", "high_price", "low_price", "close_price")
NO_SPLITS = {"market/splits", "curated/stg_splits"}
ALERT = {"severity": "warning", "name": "ladder_alert", "message": "raised by the test ladder"}
OPERATIONS = ("physical_backup_full_job", "physical_backup_incr_job", "logical_backup_job", "backup_drill_job",
              "maintenance_job", "health_report_job")


def _crossed_bar(bars: pl.DataFrame) -> pl.DataFrame:
    """The 19:40 UTC bar with its low one above its high (rejected by low_above_high and the range rules)."""
    bad = pl.col("time").dt.minute() == 40
    return bars.with_columns(pl.when(bad).then(pl.col("high_price") + 1).otherwise(pl.col("low_price")).alias("low_price"))


def _crossed_original_low() -> float:
    bars = clean_source().price_bars([CROSSED], *partition_window(INTRADAY), "5m")
    return bars.filter(pl.col("time").dt.minute() == 40)["low_price"].item()


def _derived(ladder: Ladder) -> list[str]:
    """Every unpartitioned asset but the reference data (its own job, first) and the curated models (their
    own job, after)."""
    curated = set(ladder.unpartitioned(groups=["curated"]))
    return [k for k in ladder.unpartitioned(exclude=["market/stocks"]) if k not in curated]


@pytest.fixture(scope="module")
def ladder(test_db: TestDatabase) -> Ladder:
    empty_data_tables(test_db)
    ladder = Ladder(test_db)
    assert clean_source().universe() == list(SYMBOLS)
    ladder.job("reference_data_job")
    ladder.job("corporate_actions_job", partition=MONTH)
    ladder.job("daily_bars_job", partition_range=RANGE)
    ladder.job("end_of_day_job", partition=EOD)
    ladder.job("options_job", partition=EOD)  # the chains' re-load: same day, same rows
    with ladder.faults(Fault("price_history_intraday", CROSSED, _crossed_bar)):
        ladder.job("intraday_job", partition=INTRADAY)
    ladder.assets(*_derived(ladder), label="derived")
    ladder.job("curated_models_job")
    ladder.job("freshness_checks_job")
    fix = {"table": "price_history", "symbol": CROSSED, "patch": {"low_price": str(_crossed_original_low())}}
    ladder.job("resubmit_quarantine_job", run_config={"ops": {"resubmit_quarantined": {"config": fix}}})
    for name in OPERATIONS:
        ladder.job(name)
    ladder.job("ops_alert_job", run_config={"ops": {"send_alert": {"config": {"source": "ladder", "alerts": [ALERT]}}}})
    ladder.clean_runs = list(ladder.runs)  # the coverage is judged on these, whatever later tests add
    return ladder


def _run(ladder: Ladder, label: str) -> Run:
    (run,) = [r for r in ladder.clean_runs if r.label == label]
    return run


# --- coverage ---------------------------------------------------------------------------------------
def _not_run(definitions: dg.Definitions, runs: list[Run]) -> list[str]:
    """Each asset, asset check and job of ``definitions`` that none of ``runs`` materialised, evaluated or
    executed, by name."""
    graph = definitions.resolve_asset_graph()
    assets = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    jobs = {j.name for j in definitions.resolve_all_job_defs()} - {IMPLICIT_JOB}
    materialised = set().union(*(r.materialized for r in runs))
    evaluated = {dg.AssetCheckKey(e.asset_key, e.check_name) for r in runs for e in r.evaluations}
    executed = {r.result.dagster_run.job_name for r in runs}
    return (
        [f"asset {k.to_user_string()}" for k in sorted(assets - materialised, key=str)]
        + [f"check {c.asset_key.to_user_string()}:{c.name}" for c in sorted(set(graph.asset_check_keys) - evaluated,
                                                                          key=str)]
        + [f"job {j}" for j in sorted(jobs - executed)]
    )


def test_every_asset_check_and_job_of_the_definitions_runs_in_the_ladder(ladder: Ladder):
    graph = defs.resolve_asset_graph()
    assert len(graph.get_all_asset_keys()) >= 30 and len(graph.asset_check_keys) >= 127  # the definitions loaded
    missing = _not_run(defs, ladder.clean_runs)
    assert not missing, "not run through Dagster by the ladder: " + ", ".join(missing)


def test_the_coverage_comparison_names_what_the_ladder_did_not_run(ladder: Ladder):
    @dg.asset(key=["market", "new_table"], check_specs=[dg.AssetCheckSpec("new_rule", asset=["market", "new_table"])])
    def new_table():
        yield dg.MaterializeResult()

    @dg.op
    def noop():
        pass

    @dg.job
    def new_job():
        noop()

    grown = dg.Definitions.merge(defs, dg.Definitions(assets=[new_table], jobs=[new_job]))
    assert _not_run(grown, ladder.clean_runs) == [
        "asset market/new_table", "check market/new_table:new_rule", "job new_job"]


def test_every_run_of_the_clean_window_succeeds(ladder: Ladder):
    failed = {r.label: r.step_errors()[:400] for r in ladder.clean_runs if not r.result.success}
    assert not failed, failed


def test_the_clean_window_passes_every_check_except_freshness(ladder: Ladder):
    failing = sorted({f"{e.asset_key.to_user_string()}:{e.check_name}@{e.partition}"
                      for r in ladder.clean_runs for e in r.evaluations if not e.passed})
    stale = [f for f in failing if f.split("@")[0].endswith(":freshness")]
    assert failing == stale, failing
    # The window is a year and more behind the clock, so every freshness check says so, naming the session.
    freshness = _run(ladder, "freshness_checks_job").evaluations
    assert len(freshness) == 4 and not any(e.passed for e in freshness)
    for e in freshness:
        details = e.metadata["details"].value
        assert e.severity == dg.AssetCheckSeverity.WARN
        assert details["latest_session"] == EOD and details["expected_session"] > EOD
        assert e.metadata["failing_count"].value > 0 and "stale" in details["message"]


def test_every_asset_of_the_window_reports_rows(ladder: Ladder):
    rows = {}
    for run in ladder.clean_runs:
        for event in run.result.get_asset_materialization_events():
            meta = event.materialization.metadata
            if "dagster/row_count" in meta:
                rows[event.asset_key.to_user_string()] = meta["dagster/row_count"].value
    empty = {k for k, v in rows.items() if not v}
    # The synthetic universe splits only within eight years of STOCKULA_HISTORY_START (2000): no split in
    # 2025. The split defect below loads one.
    assert empty == NO_SPLITS, f"assets that materialised no rows over the ladder window: {empty - NO_SPLITS}"
    assert rows["market/stocks"] == len(SYMBOLS)
    assert rows["market/price_history"] == len(SYMBOLS)  # the end-of-day partition
    assert rows["market/price_history_intraday"] == len(SYMBOLS) * 6 - 1  # six 5-minute bars, one quarantined
    range_run = _run(ladder, "daily_bars_job").meta("market/price_history")
    assert range_run["rows_in_run"] == len(SYMBOLS) * 4 and range_run["run_partitions"] == 4
    assert _run(ladder, "corporate_actions_job").meta("market/dividends")["symbols_changed"] == ["FALF"]


def test_a_range_run_records_each_partitions_check_result(ladder: Ladder):
    run = _run(ladder, "daily_bars_job")
    for day in ("2025-06-02", "2025-06-03", "2025-06-04", "2025-06-05"):
        for check in ("no_duplicates", "ohlc_consistent", "no_missing_trading_days"):
            assert run.evaluation("market/price_history", check, day).passed


def test_a_quarantined_bar_is_reported_and_resubmitted_through_dagster(ladder: Ladder):
    load = _run(ladder, "intraday_job").meta("market/price_history_intraday")
    assert load["rows_quarantined"] == 1 and load["quarantined_by_rule"]["low_above_high"] == 1
    report = _run(ladder, "derived").meta("quality/quarantine_report")
    assert report["open_rows"] == 1 and report["symbols"] == 1
    resubmitted = _run(ladder, "resubmit_quarantine_job").output_meta("resubmit_quarantined")
    assert resubmitted["selected"] == 1 and resubmitted["resubmitted"] == 1 and resubmitted["still_failing"] == 0
    with ladder.db.connect() as conn:
        bars = conn.execute("SELECT count(*), min(low_price) FILTER (WHERE extract(minute FROM time) = 40) "
                            "FROM market.price_history WHERE symbol = %s AND interval = '5m'", (CROSSED,)).fetchone()
    assert bars == (6, _crossed_original_low())


def test_the_operations_jobs_back_up_verify_and_alert(ladder: Ladder):
    full = _run(ladder, "physical_backup_full_job").output_meta("physical_backup")
    incr = _run(ladder, "physical_backup_incr_job").output_meta("physical_backup")
    logical = _run(ladder, "logical_backup_job").output_meta("logical_backup")
    assert (full["kind"], incr["kind"], logical["kind"]) == ("full", "incr", "logical")
    assert all(m["size_bytes"] > 0 and m["tables"] > 10 for m in (full, incr, logical))
    drill = _run(ladder, "backup_drill_job").output_meta("verification_drill")
    assert drill["passed"] is True and drill["backup_id"] == logical["backup_id"] and drill["mismatches"] == 0
    assert {"ops/backups", "ops/backup_verifications"} <= {
        k.to_user_string() for k in set().union(*(_run(ladder, n).materialized for n in OPERATIONS))}
    assert _run(ladder, "maintenance_job").output_meta("maintenance")["tasks"].startswith("vacuum")
    alert_run = _run(ladder, "ops_alert_job").result
    logged = [entry.user_message for entry in ladder.instance.all_logs(alert_run.run_id)]
    assert any(f"ALERT warning ladder_alert: {ALERT['message']}" in m for m in logged)


# --- each check can fail: a defect from the source, then the source fixed ----------------------------
def _scaled(factor: float, when: pl.Expr | None = None):
    def change(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(*(
            (pl.col(c) * factor if when is None else pl.when(when).then(pl.col(c) * factor).otherwise(pl.col(c))).alias(c)
            for c in OHLC))
    return change


def _set(**values):
    def change(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(*(pl.lit(v, frame.schema[c]).alias(c) for c, v in values.items()))
    return change


def _without_day(day: str):
    def change(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.filter(pl.col("date") != date.fromisoformat(day))
    return change


def _with_split(symbol: str, day: str, ratio: float):
    def change(frame: pl.DataFrame) -> pl.DataFrame:
        row = {"time": [partition_window(day)[0]], "symbol": [symbol], "ex_date": [date.fromisoformat(day)],
               "ratio": [ratio], "source": ["synthetic"]}
        return pl.concat([frame, pl.DataFrame(row).cast(dict(frame.schema))])
    return change


# (case, faults, job, partition or range, [(asset, check, partition of the failing evaluation, expectation
#  column or offending symbol named in the details)])
DEFECTS = [
    ("price_above_bounds", [Fault("price_history", "AURS", _scaled(15_000))], "daily_bars_job", "2025-06-05",
     [("market/price_history", "value_bounds", "2025-06-05", "close_price"),
      ("market/price_history", "price_jump_without_split", "2025-06-05", "AURS")]),
    ("jump_without_split", [Fault("price_history", "BLUM", _scaled(1.5))], "daily_bars_job", "2025-06-04",
     [("market/price_history", "price_jump_without_split", "2025-06-04", "BLUM")]),
    ("skipped_session", [Fault("price_history", "COBA", _without_day("2025-06-03"))], "daily_bars_job", RANGE,
     [("market/price_history", "no_missing_trading_days", None, "COBA")]),
    ("skipped_last_session", [Fault("price_history", "COBA", _without_day("2025-06-05"))], "daily_bars_job", RANGE,
     [("market/price_history", "no_missing_trading_days", None, "2025-06-05")]),
    ("intraday_jump", [Fault("price_history_intraday", "DRIM", _scaled(1.5, pl.col("time").dt.minute() == 45))],
     "intraday_job", INTRADAY,
     [("market/price_history_intraday", "price_jump_without_split", INTRADAY, "DRIM")]),
    ("option_iv_and_missing_underlying", [
        Fault("options_calls", "EMBM", _set(source_implied_volatility=7.5)),
        Fault("options_puts", "EMBM", _set(underlying_price=None))], "end_of_day_job", EOD,
     [("market/options_calls", "value_bounds", EOD, "source_implied_volatility"),
      ("market/options_puts", "null_rate", EOD, "underlying_price")]),
    ("dividend_above_bounds", [Fault("dividends", "FALF", _set(amount=600_000.0))], "corporate_actions_job", MONTH,
     [("market/dividends", "value_bounds", MONTH, "amount")]),
    ("split_ratio_above_bounds", [Fault("splits", "COBA", _with_split("COBA", "2025-06-04", 5_000.0))],
     "corporate_actions_job", MONTH,
     [("market/splits", "value_bounds", MONTH, "ratio")]),
    ("stock_without_sector", [Fault("stocks", "AURS", _set(sector=None))], "reference_data_job", None,
     [("market/stocks", "null_rate", None, "sector")]),
]


def _load(ladder: Ladder, job: str, where, label: str) -> Run:
    if isinstance(where, tuple):
        return ladder.job(job, partition_range=where, label=label)
    return ladder.job(job, partition=where, label=label)


def _named(evaluation: dg.AssetCheckEvaluation, what: str) -> bool:
    """``what`` (a column of a failed expectation, or a symbol) appears in the evaluation's details."""
    details = evaluation.metadata["details"].value
    columns = {f.get("column") for f in details.get("failed_expectations", [])}
    return what in columns or what in str(details)


@pytest.mark.parametrize("case,faults,job,where,expected", DEFECTS, ids=[d[0] for d in DEFECTS])
def test_a_defect_from_the_source_fails_its_check_until_the_source_is_fixed(ladder, case, faults, job, where,
                                                                            expected):
    try:
        with ladder.faults(*faults):
            bad = _load(ladder, job, where, f"{case}: defect")
        for asset, check, partition, named in expected:
            evaluation = bad.evaluation(asset, check, partition)
            assert not evaluation.passed, (case, asset, check, partition)
            if named is not None:
                assert _named(evaluation, named), (case, check, evaluation.metadata["details"].value)
    finally:
        fixed = _load(ladder, job, where, f"{case}: fixed")
    assert fixed.result.success, fixed.step_errors()
    for asset, check, partition, _what in expected:
        assert fixed.evaluation(asset, check, partition).passed, (case, asset, check, partition)


def test_contracts_without_quotes_fail_the_iv_coverage_check_of_the_greeks(ladder: Ladder):
    no_quotes = _set(bid=0.0, ask=0.0, last_price=0.0)
    try:
        with ladder.faults(Fault("options_calls", "FALF", no_quotes), Fault("options_puts", "FALF", no_quotes)):
            assert ladder.job("end_of_day_job", partition=EOD, label="no quotes: load").result.success
        greeks = ladder.assets("analytics/option_greeks", label="no quotes: greeks")
        coverage = greeks.evaluation("analytics/option_greeks", "iv_coverage")
        assert not coverage.passed and coverage.severity == dg.AssetCheckSeverity.WARN
        assert coverage.metadata["failing_rate"].value > 0.1
        assert "rule: iv_coverage" in coverage.metadata["message"].value
        # The unsolved contracts say why; nothing else of the Greeks' checks is affected.
        assert greeks.evaluation("analytics/option_greeks", "greeks_status_consistent").passed
        assert greeks.evaluation("analytics/option_greeks", "greeks_within_bounds").passed
    finally:
        assert ladder.job("end_of_day_job", partition=EOD, label="quotes back: load").result.success
    again = ladder.assets("analytics/option_greeks", label="quotes back: greeks")
    assert again.evaluation("analytics/option_greeks", "iv_coverage").passed


def test_a_dividend_above_the_previous_close_fails_the_price_metrics_naming_symbol_date_and_rule(ladder: Ladder):
    # 1,000 per share passes the row rules and the dividends suite (0 < amount <= 500,000), but no
    # adjustment factor can be built from it: FALF closes at about 387.
    try:
        with ladder.faults(Fault("dividends", "FALF", _set(amount=1_000.0))):
            assert ladder.job("corporate_actions_job", partition=MONTH, label="huge dividend: load").result.success
        metrics = ladder.assets("analytics/price_metrics", label="huge dividend: metrics")
        assert not metrics.result.success
        errors = metrics.step_errors()
        assert "FALF 2025-06-23: dividend 1000.0 must be below the previous close" in errors
    finally:
        assert ladder.job("corporate_actions_job", partition=MONTH, label="dividend fixed: load").result.success
    fixed = ladder.assets("analytics/price_metrics", label="dividend fixed: metrics")
    assert fixed.result.success
    assert all(e.passed for e in fixed.evaluations)


@pytest.mark.parametrize("days", [RANGE, (RANGE[0], "2025-06-03")], ids=["inside_the_range", "last_of_the_range"])
def test_a_range_run_files_a_skipped_session_on_the_day_it_is_missing(ladder: Ladder, days: tuple[str, str]):
    day = "2025-06-03"  # no other test of this module loads it on its own
    try:
        with ladder.faults(Fault("price_history", "COBA", _without_day(day))):
            bad = ladder.job("daily_bars_job", partition_range=days, label=f"gap on {day} of {days}: defect")
        assert not bad.evaluation("market/price_history", "no_missing_trading_days", day).passed
    finally:
        assert ladder.job("daily_bars_job", partition_range=days, label=f"gap on {day} of {days}: fixed").result.success
