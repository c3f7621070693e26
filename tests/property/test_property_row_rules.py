"""The row rules (``validate``) over generated frames: every row is either valid or rejected with its
rules and a message, the counts add up, and every valid row satisfies what the table's constraints
and the loader demand."""

from __future__ import annotations

import math

import polars as pl
import pytest
from bad_input import GOOD_SYMBOLS, REGRESSIONS, WINDOW, frame_of, option_rows, price_rows
from hypothesis import example, given

from stockula_pipelines.lib.quality.rules import RULES, SYMBOL_PATTERN, validate

pytestmark = pytest.mark.property
KNOWN = set(GOOD_SYMBOLS)


def _accounted(table: str, frame: pl.DataFrame):
    result = validate(table, frame, window=WINDOW, known_symbols=KNOWN)
    counts = result.counts
    assert counts["input"] == frame.height
    assert counts["valid"] + counts["rejected"] + counts["identical_duplicates"] == frame.height
    assert (result.valid.height, result.rejected.height) == (counts["valid"], counts["rejected"])
    for rule, detail in result.rejected.select("rule", "detail").iter_rows():
        named = rule.split(",")
        assert named and set(named) <= set(RULES), rule
        assert all(f"(rule {r})" in detail for r in named), detail
    # Every row of the input is in one of the outputs (identical copies collapse to one).
    assert result.valid.unique().height == result.valid.height
    return result


def _finite_positive(value) -> bool:
    return value is not None and math.isfinite(value) and value > 0


@given(price_rows())
@example(REGRESSIONS[0])
@example(REGRESSIONS[1])
def test_every_bar_is_valid_or_rejected_and_valid_bars_keep_every_invariant(rows):
    result = _accounted("price_history", frame_of("price_history", rows))
    valid = result.valid
    assert valid.select(pl.struct("symbol", "interval", "time").is_duplicated().any()).item() is False
    for row in valid.iter_rows(named=True):
        o, h, lo, c = (row[k] for k in ("open_price", "high_price", "low_price", "close_price"))
        assert all(_finite_positive(v) for v in (o, h, lo, c)), row
        assert lo <= h and lo <= o <= h and lo <= c <= h, row
        assert row["volume"] is not None and row["volume"] >= 0, row
        assert math.isfinite(c * row["volume"]), row  # the stored trading_value
        assert row["date"] is not None and row["source"] is not None, row
        assert row["symbol"] in KNOWN and pl.Series([row["symbol"]]).str.contains(SYMBOL_PATTERN).item()
        assert WINDOW[0] <= row["time"] < WINDOW[1], row


@given(option_rows())
def test_every_contract_is_valid_or_rejected_and_valid_contracts_keep_every_invariant(rows):
    result = _accounted("options_calls", frame_of("options_calls", rows))
    for row in result.valid.iter_rows(named=True):
        assert _finite_positive(row["strike"]), row
        assert row["expiration_date"] >= row["snapshot_date"], row
        for quote in ("bid", "ask", "last_price"):
            assert row[quote] is None or row[quote] >= 0 or math.isnan(row[quote]), row
        for count in ("volume", "open_interest"):
            assert row[count] is None or row[count] >= 0, row
        assert row["contract_symbol"] and row["contract_symbol"].strip(), row


@given(price_rows(max_rows=4))
def test_a_frame_not_of_the_schema_is_refused_with_a_value_error_naming_the_table(rows):
    frame = frame_of("price_history", rows).with_columns(pl.lit("not a number").alias("open_price"))
    if frame.height == 0:
        return
    with pytest.raises(ValueError, match="price_history"):
        validate("price_history", frame)
    with pytest.raises(ValueError, match="lacks column"):
        validate("price_history", frame.drop("volume"))


@given(price_rows(max_rows=4))
def test_naive_timestamps_are_refused_rather_than_taken_for_utc(rows):
    frame = frame_of("price_history", rows).with_columns(pl.col("time").dt.replace_time_zone(None))
    with pytest.raises(ValueError, match="naive timestamps"):
        validate("price_history", frame)
