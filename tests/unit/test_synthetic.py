"""The deterministic synthetic source: reproducible, internally consistent, calendar-true data."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import numpy as np
import polars as pl
import pytest

from stockula_pipelines.lib import calendar as cal
from stockula_pipelines.lib import schemas
from stockula_pipelines.lib.quant.black_scholes import bsm_price
from stockula_pipelines.lib.sources.base import MarketDataSource, SourceError
from stockula_pipelines.lib.sources.synthetic import SyntheticSource

NY = cal.exchange_tz()
# Around Thanksgiving 2024: a holiday, an early close and a weekend inside one window.
WEEK = (datetime(2024, 11, 25, tzinfo=UTC), datetime(2024, 12, 4, tzinfo=UTC))
HISTORY = (datetime(2018, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))


@pytest.fixture(scope="module")
def src() -> SyntheticSource:
    return SyntheticSource(seed=42)


@pytest.fixture(scope="module")
def history(src) -> pl.DataFrame:
    return src.price_bars(None, *HISTORY, "1d").sort("symbol", "time")


def assert_schema(frame: pl.DataFrame, table: str) -> None:
    assert frame.schema == pl.Schema(schemas.TABLES[table][0])


def test_implements_the_source_protocol(src):
    assert isinstance(src, MarketDataSource)
    assert src.name == "synthetic"


def test_universe_and_stocks(src):
    symbols = src.universe()
    assert len(symbols) == 50 == len(set(symbols))
    stocks = src.stocks()
    assert_schema(stocks, "stocks")
    assert stocks["symbol"].to_list() == symbols
    assert stocks["currency"].unique().to_list() == ["USD"]
    assert stocks["sector"].n_unique() == 11
    assert (stocks["market_cap"] > 1_000_000_000).all()
    assert SyntheticSource(universe_size=60).universe()[:50] == symbols  # a bigger universe extends


def test_same_seed_gives_identical_frames(src):
    other = SyntheticSource(seed=42)
    for interval in ("1d", "5m"):
        assert src.price_bars(["AURS", "COBA"], *WEEK, interval).equals(other.price_bars(["AURS", "COBA"], *WEEK, interval))
    assert src.option_chains(["BLUM"], date(2024, 11, 29))[0].equals(other.option_chains(["BLUM"], date(2024, 11, 29))[0])
    assert src.dividends(None, *HISTORY).equals(other.dividends(None, *HISTORY))
    assert not SyntheticSource(seed=7).price_bars(["AURS"], *WEEK, "1d").equals(src.price_bars(["AURS"], *WEEK, "1d"))


@pytest.mark.parametrize("interval", ["1d", "1m", "15m"])
def test_windows_and_subsets_agree_on_shared_rows(interval):
    wide = SyntheticSource(seed=42).price_bars(None, *WEEK, interval)
    start = datetime(2024, 11, 27, 15, 7, tzinfo=UTC)
    narrow = SyntheticSource(seed=42).price_bars(["ZEPR", "AURS"], start, WEEK[1], interval)
    expected = wide.filter(pl.col("symbol").is_in(["ZEPR", "AURS"]) & (pl.col("time") >= start))
    assert narrow.height > 0
    assert narrow.sort("symbol", "time").equals(expected.sort("symbol", "time"))


def test_windows_are_half_open(src):
    day_start, day_end = cal.trading_day_window(date(2024, 11, 26))
    daily = src.price_bars(["AURS"], day_start, day_end, "1d")
    assert daily["date"].to_list() == [date(2024, 11, 26)]
    before = src.price_bars(["AURS"], day_start - timedelta(days=1), day_start, "1d")
    assert before["date"].to_list() == [date(2024, 11, 25)]  # the end bound is exclusive
    opened, _ = cal.session_open_close(date(2024, 11, 26))
    bars = src.price_bars(["AURS"], opened, opened + timedelta(minutes=10), "5m")
    assert bars["time"].to_list() == [opened, opened + timedelta(minutes=5)]


def test_daily_bars_conform_and_are_consistent(history):
    assert_schema(history, "price_history")
    assert history["symbol"].n_unique() == 50
    ok = (
        (pl.col("low_price") <= pl.min_horizontal("open_price", "close_price"))
        & (pl.col("high_price") >= pl.max_horizontal("open_price", "close_price"))
        & (pl.col("low_price") > 0)
        & (pl.col("volume") > 0)
    )
    assert history.filter(~ok).is_empty()


def test_daily_bars_only_on_trading_days_stamped_at_local_midnight(history):
    days = history["date"].unique().sort().to_list()
    assert days == cal.trading_days(date(2018, 1, 2), date(2025, 12, 31))
    stamps = history.select(pl.col("time").dt.convert_time_zone("America/New_York").alias("t"), "date")
    assert stamps.filter((pl.col("t").dt.date() != pl.col("date")) | (pl.col("t").dt.time() != time(0))).is_empty()


@pytest.mark.parametrize("interval", ["1m", "5m", "30m", "60m"])
def test_intraday_bars_stay_in_session_and_aggregate_to_the_daily_bar(src, interval):
    bars = src.price_bars(None, *WEEK, interval)
    assert_schema(bars, "price_history")
    assert set(bars["date"].unique().to_list()) == set(cal.trading_days(date(2024, 11, 25), date(2024, 12, 3)))
    sessions = pl.DataFrame(
        [(d, *cal.session_open_close(d)) for d in cal.trading_days(date(2024, 11, 25), date(2024, 12, 3))],
        schema={"date": pl.Date, "open": schemas.UTC_TS, "close": schemas.UTC_TS}, orient="row",
    )
    placed = bars.join(sessions, on="date")
    assert placed.height == bars.height
    assert placed.filter((pl.col("time") < pl.col("open")) | (pl.col("time") >= pl.col("close"))).is_empty()
    assert bars.filter(pl.col("low_price") > pl.min_horizontal("open_price", "close_price")).is_empty()
    assert bars.filter(pl.col("high_price") < pl.max_horizontal("open_price", "close_price")).is_empty()

    agg = bars.sort("time").group_by("symbol", "date").agg(
        pl.col("open_price").first(), pl.col("high_price").max(), pl.col("low_price").min(),
        pl.col("close_price").last(), pl.col("volume").sum(),
    )
    daily = src.price_bars(None, *WEEK, "1d").drop("time", "interval", "source")
    assert agg.sort("symbol", "date").equals(daily.select(agg.columns).sort("symbol", "date"))


def test_early_close_and_dst_days_have_the_right_bar_counts(src):
    bars = src.price_bars(["AURS"], datetime(2024, 3, 8, tzinfo=UTC), datetime(2024, 3, 12, tzinfo=UTC), "5m")
    first = bars.group_by("date").agg(pl.col("time").min()).sort("date")
    assert first["time"].to_list() == [datetime(2024, 3, 8, 14, 30, tzinfo=UTC), datetime(2024, 3, 11, 13, 30, tzinfo=UTC)]
    day_after = src.price_bars(["AURS"], *cal.trading_day_window(date(2024, 11, 29)), "1m")
    assert day_after.height == 210 and day_after["time"].max() == datetime(2024, 11, 29, 17, 59, tzinfo=UTC)
    hourly = src.price_bars(["AURS"], *cal.trading_day_window(date(2024, 11, 26)), "60m")
    assert hourly.height == 7  # 09:30 ... 15:30, the last one half an hour long


def test_splits_move_raw_prices_by_the_ratio(src, history):
    splits = src.splits(None, datetime(2018, 1, 1, tzinfo=UTC), datetime(2029, 1, 1, tzinfo=UTC))
    assert_schema(splits, "splits")
    assert 3 <= splits.height <= 8
    prev = history.with_columns(pl.col("close_price").shift(1).over("symbol").alias("prev_close"),
                                pl.col("volume").rolling_mean(20).shift(1).over("symbol").alias("prev_volume"))
    seen = splits.join(prev, left_on=["symbol", "ex_date"], right_on=["symbol", "date"])
    assert seen.height >= 3
    jump = (seen["prev_close"] / seen["open_price"]) / seen["ratio"]
    assert ((jump > 0.85) & (jump < 1.15)).all(), seen
    midnight = splits.select(pl.col("time").dt.convert_time_zone("America/New_York").dt.time()).to_series()
    assert set(midnight.to_list()) == {time(0)}


def test_dividends_are_quarterly_and_lower_the_open(src, history):
    divs = src.dividends(None, *HISTORY)
    assert_schema(divs, "dividends")
    payers = divs["symbol"].n_unique()
    assert 20 <= payers <= 40  # about 60% of 50
    gaps = divs.sort("symbol", "ex_date").with_columns(pl.col("ex_date").diff().over("symbol").dt.total_days().alias("gap"))
    assert gaps.drop_nulls("gap").filter((pl.col("gap") < 80) | (pl.col("gap") > 100)).is_empty()
    per_year = divs.group_by("symbol", pl.col("ex_date").dt.year()).agg(pl.col("amount").n_unique().alias("n"))
    assert (per_year["n"] == 1).all()  # a regular dividend: one amount per calendar year
    assert (divs["amount"] >= 0.01).all()
    assert set(divs["ex_date"].to_list()) <= set(history["date"].to_list())
    joined = divs.join(history.with_columns(pl.col("close_price").shift(1).over("symbol").alias("prev")),
                       left_on=["symbol", "ex_date"], right_on=["symbol", "date"])
    drop_over_amount = ((joined["prev"] - joined["open_price"]) / joined["amount"]).median()
    assert 0.7 < drop_over_amount < 1.3


def test_option_chains_are_priced_off_the_smile(src):
    snap = date(2024, 11, 29)  # an early close: the snapshot is 13:00 New York time
    calls, puts = src.option_chains(None, snap)
    close = src.price_bars(None, *cal.trading_day_window(snap), "1d").select("symbol", "close_price")
    snap_time = cal.session_open_close(snap)[1]
    for frame, is_call in ((calls, True), (puts, False)):
        assert_schema(frame, "options_calls")
        assert frame["symbol"].n_unique() == 50
        assert 2_000 <= frame.height <= 20_000
        assert frame["time"].unique().to_list() == [snap_time]
        assert frame.join(close, on="symbol").filter(pl.col("underlying_price") != pl.col("close_price")).is_empty()
        expiry_close = [datetime.combine(d, time(16), tzinfo=NY) for d in frame["expiration_date"].to_list()]
        T = np.array([(e - snap_time).total_seconds() for e in expiry_close]) / (365 * 86400)
        model = bsm_price(frame["underlying_price"].to_numpy(), frame["strike"].to_numpy(), T, 0.04,
                          [src.dividend_yield(s) for s in frame["symbol"].to_list()], frame["source_implied_volatility"].to_numpy(), is_call)
        assert (frame["bid"].to_numpy() <= model + 1e-9).all() and (model <= frame["ask"].to_numpy() + 1e-9).all()
        assert frame.filter((pl.col("bid") != 0) & (pl.col("bid") < 0.01)).is_empty()
        assert frame.filter((pl.col("last_price") < pl.col("bid")) | (pl.col("last_price") > pl.col("ask"))).is_empty()
        itm = (frame["strike"] < frame["underlying_price"]) if is_call else (frame["strike"] > frame["underlying_price"])
        assert (frame["in_the_money"] == itm).all()
        assert (frame["volume"] >= 0).all() and (frame["open_interest"] >= frame["volume"]).all()


def test_option_contracts_and_expiries(src):
    calls, puts = src.option_chains(["AURS"], date(2024, 11, 29))
    occ = re.compile(r"^AURS(\d{6})([CP])(\d{8})$")
    for frame, side in ((calls, "C"), (puts, "P")):
        for symbol, expiry, strike in frame.select("contract_symbol", "expiration_date", "strike").iter_rows():
            m = occ.match(symbol)
            assert m and m.group(2) == side
            assert datetime.strptime(m.group(1), "%y%m%d").date() == expiry and int(m.group(3)) == round(strike * 1000)
    expiries = calls["expiration_date"].unique().sort().to_list()
    assert 6 <= len(expiries) <= 12
    assert date(2024, 12, 20) in expiries and date(2025, 1, 17) in expiries  # third Fridays
    assert date(2024, 12, 6) in expiries  # a weekly
    assert all(cal.is_trading_day(d) and d > date(2024, 11, 29) for d in expiries)
    assert max(expiries) <= date(2025, 11, 30)
    spot = calls["underlying_price"][0]
    assert calls["strike"].min() >= 0.7 * spot and calls["strike"].max() <= 1.3 * spot
    assert calls["contract_symbol"].n_unique() == calls.height


def test_holiday_expiry_rolls_back():
    c, _ = SyntheticSource().option_chains(["AURS"], date(2025, 4, 10))
    expiries = c["expiration_date"].unique().to_list()
    assert date(2025, 4, 17) in expiries and date(2025, 4, 18) not in expiries  # Good Friday


def test_bad_requests_name_the_problem(src):
    with pytest.raises(SourceError, match="NOPE"):
        src.price_bars(["NOPE"], *WEEK, "1d")
    with pytest.raises(SourceError, match="2024-11-28.*not a trading day"):
        src.option_chains(None, date(2024, 11, 28))
    with pytest.raises(SourceError, match="'7m'"):
        src.price_bars(None, *WEEK, "7m")
    with pytest.raises(SourceError, match="naive"):
        src.price_bars(None, datetime(2024, 11, 25), WEEK[1], "1d")


def test_empty_windows_are_typed(src):
    saturday = (datetime(2024, 11, 30, 5, tzinfo=UTC), datetime(2024, 12, 1, 5, tzinfo=UTC))
    for interval in ("1d", "5m"):
        frame = src.price_bars(None, *saturday, interval)
        assert frame.is_empty()
        assert_schema(frame, "price_history")
    assert_schema(src.splits(["AURS"], *saturday), "splits")
    assert_schema(src.dividends(["AURS"], *saturday), "dividends")
