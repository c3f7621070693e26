"""FilesSource on the recorded sample in tests/fixtures/files_source, and its error messages."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from stockula_pipelines.lib.quality.rules import validate
from stockula_pipelines.lib.schemas import OPTIONS, PRICE_HISTORY, STOCKS
from stockula_pipelines.lib.sources.files import FilesSource, FilesSourceError

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "files_source"
MARCH = (datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 16, tzinfo=UTC))
ALL_TIME = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))


@pytest.fixture()
def source() -> FilesSource:
    return FilesSource(SAMPLE)


@pytest.fixture()
def copy(tmp_path) -> Path:
    target = tmp_path / "files"
    shutil.copytree(SAMPLE, target)
    return target


def test_universe_and_stocks(source):
    assert source.universe() == ["AAPL", "MSFT"]
    stocks = source.stocks()
    assert stocks.schema == pl.Schema(STOCKS)
    assert stocks.filter(pl.col("symbol") == "AAPL").row(0) == (
        "AAPL", "Apple Inc.", "Technology", "Consumer Electronics", 2632000000000, "NMS", "USD")
    assert source.stocks(["MSFT"])["symbol"].to_list() == ["MSFT"]


def test_daily_csv_and_parquet_prices(source):
    bars = source.price_bars(None, *MARCH, "1d")
    assert bars.schema == pl.Schema(PRICE_HISTORY)
    aapl = bars.filter(pl.col("symbol") == "AAPL")
    # 2024-03-11 is Yahoo's 'null' row: dropped; dates are 00:00 New York time in UTC
    assert aapl["date"].to_list() == [date(2024, 3, d) for d in (4, 5, 6, 7, 8)]
    assert aapl["time"][0] == datetime(2024, 3, 4, 5, tzinfo=UTC)
    assert aapl["close_price"][0] == 175.100006  # Close, not Adj Close
    msft = bars.filter(pl.col("symbol") == "MSFT")
    assert msft.height == 3 and msft["volume"].to_list() == [17596000, 26919200, 22344100]
    assert validate("price_history", bars, window=MARCH, known_symbols=set(source.universe())).rejected.height == 0


def test_window_is_half_open(source):
    bars = source.price_bars(["AAPL"], datetime(2024, 3, 5, 5, tzinfo=UTC), datetime(2024, 3, 7, 5, tzinfo=UTC), "1d")
    assert bars["date"].to_list() == [date(2024, 3, 5), date(2024, 3, 6)]


def test_intraday_prices_with_offsets(source):
    bars = source.price_bars(["AAPL"], *MARCH, "5m")
    assert bars["time"][0] == datetime(2024, 3, 5, 14, 30, tzinfo=UTC)
    assert bars.height == 4 and set(bars["interval"]) == {"5m"}
    assert source.price_bars(["MSFT"], *MARCH, "5m").height == 0  # no file: no data


def test_dividends_and_splits(source):
    divs = source.dividends(None, *ALL_TIME)
    assert divs["amount"].to_list() == [0.24, 0.24, 0.24]
    assert divs["time"][0] == datetime(2023, 8, 11, 4, tzinfo=UTC)  # EDT
    splits = source.splits(["AAPL"], *ALL_TIME)
    assert splits.select("ex_date", "ratio").rows() == [(date(2014, 6, 9), 7.0), (date(2020, 8, 31), 4.0)]


def test_option_chains_every_expiry(source):
    calls, puts = source.option_chains(None, date(2024, 3, 8))
    assert calls.schema == pl.Schema(OPTIONS)
    assert sorted(set(calls["expiration_date"])) == [date(2024, 3, 15), date(2024, 3, 22)]
    assert calls.height == 6 and puts.height == 4
    assert set(calls["time"]) == {datetime(2024, 3, 8, 21, tzinfo=UTC)} and set(calls["underlying_price"]) == {170.73}
    far = calls.filter(pl.col("strike") == 250.0).row(0, named=True)
    assert far["bid"] == 0.0 and far["volume"] is None
    assert source.option_chains(None, date(2024, 3, 7))[0].height == 0


def test_option_snapshot_defaults_to_session_close_and_daily_close(copy):
    (copy / "options" / "AAPL" / "2024-03-08" / "snapshot.json").unlink()
    calls, _ = FilesSource(copy).option_chains(["AAPL"], date(2024, 3, 8))
    assert set(calls["time"]) == {datetime(2024, 3, 8, 21, tzinfo=UTC)}  # 16:00 EST
    assert set(calls["fetched_at"]) == {datetime(2024, 3, 8, 21, tzinfo=UTC)}
    assert set(calls["underlying_price"]) == {170.729996}


def test_option_snapshot_time_is_the_close_and_snapshot_json_says_when_it_was_fetched(copy):
    # A chain recorded the next morning still belongs to the session it was the chain of.
    (copy / "options" / "AAPL" / "2024-03-08" / "snapshot.json").write_text(
        '{"time": "2024-03-09T14:05:00+00:00", "underlying_price": 170.73}')
    calls, puts = FilesSource(copy).option_chains(["AAPL"], date(2024, 3, 8))
    assert set(calls["time"]) == set(puts["time"]) == {datetime(2024, 3, 8, 21, tzinfo=UTC)}
    assert set(calls["fetched_at"]) == {datetime(2024, 3, 9, 14, 5, tzinfo=UTC)}


def test_a_file_vouches_for_its_empty_windows_and_no_file_for_none(copy):
    source = FilesSource(copy)
    feb = (datetime(2024, 2, 12, tzinfo=UTC), datetime(2024, 2, 17, tzinfo=UTC))
    assert source.dividends(["AAPL"], *MARCH).height == 0 and source.confirms_empty("dividends", "AAPL", *MARCH)
    assert source.confirms_empty("splits", "AAPL", *MARCH)
    assert not source.confirms_empty("dividends", "MSFT", *MARCH)  # no dividends/MSFT.csv: unknown
    assert not source.confirms_empty("bars", "AAPL", *feb)  # not asked: the interval is unknown
    assert source.price_bars(["AAPL"], *feb, "1d").height == 0 and source.confirms_empty("bars", "AAPL", *feb)
    assert source.price_bars(["MSFT"], *feb, "5m").height == 0
    assert not source.confirms_empty("bars", "MSFT", *feb)  # no prices_5m/MSFT.csv
    day = (datetime(2024, 3, 8, 5, tzinfo=UTC), datetime(2024, 3, 9, 5, tzinfo=UTC))
    assert source.confirms_empty("options", "AAPL", *day)  # a snapshot directory was recorded that day
    assert not source.confirms_empty("options", "AAPL", datetime(2024, 3, 7, 5, tzinfo=UTC), day[0])
    assert not source.confirms_empty("options", "MSFT", *day)


def test_bad_number_names_file_line_and_column(copy):
    path = copy / "prices" / "AAPL.csv"
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace("168.679993", "16B.68")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FilesSourceError, match=r"AAPL.csv: line 4, column Low: cannot parse '16B.68' as a number"):
        FilesSource(copy).price_bars(["AAPL"], *MARCH, "1d")


def test_bad_date_names_the_line(copy):
    path = copy / "dividends" / "AAPL.csv"
    path.write_text("Date,Dividends\n2023-08-11,0.24\n11/10/2023,0.24\n")
    with pytest.raises(FilesSourceError, match=r"line 3, column Date: cannot parse '11/10/2023' as a date"):
        FilesSource(copy).dividends(["AAPL"], *ALL_TIME)


def test_naive_intraday_timestamp_is_refused(copy):
    path = copy / "prices_5m" / "AAPL.csv"
    path.write_text("Datetime,Open,High,Low,Close,Adj Close,Volume\n2024-03-05 09:30:00,1,2,0.5,1.5,1.5,10\n")
    with pytest.raises(FilesSourceError, match=r"line 2, column Datetime: naive timestamp '2024-03-05 09:30:00'"):
        FilesSource(copy).price_bars(["AAPL"], *MARCH, "5m")


def test_missing_column_named(copy):
    (copy / "splits" / "AAPL.csv").write_text("Date,Ratio\n2020-08-31,4:1\n")
    with pytest.raises(FilesSourceError, match=r"splits/AAPL.csv: missing column\(s\) Stock Splits"):
        FilesSource(copy).splits(["AAPL"], *ALL_TIME)


def test_bad_split_ratio_and_fractional_forms(copy):
    (copy / "splits" / "AAPL.csv").write_text("Date,Stock Splits\n2020-08-31,1/10\n2021-01-04,2.5\n")
    assert FilesSource(copy).splits(["AAPL"], *ALL_TIME)["ratio"].to_list() == [0.1, 2.5]
    (copy / "splits" / "AAPL.csv").write_text("Date,Stock Splits\n2020-08-31,four:1\n")
    with pytest.raises(FilesSourceError, match=r"line 2, column Stock Splits: cannot parse 'four:1'"):
        FilesSource(copy).splits(["AAPL"], *ALL_TIME)


def test_bad_boolean_in_option_file(copy):
    path = copy / "options" / "AAPL" / "2024-03-08" / "puts_2024-03-22.csv"
    path.write_text(path.read_text().replace(",False,REGULAR", ",maybe,REGULAR"))
    with pytest.raises(FilesSourceError, match=r"puts_2024-03-22.csv: line 2, column inTheMoney: cannot parse 'maybe'"):
        FilesSource(copy).option_chains(["AAPL"], date(2024, 3, 8))


def test_missing_directory():
    with pytest.raises(FilesSourceError, match="is not a directory"):
        FilesSource("/nonexistent/stockula-files")


def test_path_like_symbols_cannot_escape_the_directory(source):
    with pytest.raises(FilesSourceError, match="cannot name a file"):
        source.price_bars(["../../etc/passwd"], *MARCH, "1d")


def test_market_data_resource_builds_the_files_source():
    from stockula_pipelines.resources.market_data import MarketDataResource

    resource = MarketDataResource(source="files", files_dir=str(SAMPLE))
    built = resource.get_source()
    assert isinstance(built, FilesSource) and built.universe() == ["AAPL", "MSFT"]
    assert built.split_adjusted  # Yahoo's exports are split-adjusted


def test_files_split_adjusted_setting_reaches_the_source():
    from stockula_pipelines.lib.sources import make_source
    from stockula_pipelines.settings import Settings

    assert make_source(Settings(source="files", files_dir=SAMPLE)).split_adjusted is True
    assert make_source(Settings(source="files", files_dir=SAMPLE, files_split_adjusted=False)).split_adjusted is False
