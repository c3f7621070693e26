"""lib/quality/rules.py: one test per rule, plus the shape of the quarantine frame."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import polars as pl
import pytest

from stockula_pipelines.lib.quality.rules import REJECTED_SCHEMA, RULES, validate
from stockula_pipelines.lib.schemas import conform

T0 = datetime(2024, 3, 5, 5, tzinfo=UTC)
WINDOW = (datetime(2024, 3, 5, tzinfo=UTC), datetime(2024, 3, 6, tzinfo=UTC))


def prices(**overrides) -> pl.DataFrame:
    row = {"time": T0, "symbol": "AAPL", "interval": "1d", "date": date(2024, 3, 5), "open_price": 100.0,
           "high_price": 101.0, "low_price": 99.0, "close_price": 100.5, "volume": 1000, "source": "test"}
    return conform(pl.DataFrame([{**row, **overrides}]), "price_history")


def options(**overrides) -> pl.DataFrame:
    row = {"time": T0, "snapshot_date": date(2024, 3, 5), "symbol": "AAPL", "contract_symbol": "AAPL240315C00170000",
           "expiration_date": date(2024, 3, 15), "strike": 170.0, "last_price": 2.5, "bid": 2.4, "ask": 2.6,
           "volume": 10, "open_interest": 100, "source_implied_volatility": 0.25, "in_the_money": False,
           "underlying_price": 170.7, "source": "test"}
    return conform(pl.DataFrame([{**row, **overrides}]), "options_calls")


def action(table: str, value: float, **overrides) -> pl.DataFrame:
    column = "amount" if table == "dividends" else "ratio"
    row = {"time": T0, "symbol": "AAPL", "ex_date": date(2024, 3, 5), column: value, "source": "test"}
    return conform(pl.DataFrame([{**row, **overrides}]), table)


def rejected_rules(table: str, frame: pl.DataFrame, **kwargs) -> list[str]:
    result = validate(table, frame, **kwargs)
    assert result.valid.height + result.rejected.height + result.counts["identical_duplicates"] == frame.height
    return result.rejected["rule"].to_list()


def test_clean_rows_pass():
    result = validate("price_history", prices(), window=WINDOW, known_symbols={"AAPL"})
    assert result.valid.height == 1 and result.rejected.height == 0
    assert result.rejected.schema == pl.Schema(REJECTED_SCHEMA)
    assert result.counts["input"] == 1 and result.counts["valid"] == 1


def test_missing_price():
    assert rejected_rules("price_history", prices(close_price=float("nan"))) == ["missing_price"]
    assert rejected_rules("price_history", prices(open_price=None)) == ["missing_price"]


def test_non_positive_price():
    assert rejected_rules("price_history", prices(open_price=0.0, low_price=0.0)) == ["non_positive_price"]


def test_low_above_high_detail_names_symbol_date_and_rule():
    result = validate("price_history", prices(low_price=101.2, high_price=100.9, open_price=101.0, close_price=101.0))
    row = result.rejected.row(0, named=True)
    assert row["rule"] == "low_above_high,open_outside_range,close_outside_range"
    assert row["detail"].startswith("AAPL 2024-03-05: low 101.2 > high 100.9 (rule low_above_high); ")
    assert row["symbol"] == "AAPL" and row["time"] == T0 and row["table_name"] == "price_history"
    assert json.loads(row["row_data"])["low_price"] == 101.2


def test_open_outside_range():
    assert rejected_rules("price_history", prices(open_price=102.0)) == ["open_outside_range"]


def test_close_outside_range():
    assert rejected_rules("price_history", prices(close_price=98.0)) == ["close_outside_range"]


def test_negative_volume():
    assert rejected_rules("price_history", prices(volume=-1)) == ["negative_volume"]
    assert rejected_rules("options_calls", options(open_interest=-5)) == ["negative_volume"]


def test_bid_above_ask_but_zero_quotes_allowed():
    assert rejected_rules("options_calls", options(bid=2.7, ask=2.6)) == ["bid_above_ask"]
    assert rejected_rules("options_puts", options(bid=0.0, ask=0.0)) == []
    assert rejected_rules("options_puts", options(bid=0.05, ask=0.0)) == []  # no offer is not a crossed market


def test_negative_quote():
    assert rejected_rules("options_calls", options(last_price=-0.01)) == ["negative_quote"]


def test_non_positive_strike():
    assert rejected_rules("options_calls", options(strike=0.0)) == ["non_positive_strike"]


def test_expired_before_snapshot():
    result = validate("options_calls", options(expiration_date=date(2024, 3, 1)))
    assert result.rejected["rule"].to_list() == ["expired_before_snapshot"]
    assert result.rejected["detail"][0] == ("AAPL 2024-03-05 AAPL240315C00170000: expiration 2024-03-01 before "
                                            "snapshot 2024-03-05 (rule expired_before_snapshot)")


def test_non_positive_amount():
    assert rejected_rules("dividends", action("dividends", 0.0)) == ["non_positive_amount"]
    assert rejected_rules("dividends", action("dividends", float("nan"))) == ["non_positive_amount"]


def test_non_positive_ratio():
    assert rejected_rules("splits", action("splits", -4.0)) == ["non_positive_ratio"]
    assert rejected_rules("splits", action("splits", 0.1)) == []  # a 1-for-10 reverse split is fine


def test_duplicate_key_rejects_all_differing_copies_and_collapses_identical_ones():
    differing = pl.concat([prices(), prices(close_price=100.7)])
    result = validate("price_history", differing)
    assert result.valid.height == 0 and result.rejected["rule"].to_list() == ["duplicate_key"] * 2
    identical = pl.concat([prices(), prices()])
    result = validate("price_history", identical)
    assert result.valid.height == 1 and result.rejected.height == 0
    assert result.counts["identical_duplicates"] == 1


def test_unknown_symbol():
    assert rejected_rules("price_history", prices(symbol="MSFT"), known_symbols={"AAPL"}) == ["unknown_symbol"]


def test_outside_window():
    late = datetime(2024, 3, 6, tzinfo=UTC)  # the window's end is exclusive
    result = validate("price_history", prices(time=late), window=WINDOW)
    assert result.rejected["rule"].to_list() == ["outside_window"]
    assert "time 2024-03-06T00:00:00Z outside [2024-03-05T00:00:00Z, 2024-03-06T00:00:00Z)" in result.rejected["detail"][0]
    assert validate("price_history", prices(time=WINDOW[0]), window=WINDOW).valid.height == 1


def test_empty_symbol():
    assert rejected_rules("price_history", prices(symbol="  ")) == ["empty_symbol"]
    assert rejected_rules("options_calls", options(contract_symbol="")) == ["empty_symbol"]


def test_missing_key():
    assert rejected_rules("price_history", prices(time=None)) == ["missing_key"]


def test_invalid_symbol_catches_sql_shaped_symbols_verbatim():
    evil = "'); drop table price_history; --"
    result = validate("price_history", prices(symbol=evil))
    row = result.rejected.row(0, named=True)
    assert row["rule"] == "invalid_symbol" and row["symbol"] == evil
    assert json.loads(row["row_data"])["symbol"] == evil
    for fine in ("BRK-B", "BRK.B", "^GSPC", "EURUSD=X"):
        assert rejected_rules("price_history", prices(symbol=fine)) == []


def test_stocks_table_has_no_time():
    frame = conform(pl.DataFrame([{"symbol": "aapl", "name": None, "sector": None, "industry": None,
                                   "market_cap": None, "exchange": None, "currency": None}]), "stocks")
    result = validate("stocks", frame, window=WINDOW)
    assert result.rejected.select("rule", "time").row(0) == ("invalid_symbol", None)


def test_counts_cover_every_applicable_rule_and_a_row_is_rejected_once():
    frame = pl.concat([prices(), prices(symbol="X Y", time=datetime(2024, 1, 1, tzinfo=UTC), volume=-1)])
    result = validate("price_history", frame, window=WINDOW, known_symbols={"AAPL"})
    assert result.rejected.height == 1
    assert result.rejected["rule"][0] == "invalid_symbol,unknown_symbol,outside_window,negative_volume"
    assert result.counts["negative_volume"] == 1 and result.counts["rejected"] == 1
    assert set(result.counts) - {"input", "valid", "rejected", "identical_duplicates"} <= set(RULES)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown table 'prices'"):
        validate("prices", prices())
    with pytest.raises(ValueError, match="naive"):
        validate("price_history", prices(), window=(datetime(2024, 3, 5), datetime(2024, 3, 6)))
