"""Raw prices from Yahoo's split-adjusted figures, checked against the public record.

Yahoo shows every bar divided by the splits that came after it, and rewrites its history after each
new split. The frames below are written by hand in the shape ``Ticker.history(auto_adjust=False,
actions=True)`` returns, with the figures Yahoo shows; the assertions are the published raw figures.

From the record: AAPL's raw close of 499.23 on 2020-08-28 (shown 124.8075 after the 4:1 split ex
2020-08-31) and 129.04 on 2020-08-31; its $0.82 dividend ex 2020-08-07 (shown 0.205); NVDA's raw close
of 1208.88 on 2024-06-07 (shown 120.888 after the 10:1 split ex 2024-06-10) and 121.79 on 2024-06-10;
its $0.01 dividend ex 2024-06-11; both symbols' split histories. Open/High/Low are set to the close and
volumes, and the AAPL 2020-08-07 and NVDA 2024-06-11 bars, are illustrative (round numbers): only their
scaling is asserted.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from fixtures.fake_yfinance import FakeYFinance, daily_frame

from stockula_pipelines.lib.sources.files import FilesSource
from stockula_pipelines.lib.sources.yfinance_source import YFinanceSource

AAPL_SPLITS_2014 = {"1987-06-16": 2.0, "2000-06-21": 2.0, "2005-02-28": 2.0, "2014-06-09": 7.0}
AAPL_SPLITS = {**AAPL_SPLITS_2014, "2020-08-31": 4.0}
NVDA_SPLITS_2021 = {"2000-06-27": 2.0, "2001-09-17": 2.0, "2006-04-07": 2.0, "2007-09-11": 1.5, "2021-07-20": 4.0}
NVDA_SPLITS = {**NVDA_SPLITS_2021, "2024-06-10": 10.0}

# windows [00:00 New York of the first day, 00:00 New York of the day after the last)
AAPL_WINDOW = (datetime(2020, 8, 7, 4, tzinfo=UTC), datetime(2020, 9, 1, 4, tzinfo=UTC))
NVDA_WINDOW = (datetime(2024, 6, 7, 4, tzinfo=UTC), datetime(2024, 6, 12, 4, tzinfo=UTC))

RAW_AAPL = {date(2020, 8, 7): 100.0, date(2020, 8, 28): 499.23, date(2020, 8, 31): 129.04}
RAW_AAPL_VOLUME = {date(2020, 8, 7): 1_000_000, date(2020, 8, 28): 2_000_000, date(2020, 8, 31): 8_000_000}
RAW_NVDA = {date(2024, 6, 7): 1208.88, date(2024, 6, 10): 121.79, date(2024, 6, 11): 100.0}
RAW_NVDA_VOLUME = {date(2024, 6, 7): 3_000_000, date(2024, 6, 10): 30_000_000, date(2024, 6, 11): 31_000_000}


def shown(raw: dict[date, float], volume: dict[date, int], splits: dict[str, float], *, dividends=None,
          window_splits: bool = True):
    """The frame Yahoo serves for these raw bars once ``splits`` are known: each bar divided by the
    ratios of the splits after it (volumes multiplied), dividends divided the same way."""
    def factor(day: date) -> float:
        f = 1.0
        for ex, ratio in splits.items():
            if date.fromisoformat(ex) > day:
                f *= ratio
        return f

    rows = [(d.isoformat(), *(4 * [raw[d] / factor(d)]), round(volume[d] * factor(d))) for d in sorted(raw)]
    divs = {d.isoformat(): amount / factor(d) for d, amount in (dividends or {}).items()}
    days = {d.isoformat() for d in raw}
    in_window = {ex: r for ex, r in splits.items() if ex in days} if window_splits else {}
    return daily_frame(rows, dividends=divs, splits=in_window)


def fetch(symbol: str, frame, split_history: dict[str, float], window, now: datetime):
    """What the yfinance adapter stores when Yahoo serves ``frame`` and ``split_history`` at ``now``."""
    fake = FakeYFinance()
    fake.histories[(symbol, "1d")] = frame
    fake.split_histories[symbol] = split_history
    source = YFinanceSource(yf_module=fake, symbols=[symbol], sleep=lambda s: None, rng=random.Random(1),
                            clock=lambda: now)
    return source.price_bars([symbol], *window, "1d"), source.dividends([symbol], *window), \
        source.splits([symbol], *window)


def closes(bars) -> dict[date, float]:
    return dict(zip(bars["date"], bars["close_price"], strict=True))


def assert_raw(bars, raw: dict[date, float], volume: dict[date, int]) -> None:
    assert set(closes(bars)) == set(raw)
    for row in bars.iter_rows(named=True):
        for column in ("open_price", "high_price", "low_price", "close_price"):
            assert row[column] == pytest.approx(raw[row["date"]], abs=1e-6), (row["date"], column)
        assert row["volume"] == volume[row["date"]]


def test_aapl_4_for_1_is_stored_at_the_published_raw_closes():
    yahoo = shown(RAW_AAPL, RAW_AAPL_VOLUME, AAPL_SPLITS, dividends={date(2020, 8, 7): 0.82})
    assert yahoo.loc["2020-08-28", "Close"].item() == pytest.approx(124.8075)  # what Yahoo shows
    assert yahoo.loc["2020-08-07", "Dividends"].item() == pytest.approx(0.205)
    bars, dividends, splits = fetch("AAPL", yahoo, AAPL_SPLITS, AAPL_WINDOW, datetime(2026, 12, 1, tzinfo=UTC))
    assert closes(bars)[date(2020, 8, 28)] == pytest.approx(499.23, abs=1e-6)
    assert closes(bars)[date(2020, 8, 31)] == pytest.approx(129.04, abs=1e-6)
    assert_raw(bars, RAW_AAPL, RAW_AAPL_VOLUME)
    assert dividends.select("ex_date", "amount").rows() == [(date(2020, 8, 7), pytest.approx(0.82, abs=1e-9))]
    assert splits.select("ex_date", "ratio").rows() == [(date(2020, 8, 31), 4.0)]


def test_nvda_10_for_1_is_stored_at_the_published_raw_closes():
    yahoo = shown(RAW_NVDA, RAW_NVDA_VOLUME, NVDA_SPLITS, dividends={date(2024, 6, 11): 0.01})
    assert yahoo.loc["2024-06-07", "Close"].item() == pytest.approx(120.888)
    bars, dividends, splits = fetch("NVDA", yahoo, NVDA_SPLITS, NVDA_WINDOW, datetime(2026, 12, 1, tzinfo=UTC))
    assert closes(bars)[date(2024, 6, 7)] == pytest.approx(1208.88, abs=1e-6)
    assert closes(bars)[date(2024, 6, 10)] == pytest.approx(121.79, abs=1e-6)
    assert_raw(bars, RAW_NVDA, RAW_NVDA_VOLUME)
    assert dividends.select("ex_date", "amount").rows() == [(date(2024, 6, 11), 0.01)]  # after the split
    assert splits.select("ex_date", "ratio").rows() == [(date(2024, 6, 10), 10.0)]


@pytest.mark.parametrize("symbol, raw, volume, before, after, window, dividends", [
    ("AAPL", {d: v for d, v in RAW_AAPL.items() if d < date(2020, 8, 31)}, RAW_AAPL_VOLUME,
     AAPL_SPLITS_2014, AAPL_SPLITS, (AAPL_WINDOW[0], datetime(2020, 8, 29, 4, tzinfo=UTC)), {date(2020, 8, 7): 0.82}),
    ("NVDA", {date(2024, 6, 7): RAW_NVDA[date(2024, 6, 7)]}, RAW_NVDA_VOLUME,
     NVDA_SPLITS_2021, NVDA_SPLITS, (NVDA_WINDOW[0], datetime(2024, 6, 8, 4, tzinfo=UTC)), {}),
])
def test_a_refetch_after_a_later_split_stores_the_same_raw_values(symbol, raw, volume, before, after, window,
                                                                  dividends):
    # Fetched the day before the split, Yahoo showed the bars as traded (1208.88, 499.23); fetched after
    # it, divided by the new ratio, with one more split in the history. Both give the same rows.
    first = fetch(symbol, shown(raw, volume, before, dividends=dividends), before, window,
                  datetime(2024, 6, 8, tzinfo=UTC) if symbol == "NVDA" else datetime(2020, 8, 29, tzinfo=UTC))
    again = fetch(symbol, shown(raw, volume, after, dividends=dividends), after, window,
                  datetime(2026, 12, 1, tzinfo=UTC))
    assert_raw(first[0], raw, volume)
    assert_raw(again[0], raw, volume)
    for column in ("open_price", "high_price", "low_price", "close_price"):
        assert again[0][column].to_list() == pytest.approx(first[0][column].to_list(), abs=1e-6)
    assert again[0]["volume"].to_list() == first[0]["volume"].to_list()
    assert again[1]["amount"].to_list() == pytest.approx(first[1]["amount"].to_list(), abs=1e-9)


def test_a_made_up_future_3_for_1_changes_nothing_stored():
    # Hypothetical: AAPL 3:1 ex 2031-01-06. Yahoo would show 2020-08-28 at 41.6025.
    future = {**AAPL_SPLITS, "2031-01-06": 3.0}
    yahoo = shown(RAW_AAPL, RAW_AAPL_VOLUME, future, dividends={date(2020, 8, 7): 0.82})
    assert yahoo.loc["2020-08-28", "Close"].item() == pytest.approx(41.6025)
    bars, dividends, _ = fetch("AAPL", yahoo, future, AAPL_WINDOW, datetime(2031, 1, 7, tzinfo=UTC))
    assert_raw(bars, RAW_AAPL, RAW_AAPL_VOLUME)
    assert dividends["amount"].to_list() == [pytest.approx(0.82, abs=1e-9)]


def write_yahoo_export(root: Path, raw, volume, splits: dict[str, float], dividends: dict[date, float]) -> None:
    """A files-source directory as Yahoo's download links export it: split-adjusted prices and
    dividends, splits as '4:1'."""
    frame = shown(raw, volume, splits, dividends=dividends)
    (root / "prices").mkdir(parents=True)
    (root / "dividends").mkdir()
    (root / "splits").mkdir()
    lines = ["Date,Open,High,Low,Close,Adj Close,Volume"]
    for ts, row in frame.iterrows():
        prices = ",".join(repr(float(row[c])) for c in ("Open", "High", "Low", "Close", "Adj Close"))
        lines.append(f"{ts:%Y-%m-%d},{prices},{int(row.Volume)}")
    (root / "prices" / "AAPL.csv").write_text("\n".join(lines) + "\n")
    divs = frame[frame["Dividends"] != 0]["Dividends"]
    (root / "dividends" / "AAPL.csv").write_text(
        "Date,Dividends\n" + "".join(f"{ts:%Y-%m-%d},{float(v)!r}\n" for ts, v in divs.items()))
    (root / "splits" / "AAPL.csv").write_text(
        "Date,Stock Splits\n" + "".join(f"{d},{int(r)}:1\n" for d, r in splits.items()))


def test_files_in_yahoos_layout_are_split_adjusted_by_default(tmp_path):
    write_yahoo_export(tmp_path, RAW_AAPL, RAW_AAPL_VOLUME, AAPL_SPLITS, {date(2020, 8, 7): 0.82})
    source = FilesSource(tmp_path)
    assert_raw(source.price_bars(["AAPL"], *AAPL_WINDOW, "1d"), RAW_AAPL, RAW_AAPL_VOLUME)
    assert source.dividends(["AAPL"], *AAPL_WINDOW)["amount"].to_list() == [pytest.approx(0.82, abs=1e-9)]
    assert source.splits(["AAPL"], *AAPL_WINDOW)["ratio"].to_list() == [4.0]

    # STOCKULA_FILES_SPLIT_ADJUSTED=false: the same files are taken as they are
    raw_files = FilesSource(tmp_path, split_adjusted=False)
    assert closes(raw_files.price_bars(["AAPL"], *AAPL_WINDOW, "1d"))[date(2020, 8, 28)] == pytest.approx(124.8075)
    assert raw_files.dividends(["AAPL"], *AAPL_WINDOW)["amount"].to_list() == [pytest.approx(0.205)]


def test_raw_files_are_loaded_as_they_are(tmp_path):
    write_yahoo_export(tmp_path, RAW_AAPL, RAW_AAPL_VOLUME, {}, {date(2020, 8, 7): 0.82})  # nothing divided
    (tmp_path / "splits" / "AAPL.csv").write_text("Date,Stock Splits\n2020-08-31,4:1\n")
    source = FilesSource(tmp_path, split_adjusted=False)
    assert_raw(source.price_bars(["AAPL"], *AAPL_WINDOW, "1d"), RAW_AAPL, RAW_AAPL_VOLUME)
    assert source.dividends(["AAPL"], *AAPL_WINDOW)["amount"].to_list() == [0.82]
