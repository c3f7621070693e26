"""lib/sources/normalize.py on frames shaped as yfinance returns them."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import polars as pl
import pytest
import yfinance.utils
from fixtures.fake_yfinance import chain_frame, daily_frame, download_frame, option_rows

from stockula_pipelines.lib.schemas import DIVIDENDS, OPTIONS, PRICE_HISTORY, SPLITS, STOCKS
from stockula_pipelines.lib.sources.normalize import (
    NormalizationError,
    download_from_pandas,
    history_from_pandas,
    option_chain_frame,
    stock_from_info,
)

NY = "America/New_York"
INJECTION = "'); drop table price_history; --"
AAPL = [("2024-03-07", 169.15, 170.73, 168.49, 169.0, 71765100),
        ("2024-03-08", 169.0, 173.7, 168.94, 170.73, 76114600)]
MSFT = [("2024-03-08", 407.96, 410.42, 404.33, 406.22, 18100000),
        ("2024-03-11", 403.76, 405.68, 401.26, 404.52, 16120800)]


def test_history_frame_maps_columns_and_types():
    h = history_from_pandas(daily_frame(AAPL), "AAPL", interval="1d", exchange_tz=NY)
    assert h.prices.schema == pl.Schema(PRICE_HISTORY)
    assert h.prices.select("open_price", "high_price", "low_price", "close_price", "volume").row(0) == (
        169.15, 170.73, 168.49, 169.0, 71765100)
    assert h.dividends.schema == pl.Schema(DIVIDENDS) and h.dividends.height == 0
    assert h.splits.schema == pl.Schema(SPLITS) and h.splits.height == 0


def test_download_multiindex_price_ticker_in_utc():
    data = download_frame({"AAPL": daily_frame(AAPL), "MSFT": daily_frame(MSFT)}, group_by="column", tz="UTC")
    assert data.columns.names == ["Price", "Ticker"] and str(data.index.tz) == "UTC"
    h = download_from_pandas(data, interval="1d", exchange_tz=NY)
    got = {(r["symbol"], r["date"]): r["time"] for r in h.prices.iter_rows(named=True)}
    assert got == {
        ("AAPL", date(2024, 3, 7)): datetime(2024, 3, 7, 5, tzinfo=UTC),
        ("AAPL", date(2024, 3, 8)): datetime(2024, 3, 8, 5, tzinfo=UTC),
        ("MSFT", date(2024, 3, 8)): datetime(2024, 3, 8, 5, tzinfo=UTC),
        ("MSFT", date(2024, 3, 11)): datetime(2024, 3, 11, 4, tzinfo=UTC),
    }
    # each ticker was re-indexed onto the other's days: those all-NaN rows are dropped and counted
    assert h.dropped_all_nan == 2


def test_download_grouped_by_ticker():
    data = download_frame({"AAPL": daily_frame(AAPL), "MSFT": daily_frame(MSFT)}, group_by="ticker", tz=NY)
    h = download_from_pandas(data, interval="1d", exchange_tz=NY)
    assert sorted(set(h.prices["symbol"])) == ["AAPL", "MSFT"] and h.prices.height == 4


def test_flat_download_needs_the_symbol():
    with pytest.raises(NormalizationError, match="pass the symbol"):
        download_from_pandas(daily_frame(AAPL), interval="1d", exchange_tz=NY)
    assert download_from_pandas(daily_frame(AAPL), interval="1d", exchange_tz=NY, symbol="AAPL").prices.height == 2


def test_capital_gains_column_is_ignored_and_actions_extracted():
    frame = daily_frame(AAPL, dividends={"2024-03-08": 0.24}, splits={"2024-03-07": 0.1}, capital_gains=True)
    h = history_from_pandas(frame, "VFIAX", interval="1d", exchange_tz=NY)
    assert h.dividends.select("ex_date", "amount").rows() == [(date(2024, 3, 8), 0.24)]
    assert h.splits.select("ex_date", "ratio").rows() == [(date(2024, 3, 7), 0.1)]


def test_action_on_an_all_nan_price_row_survives_the_drop():
    frame = daily_frame(AAPL, dividends={"2024-03-08": 0.24})
    frame.loc[frame.index[1], ["Open", "High", "Low", "Close", "Adj Close"]] = np.nan
    h = history_from_pandas(frame, "AAPL", interval="1d", exchange_tz=NY)
    assert h.prices.height == 1 and h.dropped_all_nan == 1
    assert h.dividends["amount"].to_list() == [0.24]


def test_yfinance_empty_df_gives_empty_typed_frames():
    h = history_from_pandas(yfinance.utils.empty_df(), "HOLIDAY", interval="1d", exchange_tz=NY)
    assert h.prices.schema == pl.Schema(PRICE_HISTORY) and h.prices.height == 0
    assert history_from_pandas(None, "X", interval="1d", exchange_tz=NY).prices.height == 0


def test_nan_volume_becomes_null():
    frame = daily_frame(AAPL)
    frame["Volume"] = frame["Volume"].astype("float64")
    frame.loc[frame.index[0], "Volume"] = np.nan
    h = history_from_pandas(frame, "AAPL", interval="1d", exchange_tz=NY)
    assert h.prices["volume"].to_list() == [None, 76114600]


def test_naive_index_rejected_naming_the_symbol():
    frame = daily_frame(AAPL)
    frame.index = frame.index.tz_localize(None)
    with pytest.raises(NormalizationError, match=r"^MSFT: naive timestamps in the Date index"):
        history_from_pandas(frame, "MSFT", interval="1d", exchange_tz=NY)


def test_non_datetime_index_rejected():
    with pytest.raises(NormalizationError, match="AAPL: expected a Date/Datetime index"):
        history_from_pandas(pd.DataFrame({"Open": [1.0]}), "AAPL", interval="1d", exchange_tz=NY)


def test_missing_column_named():
    with pytest.raises(NormalizationError, match="AAPL: price frame lacks column.*Volume"):
        history_from_pandas(daily_frame(AAPL).drop(columns=["Volume"]), "AAPL", interval="1d", exchange_tz=NY)


def test_sql_injection_shaped_symbol_passes_through_untouched():
    h = history_from_pandas(daily_frame(AAPL), INJECTION, interval="1d", exchange_tz=NY)
    assert set(h.prices["symbol"]) == {INJECTION}
    assert stock_from_info({"longName": INJECTION}, INJECTION).row(0)[:2] == (INJECTION, INJECTION)


def test_option_chain_frame():
    rows = option_rows("AAPL", "2024-03-15", "C", [170, 250], {1: {"bid": 0.0, "ask": 0.0, "volume": None}})
    out = option_chain_frame(chain_frame(rows), symbol="AAPL", expiration_date=date(2024, 3, 15),
                             snapshot_date=date(2024, 3, 8), snapshot_time=datetime(2024, 3, 8, 21, tzinfo=UTC),
                             underlying_price=170.73)
    assert out.schema == pl.Schema(OPTIONS)
    assert set(out["fetched_at"]) == {datetime(2024, 3, 8, 21, tzinfo=UTC)}  # a recording that does not say
    assert out.select("contract_symbol", "strike", "bid", "ask", "volume", "in_the_money").rows() == [
        ("AAPL240315C00170000", 170.0, 2.4, 2.6, 100, True), ("AAPL240315C00250000", 250.0, 0.0, 0.0, None, False)]
    with pytest.raises(NormalizationError, match="naive"):
        option_chain_frame(chain_frame(rows), symbol="AAPL", expiration_date=date(2024, 3, 15),
                           snapshot_date=date(2024, 3, 8), snapshot_time=datetime(2024, 3, 8), underlying_price=None)
    assert option_chain_frame(None, symbol="AAPL", expiration_date=date(2024, 3, 15), snapshot_date=date(2024, 3, 8),
                              snapshot_time=datetime(2024, 3, 8, tzinfo=UTC), underlying_price=None).height == 0


def test_stock_from_info_falls_back_and_nulls():
    row = stock_from_info({"shortName": "SPDR S&P 500", "marketCap": float("nan"), "currency": "USD"}, "SPY")
    assert row.schema == pl.Schema(STOCKS)
    assert row.row(0) == ("SPY", "SPDR S&P 500", None, None, None, None, "USD")
    with pytest.raises(NormalizationError, match="SPY: marketCap 'big'"):
        stock_from_info({"marketCap": "big"}, "SPY")


def test_split_history_unadjusts_by_the_splits_after_each_bar():
    from stockula_pipelines.lib.sources.yahoo_adjust import split_history

    # AAPL's splits before 2020 (2, 2, 2, 7): a 1987-06-15 bar is shown divided by 2*2*2*7 = 56, one
    # on the ex-date 1987-06-16 already traded split, so it is shown divided by 28 only.
    history = split_history([(date(1987, 6, 16), 2.0), (date(2000, 6, 21), 2.0), (date(2005, 2, 28), 2.0),
                             (date(2014, 6, 9), 7.0)])
    frame = daily_frame([("1987-06-15", 1.0, 1.0, 1.0, 1.0, 5600), ("1987-06-16", 1.0, 1.0, 1.0, 1.0, 2800),
                         ("2014-06-09", 93.7, 94.0, 93.0, 93.7, 75415000)],
                        dividends={"1987-06-15": 0.001}, splits={"1987-06-16": 2.0})
    h = history_from_pandas(frame, "AAPL", interval="1d", exchange_tz=NY, split_history=history)
    assert h.prices["close_price"].to_list() == [56.0, 28.0, 93.7]
    assert h.prices["volume"].to_list() == [100, 100, 75415000]
    assert h.dividends["amount"].to_list() == [pytest.approx(0.056)]
    assert h.splits["ratio"].to_list() == [2.0]  # split rows are never adjusted
    raw = history_from_pandas(frame, "AAPL", interval="1d", exchange_tz=NY)
    assert raw.prices["close_price"].to_list() == [1.0, 1.0, 93.7]  # no history: taken as raw


def test_a_reverse_split_multiplies_volume_and_divides_price():
    from stockula_pipelines.lib.sources.yahoo_adjust import split_history

    # 1-for-10 (ratio 0.1): Yahoo shows earlier bars multiplied by 10 and volumes divided by 10.
    frame = daily_frame([("2024-03-07", 20.0, 21.0, 19.0, 20.0, 1000), ("2024-03-08", 2.1, 2.2, 2.0, 2.1, 9000)],
                        splits={"2024-03-08": 0.1})
    h = history_from_pandas(frame, "X", interval="1d", exchange_tz=NY,
                            split_history=split_history([(date(2024, 3, 8), 0.1)]))
    assert h.prices["close_price"].to_list() == [pytest.approx(2.0), 2.1]
    assert h.prices["volume"].to_list() == [10000, 9000]


def test_intraday_bars_unadjust_by_their_exchange_date():
    from fixtures.fake_yfinance import intraday_frame

    from stockula_pipelines.lib.sources.yahoo_adjust import split_history

    # 19:55 New York on 2024-06-07 is 2024-06-07 23:55 UTC: still before NVDA's 10:1 of 2024-06-10
    frame = intraday_frame([("2024-06-07 19:55", 120.9, 121.0, 120.8, 120.9, 1000),
                            ("2024-06-10 09:30", 120.4, 121.0, 120.0, 120.9, 5000)])
    h = history_from_pandas(frame, "NVDA", interval="5m", exchange_tz=NY,
                            split_history=split_history([(date(2024, 6, 10), 10.0)]))
    assert h.prices["close_price"].to_list() == [pytest.approx(1209.0), 120.9]
    assert h.prices["volume"].to_list() == [100, 5000]


def test_option_rows_keep_the_snapshot_time_and_the_fetch_time_apart():
    rows = option_rows("AAPL", "2024-03-15", "C", [170])
    out = option_chain_frame(chain_frame(rows), symbol="AAPL", expiration_date=date(2024, 3, 15),
                             snapshot_date=date(2024, 3, 8), snapshot_time=datetime(2024, 3, 8, 21, tzinfo=UTC),
                             fetched_at=datetime(2024, 3, 9, 14, tzinfo=UTC), underlying_price=170.73)
    assert out.select("time", "fetched_at").row(0) == (datetime(2024, 3, 8, 21, tzinfo=UTC),
                                                       datetime(2024, 3, 9, 14, tzinfo=UTC))
    with pytest.raises(NormalizationError, match="fetch time"):
        option_chain_frame(chain_frame(rows), symbol="AAPL", expiration_date=date(2024, 3, 15),
                           snapshot_date=date(2024, 3, 8), snapshot_time=datetime(2024, 3, 8, 21, tzinfo=UTC),
                           fetched_at=datetime(2024, 3, 9, 14), underlying_price=None)
