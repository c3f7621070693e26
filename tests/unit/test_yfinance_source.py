"""YFinanceSource against a fake yfinance module (Yahoo's network is unreachable here)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pytest
import requests
import yfinance
from fixtures.fake_yfinance import (
    FakeYFinance,
    Options,
    chain_frame,
    daily_frame,
    intraday_frame,
    option_rows,
)

from stockula_pipelines.lib.schemas import OPTIONS, PRICE_HISTORY, STOCKS
from stockula_pipelines.lib.sources import SourceConfigError, SourceError, make_source
from stockula_pipelines.lib.sources.normalize import NormalizationError
from stockula_pipelines.lib.sources.yfinance_source import SourceRateLimitError, YFinanceSource
from stockula_pipelines.settings import Settings

MARCH = (datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 16, tzinfo=UTC))
AAPL_ROWS = [
    ("2024-03-08", 169.0, 173.7, 168.94, 170.73, 76114600),  # EST: 00:00 NY = 05:00 UTC
    ("2024-03-11", 172.94, 174.38, 172.05, 172.75, 60139500),  # EDT from 2024-03-10: 04:00 UTC
    ("2024-03-12", 173.15, 174.03, 171.01, 173.23, 59825400),
]


AAPL_SPLITS = {"1987-06-16": 2.0, "2000-06-21": 2.0, "2005-02-28": 2.0, "2014-06-09": 7.0, "2020-08-31": 4.0}


def make(fake: FakeYFinance, **kwargs) -> tuple[YFinanceSource, list[float]]:
    sleeps: list[float] = []
    kwargs.setdefault("symbols", ["AAPL"])
    source = YFinanceSource(yf_module=fake, sleep=sleeps.append, rng=random.Random(7),
                            clock=lambda: datetime(2024, 3, 8, 21, 0, 5, tzinfo=UTC), **kwargs)
    return source, sleeps


@pytest.fixture()
def fake() -> FakeYFinance:
    fake = FakeYFinance()
    # AAPL's last split (4:1) was ex 2020-08-31: these 2024 bars are shown as they traded.
    fake.histories[("AAPL", "1d")] = daily_frame(AAPL_ROWS, dividends={"2024-03-11": 0.24})
    fake.split_histories["AAPL"] = AAPL_SPLITS
    return fake


def test_daily_bars_are_raw_utc_at_exchange_midnight(fake):
    source, _ = make(fake)
    bars = source.price_bars(None, *MARCH, "1d")
    assert bars.schema == pl.Schema(PRICE_HISTORY)
    assert bars["time"].to_list() == [
        datetime(2024, 3, 8, 5, tzinfo=UTC), datetime(2024, 3, 11, 4, tzinfo=UTC), datetime(2024, 3, 12, 4, tzinfo=UTC)]
    assert bars["date"].to_list() == [date(2024, 3, 8), date(2024, 3, 11), date(2024, 3, 12)]
    assert bars["close_price"].to_list() == [170.73, 172.75, 173.23]  # Close, not Adj Close
    assert bars["volume"].to_list() == [76114600, 60139500, 59825400]
    assert set(bars["source"]) == {"yfinance"}
    call, complete = fake.history_kwargs
    assert call["auto_adjust"] is False and call["actions"] is True and call["interval"] == "1d"
    assert complete["period"] == "max" and complete["actions"] is True  # the split history, same moment


def test_intraday_index_in_exchange_time_keeps_the_exchange_trading_date(fake):
    fake.histories[("AAPL", "5m")] = intraday_frame([
        ("2024-03-08 15:55", 170.5, 170.9, 170.4, 170.73, 2100000),
        ("2024-03-08 19:55", 170.8, 170.8, 170.7, 170.75, 12000),  # after hours: 00:55 UTC the next day
    ])
    source, _ = make(fake)
    bars = source.price_bars(["AAPL"], datetime(2024, 3, 8, 14, tzinfo=UTC), datetime(2024, 3, 9, 2, tzinfo=UTC), "5m")
    assert bars["time"].to_list() == [datetime(2024, 3, 8, 20, 55, tzinfo=UTC), datetime(2024, 3, 9, 0, 55, tzinfo=UTC)]
    assert bars["date"].to_list() == [date(2024, 3, 8), date(2024, 3, 8)]
    assert bars["interval"].to_list() == ["5m", "5m"]


def test_dividends_and_stock_splits_columns_become_action_rows(fake):
    # A made-up 4:1 split ex 2024-03-12 inside the window: Yahoo shows the bars and the dividend
    # before it divided by 4, so they come back multiplied by 4; the split row itself is as shown.
    fake.histories[("AAPL", "1d")] = daily_frame(AAPL_ROWS, dividends={"2024-03-11": 0.24},
                                                 splits={"2024-03-12": 4.0})
    fake.split_histories["AAPL"] = {**AAPL_SPLITS, "2024-03-12": 4.0}
    source, _ = make(fake)
    divs = source.dividends(None, *MARCH)
    splits = source.splits(None, *MARCH)
    assert divs.select("symbol", "ex_date", "amount").rows() == [("AAPL", date(2024, 3, 11), 0.96)]
    assert divs["time"][0] == datetime(2024, 3, 11, 4, tzinfo=UTC)
    assert splits.select("ex_date", "ratio").rows() == [(date(2024, 3, 12), 4.0)]
    bars = source.price_bars(None, *MARCH, "1d")
    assert bars["close_price"].to_list() == [170.73 * 4, 172.75 * 4, 173.23]
    assert bars["volume"].to_list() == [76114600 // 4, 60139500 // 4, 59825400]


def test_empty_history_for_a_holiday_or_delisted_symbol_is_an_empty_typed_frame(fake):
    source, _ = make(fake, symbols=["GONE"])
    bars = source.price_bars(None, *MARCH, "1d")
    assert bars.height == 0 and bars.schema == pl.Schema(PRICE_HISTORY)
    assert source.dividends(None, *MARCH).height == 0
    assert fake.calls["history_max"] == 0  # nothing to un-adjust: the split history is not asked for
    # yfinance answers an error with the same empty frame: nothing here vouches for an empty window
    assert not any(source.confirms_empty(k, "GONE", *MARCH) for k in ("bars", "dividends", "splits", "options"))


def test_only_a_window_whose_bars_arrived_confirms_its_empty_actions(fake):
    fake.histories[("AAPL", "1d")] = daily_frame(AAPL_ROWS)  # no dividend, no split in March
    source, _ = make(fake)
    assert not source.confirms_empty("dividends", "AAPL", *MARCH)  # not asked yet: nothing to vouch for
    assert source.dividends(["AAPL"], *MARCH).height == 0 and source.splits(["AAPL"], *MARCH).height == 0
    assert source.confirms_empty("dividends", "AAPL", *MARCH) and source.confirms_empty("splits", "AAPL", *MARCH)
    assert not source.confirms_empty("dividends", "AAPL", MARCH[0], datetime(2024, 3, 9, tzinfo=UTC))
    assert not source.confirms_empty("bars", "AAPL", *MARCH)  # empty bars can always be a hidden error
    assert not source.confirms_empty("options", "AAPL", *MARCH)


def test_a_split_history_that_fails_or_comes_back_empty_fails_the_symbol(fake):
    fake.fail_first("AAPL", "history_max", KeyError("chart"))
    source, _ = make(fake)
    with pytest.raises(SourceError, match=r"yfinance AAPL: history\(period=max\) failed: KeyError"):
        source.price_bars(["AAPL"], *MARCH, "1d")
    source, _ = make(fake)
    source.yf.Ticker = lambda symbol, real=fake.Ticker: _MaxEmpty(real(symbol))
    with pytest.raises(SourceError, match=r"AAPL: history\(period=max\) \(the split history\) came back without prices"):
        source.price_bars(["AAPL"], *MARCH, "1d")


class _MaxEmpty:
    """A ticker whose complete history hides an error as yfinance does: an empty frame."""

    def __init__(self, ticker) -> None:
        self.ticker = ticker

    def history(self, **kwargs):
        return yfinance.utils.empty_df() if kwargs.get("period") == "max" else self.ticker.history(**kwargs)


def test_window_splits_disagreeing_with_the_split_history_are_refused(fake):
    # The window shows a split the (older) history does not know: un-adjusting would be off by 4.
    fake.histories[("AAPL", "1d")] = daily_frame(AAPL_ROWS, splits={"2024-03-12": 4.0})
    source, _ = make(fake)
    with pytest.raises(SourceError, match=r"AAPL: history\(1d\): the window's Stock Splits \[2024-03-12 x4\] "
                                          r"disagree with the split history's \[none\]"):
        source.splits(["AAPL"], *MARCH)


def test_all_nan_rows_dropped_and_counted(fake):
    frame = daily_frame(AAPL_ROWS)
    frame.iloc[1, frame.columns.get_indexer(["Open", "High", "Low", "Close", "Adj Close"])] = np.nan
    fake.histories[("AAPL", "1d")] = frame
    source, _ = make(fake)
    bars = source.price_bars(None, *MARCH, "1d")
    assert bars["date"].to_list() == [date(2024, 3, 8), date(2024, 3, 12)]
    assert source.last_stats["dropped_all_nan"] == 1


def test_duplicated_last_row_keeps_the_last_copy(fake):
    frame = daily_frame(AAPL_ROWS)
    live = frame.iloc[[-1]].copy()
    live["Close"], live["Volume"] = 173.5, 61000000
    fake.histories[("AAPL", "1d")] = __import__("pandas").concat([frame, live])
    source, _ = make(fake)
    bars = source.price_bars(None, *MARCH, "1d")
    assert bars.height == 3
    assert bars.row(-1, named=True)["close_price"] == 173.5
    assert source.last_stats["dropped_duplicates"] == 1


def test_naive_timestamps_are_rejected_naming_the_symbol(fake):
    frame = daily_frame(AAPL_ROWS)
    frame.index = frame.index.tz_localize(None)  # what download(ignore_tz=True) gives
    fake.histories[("AAPL", "1d")] = frame
    source, _ = make(fake)
    with pytest.raises(NormalizationError, match="AAPL: naive timestamps"):
        source.price_bars(None, *MARCH, "1d")


def test_rate_limit_is_retried_with_jittered_backoff_then_succeeds(fake):
    fake.fail_first("AAPL", "history", yfinance.exceptions.YFRateLimitError(),
                    yfinance.exceptions.YFRateLimitError())
    source, sleeps = make(fake, max_retries=3, base_delay=1.0)
    bars = source.price_bars(None, *MARCH, "1d")
    assert bars.height == 3
    assert fake.calls["history"] == 3
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 1.0 and 0 <= sleeps[1] <= 2.0  # full jitter within base * 2**attempt


def test_http_429_from_requests_counts_as_a_rate_limit(fake):
    response = requests.Response()
    response.status_code = 429
    fake.fail_first("AAPL", "info", requests.HTTPError("429 Client Error", response=response))
    fake.infos["AAPL"] = {"longName": "Apple Inc."}
    source, sleeps = make(fake)
    assert source.stocks()["name"].to_list() == ["Apple Inc."]
    assert len(sleeps) == 1


def test_rate_limit_retries_exhausted_raise_a_clear_error(fake):
    fake.fail_first("AAPL", "history", *[yfinance.exceptions.YFRateLimitError() for _ in range(10)])
    source, sleeps = make(fake, max_retries=2)
    with pytest.raises(SourceRateLimitError, match=r"yfinance AAPL: history\(1d\) still rate limited .* after 3 attempts"):
        source.price_bars(None, *MARCH, "1d")
    assert fake.calls["history"] == 3 and len(sleeps) == 2


def test_other_errors_surface_at_once_naming_the_symbol(fake):
    fake.fail_first("AAPL", "history", KeyError("chart"))
    source, sleeps = make(fake)
    with pytest.raises(SourceError, match=r"yfinance AAPL: history\(1d\) failed: KeyError"):
        source.price_bars(None, *MARCH, "1d")
    assert sleeps == [] and fake.calls["history"] == 1


def _chains(fake: FakeYFinance) -> None:
    expiries = ["2024-03-15", "2024-03-22", "2024-04-19"]
    fake.chains["AAPL"] = {}
    for expiry in expiries:
        calls = option_rows("AAPL", expiry, "C", [165, 170, 250], {2: {"bid": 0.0, "ask": 0.0, "volume": None}})
        puts = option_rows("AAPL", expiry, "P", [165, 100], {1: {"volume": None, "openInterest": None}})
        fake.chains["AAPL"][expiry] = Options(chain_frame(calls), chain_frame(puts),
                                              {"regularMarketPrice": 170.73, "symbol": "AAPL"})


def test_option_chains_are_fetched_for_every_expiry(fake):
    _chains(fake)
    source, _ = make(fake)
    calls, puts = source.option_chains(None, date(2024, 3, 8))
    assert fake.calls["option_chain"] == 3 and fake.calls["options"] == 1
    assert calls.schema == pl.Schema(OPTIONS) and puts.schema == pl.Schema(OPTIONS)
    assert sorted(set(calls["expiration_date"])) == [date(2024, 3, 15), date(2024, 3, 22), date(2024, 4, 19)]
    assert calls.height == 9 and puts.height == 6
    assert set(calls["time"]) == {datetime(2024, 3, 8, 21, tzinfo=UTC)}  # the session's close: its identity
    assert set(calls["fetched_at"]) == set(puts["fetched_at"]) == {datetime(2024, 3, 8, 21, 0, 5, tzinfo=UTC)}
    assert set(calls["underlying_price"]) == {170.73}
    assert calls["contract_symbol"][0] == "AAPL240315C00165000"


def test_zero_bid_ask_kept_and_nan_volume_open_interest_become_null(fake):
    _chains(fake)
    source, _ = make(fake)
    calls, puts = source.option_chains(None, date(2024, 3, 8))
    far = calls.filter(pl.col("strike") == 250.0).row(0, named=True)
    assert (far["bid"], far["ask"], far["volume"]) == (0.0, 0.0, None)
    deep = puts.filter(pl.col("strike") == 100.0).row(0, named=True)
    assert deep["volume"] is None and deep["open_interest"] is None


def test_an_option_chain_of_another_session_is_refused(fake):
    _chains(fake)
    monday = YFinanceSource(yf_module=fake, symbols=["AAPL"], clock=lambda: datetime(2024, 3, 11, 15, tzinfo=UTC))
    with pytest.raises(SourceError, match=r"^yfinance AAPL: option chain for 2024-03-08 cannot be fetched on "
                                          r"2024-03-11T15:00Z: Yahoo serves only the chain of the current session "
                                          r"\(2024-03-11\); there is no history$"):
        monday.option_chains(["AAPL"], date(2024, 3, 8))
    with pytest.raises(SourceError, match=r"chain for 2024-03-12 cannot be fetched .* \(2024-03-11\)"):
        monday.option_chains(["AAPL"], date(2024, 3, 12))  # the future is not served either
    assert fake.calls["options"] == 0 and fake.calls["option_chain"] == 0


def test_an_option_chain_fetched_before_the_next_open_is_the_last_sessions(fake):
    _chains(fake)
    # Saturday, and Monday before the open (13:29 UTC, EDT): Friday's session is still the current one.
    for now in (datetime(2024, 3, 9, 12, tzinfo=UTC), datetime(2024, 3, 11, 13, 29, tzinfo=UTC)):
        source = YFinanceSource(yf_module=fake, symbols=["AAPL"], clock=lambda now=now: now)
        calls, _ = source.option_chains(["AAPL"], date(2024, 3, 8))
        assert set(calls["time"]) == {datetime(2024, 3, 8, 21, tzinfo=UTC)}
        assert set(calls["fetched_at"]) == {now} and set(calls["snapshot_date"]) == {date(2024, 3, 8)}
    during = YFinanceSource(yf_module=fake, symbols=["AAPL"], clock=lambda: datetime(2024, 3, 11, 15, tzinfo=UTC))
    assert set(during.option_chains(["AAPL"], date(2024, 3, 11))[0]["time"]) == {datetime(2024, 3, 11, 20, tzinfo=UTC)}


def test_an_empty_expiry_list_gives_no_chain(fake):
    source, _ = make(fake)  # no chains scripted: Ticker.options is ()
    calls, puts = source.option_chains(["AAPL"], date(2024, 3, 8))
    assert calls.height == puts.height == 0 and calls.schema == pl.Schema(OPTIONS)


def test_stocks_from_info(fake):
    fake.infos["AAPL"] = {"longName": "Apple Inc.", "shortName": "Apple", "sector": "Technology",
                          "industry": "Consumer Electronics", "marketCap": 2632000000000.0,
                          "exchange": "NMS", "currency": "USD"}
    source, _ = make(fake)
    stocks = source.stocks()
    assert stocks.schema == pl.Schema(STOCKS)
    assert stocks.row(0) == ("AAPL", "Apple Inc.", "Technology", "Consumer Electronics", 2632000000000, "NMS", "USD")


def test_naive_window_is_refused(fake):
    source, _ = make(fake)
    with pytest.raises(SourceError, match="naive"):
        source.price_bars(None, datetime(2024, 3, 1), datetime(2024, 3, 2, tzinfo=UTC), "1d")


def test_make_source_chooses_by_settings(tmp_path):
    from stockula_pipelines.lib.cache import NullCache
    from stockula_pipelines.lib.sources.files import FilesSource

    assert isinstance(make_source(Settings(source="files", files_dir=tmp_path)), FilesSource)
    assert make_source(Settings(source="synthetic", synthetic_universe_size=3)).name == "synthetic"
    yf_source = make_source(Settings(source="yfinance", symbols="aapl,msft"), cache=NullCache())
    assert isinstance(yf_source, YFinanceSource) and yf_source.universe() == ["AAPL", "MSFT"]
    with pytest.raises(SourceConfigError, match="STOCKULA_FILES_DIR"):
        make_source(Settings(source="files", files_dir=None))
    with pytest.raises(SourceConfigError, match="is not a directory"):
        make_source(Settings(source="files", files_dir=tmp_path / "missing"))
