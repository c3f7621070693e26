"""Model .yml parsing: the documented grain, column tests, and clear errors naming the file."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from stockula_pipelines.lib.models import ModelConfigError, parse_model_yml

GOOD = """
name: thing
description: "Things. Grain: one row per symbol per day."
materialized: table
tests:
  - unique: {columns: [symbol, day], name: unique_symbol_day}
  - expression: "a <= b"
columns:
  - name: symbol
    data_type: text
    description: The symbol.
    tests:
      - not_null
      - relationships: {to: curated.stg_stocks, field: symbol, severity: warn}
  - name: day
    data_type: date
    description: The day.
    tests: [not_null, unique]
  - name: kind
    data_type: text
    description: Kind.
    tests:
      - accepted_values: [call, put]
  - name: a
    data_type: float8
    description: A.
    tests:
      - expression: {sql: "a >= 0", blocking: true}
  - name: b
    data_type: double precision
    description: B.
"""


def _write(tmp_path: Path, text: str, name: str = "thing") -> Path:
    path = tmp_path / f"{name}.yml"
    path.write_text(textwrap.dedent(text))
    return path


def test_good_yml_parses_with_defaults(tmp_path):
    spec = parse_model_yml(_write(tmp_path, GOOD))
    assert spec.materialized == "table" and "Grain: one row per symbol per day." in spec.description
    tests = {t.name: t for t in spec.all_tests}
    assert set(tests) == {"not_null_symbol", "relationships_symbol", "not_null_day", "unique_day",
                          "accepted_values_kind", "expression_a", "unique_symbol_day", "expression"}
    assert tests["unique_symbol_day"].columns == ("symbol", "day") and tests["unique_symbol_day"].blocking
    assert tests["not_null_symbol"].blocking and not tests["relationships_symbol"].blocking
    assert tests["relationships_symbol"].severity == "warn" and tests["relationships_symbol"].to == "curated.stg_stocks"
    assert tests["accepted_values_kind"].values == ("call", "put")
    assert tests["expression_a"].blocking and tests["expression_a"].sql == "a >= 0"
    assert tests["expression"].sql == "a <= b" and tests["expression"].columns == ()


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("      - not_null\n", "      - not_nul\n", "unknown test 'not_nul'"),
        ("materialized: table", "materialized: incremental", "materialized: must be one of"),
        ("Grain: one row per symbol per day.", "Some things.", "must state the grain"),
        ("name: thing", "name: other", "must equal the file name"),
        ("[call, put]", "{values: []}", "non-empty `values"),
        ("field: symbol, severity: warn", "field: symbol, severity: fatal", "severity must be one of"),
        ("to: curated.stg_stocks", "to: stg_stocks", "must be schema-qualified"),
        ("columns: [symbol, day]", "columns: [symbol, nope]", "unknown column(s) ['nope']"),
        ("    data_type: date\n", "", "data_type is required"),
        ("  - expression: \"a <= b\"", "  - accepted_values: [x]", "unknown test 'accepted_values'"),
        ("      - expression: {sql: \"a >= 0\", blocking: true}", "      - expression: {sql: \"a >= 0\", when: x}",
         "unknown argument(s) ['when']"),
    ],
)
def test_malformed_yml_names_file_and_problem(tmp_path, old, new, message):
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(ModelConfigError) as info:
        parse_model_yml(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_invalid_yaml_names_file(tmp_path):
    path = _write(tmp_path, "name: [unclosed\n")
    with pytest.raises(ModelConfigError, match="not valid YAML") as info:
        parse_model_yml(path)
    assert str(path) in str(info.value)


def test_duplicate_test_names_are_refused(tmp_path):
    text = GOOD.replace("{columns: [symbol, day], name: unique_symbol_day}", "{columns: [symbol, day], name: unique_day}")
    with pytest.raises(ModelConfigError, match=r"duplicate test name\(s\) \['unique_day'\]"):
        parse_model_yml(_write(tmp_path, text))


def test_fills_must_map_known_columns(tmp_path):
    text = GOOD + "fills:\n  table: analytics.t\n  key: [date]\n  columns: {date: day, x: missing}\n"
    with pytest.raises(ModelConfigError, match=r"fills.columns: unknown model column\(s\) \['missing'\]"):
        parse_model_yml(_write(tmp_path, text))
