"""CheckSpec and CheckOutcome into Dagster's types through the one converter (no database)."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from stockula_pipelines.defs.quality.results import check_spec, partition_evaluation, to_check_result
from stockula_pipelines.lib.models import load_project, render_tests
from stockula_pipelines.lib.models.materialize import TestResult
from stockula_pipelines.lib.quality.results import CheckOutcome, CheckSpec
from stockula_pipelines.lib.quality.suites import MISSING_DAYS, TABLE_CHECKS

PACKAGE = Path(__file__).resolve().parents[2] / "stockula_pipelines"
WINDOW = (datetime(2024, 3, 8, 5, tzinfo=UTC), datetime(2024, 3, 9, 5, tzinfo=UTC))
KEY = dg.AssetKey(["market", "price_history"])


def test_a_spec_with_an_unknown_severity_is_refused():
    with pytest.raises(ValueError, match="no_nulls.*'error'"):
        CheckSpec("no_nulls", "nothing missing", severity="error")


def test_spec_becomes_a_check_spec_with_severity_and_blocking():
    spec = check_spec(KEY, MISSING_DAYS)
    assert (spec.name, spec.blocking, spec.description) == (MISSING_DAYS.name, True, MISSING_DAYS.description)
    assert spec.metadata == {"severity": "ERROR"}
    warn = {c.name: c for c in TABLE_CHECKS["price_history"]}["null_rate"]
    assert check_spec(KEY, warn).metadata == {"severity": "WARN"} and not check_spec(KEY, warn).blocking


def test_a_failed_suite_check_shows_counts_window_and_failed_expectations():
    failed = [{"expectation": "expect_column_values_to_be_between", "column": "volume", "unexpected_count": 2,
               "sample": [-1, -5]}]
    outcome = CheckOutcome.of(
        {c.name: c for c in TABLE_CHECKS["price_history"]}["value_bounds"], KEY.to_user_string(), passed=False,
        window=WINDOW, failing_count=2, total_count=50, observed_value=0.04,
        details={"failed_expectations": failed, "message": "volume below zero"})
    result = to_check_result(outcome)
    assert result.asset_key == KEY and result.check_name == "value_bounds" and not result.passed
    assert result.severity == dg.AssetCheckSeverity.ERROR
    meta = result.metadata
    assert set(meta) == {"failing_count", "window", "details", "total_count", "failing_rate",
                         "failing_expectations", "message"}
    assert meta["failing_count"] == dg.MetadataValue.int(2) and meta["failing_rate"] == dg.MetadataValue.float(0.04)
    assert meta["window"].value == "2024-03-08T05:00:00+00:00 .. 2024-03-09T05:00:00+00:00"
    assert isinstance(meta["failing_expectations"], dg.MarkdownMetadataValue)
    assert "| expect_column_values_to_be_between | volume | 2 |" in meta["failing_expectations"].value
    assert meta["details"].value["failed_expectations"] == failed
    assert result.description == ("market/price_history value_bounds [ERROR] window 2024-03-08T05:00:00+00:00.."
                                  "2024-03-09T05:00:00+00:00: FAILED (2 failing)")


def test_a_passed_whole_table_check_keeps_only_what_it_has():
    outcome = CheckOutcome.of(TABLE_CHECKS["stocks"][0], "market/stocks", passed=True, total_count=60)
    result = to_check_result(outcome)
    assert result.passed and set(result.metadata) == {"failing_count", "window", "details", "total_count"}
    assert result.metadata["window"].value == "whole table"


def test_a_curated_test_result_shows_failing_rows_test_and_query():
    project = load_project(PACKAGE.parent / "dbt_like_models")
    rendered = {r.name: r for r in render_tests(project.models["options_surface"])}["accepted_values_option_type"]
    outcome = TestResult(rendered=rendered, failing=3).outcome("curated/options_surface")
    assert (outcome.check_name, outcome.severity, outcome.blocking) == (
        "accepted_values_option_type", "ERROR", rendered.test.blocking)
    assert outcome.details == {"test": rendered.describe()} and outcome.failing_count == 3
    result = to_check_result(outcome)
    assert result.asset_key == dg.AssetKey(["curated", "options_surface"]) and not result.passed
    assert set(result.metadata) == {"failing_rows", "test", "query"}
    assert result.metadata["failing_rows"] == dg.MetadataValue.int(3)
    assert isinstance(result.metadata["query"], dg.MarkdownMetadataValue)
    assert result.metadata["query"].value.startswith("```sql\n") and "option_type" in result.metadata["query"].value


def test_a_partition_evaluation_carries_the_outcome_and_where_it_was_checked():
    outcome = CheckOutcome.of(MISSING_DAYS, KEY.to_user_string(), passed=False, window=WINDOW, failing_count=1)
    evaluation = partition_evaluation(outcome, "2024-03-08", "this partition", None)
    assert (evaluation.asset_key, evaluation.check_name, evaluation.partition) == (
        KEY, "no_missing_trading_days", "2024-03-08")
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert set(evaluation.metadata) == {"failing_count", "checked_in"}


def test_exactly_one_function_of_the_package_builds_an_asset_check_result():
    found = [(p.relative_to(PACKAGE).as_posix(), line) for p in sorted(PACKAGE.rglob("*.py"))
             for line in p.read_text(encoding="utf-8").splitlines() if "AssetCheckResult(" in line]
    assert [path for path, _ in found] == ["defs/quality/results.py"], found
