"""Aggregates on the Apache edition: window-exact rollups checked against pandas over the raw rows."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from psycopg import sql

from stockula_pipelines.lib import aggregates as agg
from stockula_pipelines.lib.db.capabilities import detect

NY = ZoneInfo("America/New_York")
REL_TOL = 1e-9
pytestmark = pytest.mark.integration

PRICE_SQL = """
INSERT INTO market.price_history (time, symbol, interval, date, open_price, high_price, low_price,
                                  close_price, volume, source)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, 'test')
"""
OPTION_SQL = """
INSERT INTO market.{table} (time, snapshot_date, symbol, contract_symbol, expiration_date, strike, volume,
                            open_interest, source)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'test')
"""
LOG_SQL = """
INSERT INTO ops.ingest_log (table_name, interval, window_start, window_end, symbols, mode, rows_loaded)
VALUES (%s, %s, %s, %s, %s, 'replace', %s)
"""


# --- data -------------------------------------------------------------------------------------------
def _bar(rng: random.Random, ts: datetime, symbol: str, interval: str, day: date, price: float) -> tuple:
    open_, close = price * rng.uniform(0.98, 1.02), price * rng.uniform(0.98, 1.02)
    high, low = max(open_, close) * rng.uniform(1.0, 1.01), min(open_, close) * rng.uniform(0.99, 1.0)
    return (ts, symbol, interval, day, open_, high, low, close, rng.randint(100, 100_000))


def daily_bars(symbols: list[str], days: list[date], seed: int = 1) -> list[tuple]:
    rng = random.Random(seed)
    return [_bar(rng, datetime.combine(d, time(0), NY), s, "1d", d, 100 + i) for i, s in enumerate(symbols)
            for d in days]


def intraday_bars(symbols: list[str], days: list[date], seed: int = 2) -> list[tuple]:
    rng = random.Random(seed)
    rows = []
    for i, s in enumerate(symbols):
        for d in days:
            start = datetime.combine(d, time(9, 30), NY)
            rows += [_bar(rng, start + timedelta(minutes=5 * k), s, "5m", d, 50 + i) for k in range(78)]
    return rows


def weekdays(first: date, last: date) -> list[date]:
    return [first + timedelta(n) for n in range((last - first).days + 1) if (first + timedelta(n)).weekday() < 5]


def load_bars(conn, rows: list[tuple], interval: str) -> None:
    """INSERT the bars and log the window they cover, as the loader does, in one transaction."""
    with conn.transaction():
        conn.cursor().executemany(PRICE_SQL, rows)
        start, end = min(r[0] for r in rows), max(r[0] for r in rows) + timedelta(minutes=5)
        conn.execute(LOG_SQL, ("price_history", interval, start, end, sorted({r[1] for r in rows}), len(rows)))


def frame(rows: list[tuple]) -> pd.DataFrame:
    cols = ["time", "symbol", "interval", "date", "open_price", "high_price", "low_price", "close_price", "volume"]
    df = pd.DataFrame(rows, columns=cols)
    df["time"] = pd.to_datetime(df["time"], utc=True)
    return df


def expected_ohlcv(df: pd.DataFrame, grain: str) -> pd.DataFrame:
    """The rollup computed independently in pandas from the raw bars."""
    local = df["time"].dt.tz_convert(NY)
    midnight = local.dt.normalize()
    if grain == "week":
        midnight = (midnight.dt.tz_localize(None) - pd.to_timedelta(local.dt.day_of_week, unit="D")).dt.tz_localize(NY)
    elif grain == "month":
        midnight = (midnight.dt.tz_localize(None) - pd.to_timedelta(local.dt.day - 1, unit="D")).dt.tz_localize(NY)
    df = df.assign(bucket=midnight.dt.tz_convert(UTC), trading_value=df["close_price"] * df["volume"])
    df = df.sort_values("time")
    out = df.groupby(["bucket", "symbol"]).agg(
        open_price=("open_price", "first"), high_price=("high_price", "max"), low_price=("low_price", "min"),
        close_price=("close_price", "last"), volume=("volume", "sum"), trading_value=("trading_value", "sum"),
        bar_count=("time", "size"))
    return out.reset_index().sort_values(["symbol", "bucket"]).reset_index(drop=True)


def actual(conn, name: str) -> pd.DataFrame:
    cols = list(agg.AGGREGATES[name].columns)
    query = sql.SQL("SELECT * FROM {} ORDER BY symbol, bucket").format(sql.Identifier("aggregates", name))
    rows = conn.execute(query).fetchall()
    df = pd.DataFrame(rows, columns=cols)
    df["bucket"] = pd.to_datetime(df["bucket"], utc=True)
    for c in ("volume", "total_volume", "total_open_interest"):
        if c in df:
            df[c] = df[c].astype("int64")
    return df


def assert_frames(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert len(got) == len(want), f"{len(got)} rows, expected {len(want)}"
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want[got.columns].reset_index(drop=True),
                                  check_dtype=False, rtol=REL_TOL)


def refresh(conn) -> dict[str, agg.RefreshResult]:
    return agg.refresh_all(conn, caps=detect(conn), run_id="test")


# --- against the database ------------------------------------------------------------------------------
def test_rollups_match_raw_rows_without_double_counting(clean_db):
    symbols = ["AAA", "BBB"]
    # Spans both DST changes of 2024 (Mar 10, Nov 3) inside whole weeks and months.
    days = weekdays(date(2024, 2, 26), date(2024, 3, 22)) + weekdays(date(2024, 10, 28), date(2024, 11, 8))
    session_days = [date(2024, 3, 8), date(2024, 3, 11), date(2024, 11, 1), date(2024, 11, 4)]
    daily, intraday = daily_bars(symbols, days), intraday_bars(symbols, session_days)
    with clean_db.connect(autocommit=True) as conn:
        load_bars(conn, daily, "1d")
        load_bars(conn, intraday, "5m")
        results = refresh(conn)
        assert {r.method for r in results.values()} == {"rollup"}
        # daily/hourly from the 5m bars only, weekly/monthly from the 1d bars only
        assert_frames(actual(conn, "price_history_daily"), expected_ohlcv(frame(intraday), "day"))
        assert_frames(actual(conn, "price_history_weekly"), expected_ohlcv(frame(daily), "week"))
        assert_frames(actual(conn, "price_history_monthly"), expected_ohlcv(frame(daily), "month"))
        weekly = actual(conn, "price_history_weekly")
        assert set(weekly["bar_count"]) == {5}, "a DST-crossing week must still be one bucket of 5 days"
        assert {ts.tz_convert(NY).strftime("%a %H:%M") for ts in weekly["bucket"]} == {"Mon 00:00"}
        hourly = conn.execute(
            "SELECT bucket, total_volume, bar_count FROM aggregates.market_volume_hourly ORDER BY 1").fetchall()
        want = frame(intraday).assign(bucket=lambda d: d["time"].dt.floor("h")).groupby("bucket")
        assert [(b, int(v), n) for b, v, n in hourly] == [
            (b.to_pydatetime(), int(g["volume"].sum()), len(g)) for b, g in want]
        # The first session (EST) opens at 14:30 UTC: its first hour holds 6 bars of each of 2 symbols.
        assert hourly[0][2] == 12 and hourly[0][0].hour == 14


def test_refresh_is_idempotent_and_moves_the_watermark(clean_db):
    symbols = ["AAA"]
    days = weekdays(date(2024, 5, 1), date(2024, 5, 31))
    with clean_db.connect(autocommit=True) as conn:
        load_bars(conn, daily_bars(symbols, days), "1d")
        first = refresh(conn)
        snapshot = actual(conn, "price_history_monthly"), actual(conn, "price_history_weekly")
        assert first["price_history_monthly"].rows_written == 1
        again = refresh(conn)
        assert all(not r.windows for r in again.values()), "no new load: nothing to refresh"
        # The same window logged again (a re-run of the load) recomputes the same rows.
        conn.execute(LOG_SQL, ("price_history", "1d", datetime(2024, 5, 1, 4, tzinfo=UTC),
                               datetime(2024, 6, 1, 4, tzinfo=UTC), symbols, 0))
        third = refresh(conn)
        assert third["price_history_monthly"].windows and third["price_history_daily"].windows == []
        assert_frames(actual(conn, "price_history_monthly"), snapshot[0])
        assert_frames(actual(conn, "price_history_weekly"), snapshot[1])
        log = conn.execute(
            "SELECT count(*), max(last_ingest_id) FROM ops.refresh_log WHERE target = 'aggregates.price_history_monthly'"
        ).fetchone()
        assert log == (2, conn.execute("SELECT max(ingest_id) FROM ops.ingest_log").fetchone()[0])


def test_late_correction_only_changes_its_window(clean_db):
    symbols = ["AAA", "BBB"]
    days = weekdays(date(2024, 1, 2), date(2024, 4, 30))
    bars = daily_bars(symbols, days)
    with clean_db.connect(autocommit=True) as conn:
        load_bars(conn, bars, "1d")
        refresh(conn)
        before = {n: actual(conn, n) for n in ("price_history_weekly", "price_history_monthly")}
        # A corrected volume for one old bar (Wed 2024-01-17) arrives as a one-day replace load.
        corrected = datetime.combine(date(2024, 1, 17), time(0), NY)
        with conn.transaction():
            conn.execute("UPDATE market.price_history SET volume = volume + 1000000 "
                         "WHERE symbol = 'AAA' AND interval = '1d' AND time = %s", (corrected,))
            conn.execute(LOG_SQL, ("price_history", "1d", corrected, corrected + timedelta(days=1), ["AAA"], 1))
        results = refresh(conn)
        assert results["price_history_weekly"].windows == [
            (datetime(2024, 1, 15, tzinfo=NY), datetime(2024, 1, 22, tzinfo=NY))]
        assert results["price_history_monthly"].windows == [
            (datetime(2024, 1, 1, tzinfo=NY), datetime(2024, 2, 1, tzinfo=NY))]
        assert results["price_history_weekly"].rows_written == 2  # both symbols' buckets of that week
        fixed = [(*r[:8], r[8] + 1_000_000) if (r[1], r[0]) == ("AAA", corrected) else r for r in bars]
        for name, grain in (("price_history_weekly", "week"), ("price_history_monthly", "month")):
            after = actual(conn, name)
            assert_frames(after, expected_ohlcv(frame(fixed), grain))
            changed = after.merge(before[name], on=["bucket", "symbol"], suffixes=("", "_old"))
            changed = changed[changed["volume"] != changed["volume_old"]]
            assert list(zip(changed["symbol"], changed["bucket"].dt.tz_convert(NY).dt.date, strict=True)) == [
                ("AAA", date(2024, 1, 15) if grain == "week" else date(2024, 1, 1))]


def test_options_aggregates_and_view(clean_db):
    snapshot = datetime.combine(date(2024, 6, 14), time(16), NY)
    rows = {"options_calls": [], "options_puts": []}
    for table, (vol, oi) in {"options_calls": (10, 100), "options_puts": (7, 70)}.items():
        for sym in ("AAA", "BBB"):
            for k, strike in enumerate((90.0, 100.0, 110.0)):
                rows[table].append((snapshot, snapshot.date(), sym, f"{sym}240621{table[8]}{k}", date(2024, 6, 21),
                                    strike, vol * (k + 1), oi * (k + 1)))
    with clean_db.connect(autocommit=True) as conn:
        for table, data in rows.items():
            with conn.transaction():
                conn.cursor().executemany(OPTION_SQL.replace("{table}", table), data)
                conn.execute(LOG_SQL, (table, None, snapshot, snapshot + timedelta(seconds=1), ["AAA", "BBB"], 6))
        results = refresh(conn)
        assert results["options_calls_volume_daily"].rows_written == 2
        view = conn.execute("SELECT symbol, option_type, bucket, total_volume, total_open_interest, contracts "
                            "FROM aggregates.options_volume_daily ORDER BY 1, 2").fetchall()
    day = datetime(2024, 6, 14, tzinfo=NY)
    assert view == [("AAA", "call", day, 60, 600, 3), ("AAA", "put", day, 42, 420, 3),
                    ("BBB", "call", day, 60, 600, 3), ("BBB", "put", day, 42, 420, 3)]


def test_loads_of_other_intervals_do_not_trigger_a_refresh(clean_db):
    with clean_db.connect(autocommit=True) as conn:
        conn.execute(LOG_SQL, ("price_history", "1m", datetime(2024, 1, 2, 15, tzinfo=UTC),
                               datetime(2024, 1, 2, 16, tzinfo=UTC), ["AAA"], 0))
        results = refresh(conn)
    assert all(not r.windows and r.last_ingest_id is None for r in results.values())


def test_dagster_assets_refresh_and_report(clean_db):
    import dagster as dg

    from stockula_pipelines.defs.aggregates import definitions
    from stockula_pipelines.resources.timescale import TimescaleResource

    days = weekdays(date(2024, 7, 1), date(2024, 7, 12))
    with clean_db.connect(autocommit=True) as conn:
        load_bars(conn, daily_bars(["AAA", "BBB"], days), "1d")
        load_bars(conn, intraday_bars(["AAA"], days[:2]), "5m")
    timescale = TimescaleResource(dsn=clean_db.dsn())
    result = dg.materialize(list(definitions().assets), resources={"timescale": timescale})
    assert result.success
    meta = {e.materialization.asset_key.path[-1]: e.materialization.metadata
            for e in result.get_asset_materialization_events()}
    weekly = meta["price_history_weekly"]
    assert weekly["method"].value == "rollup"
    assert weekly["rows_written"].value == weekly["dagster/row_count"].value == 4  # 2 weeks x 2 symbols
    assert weekly["windows_refreshed"].value == [
        {"start": "2024-07-01T00:00:00-04:00", "end": "2024-07-15T00:00:00-04:00"}]
    assert meta["price_history_daily"]["dagster/row_count"].value == 2
    assert meta["options_volume_daily"]["dagster/row_count"].value == 0
    # A second run finds no new load and writes nothing.
    again = dg.materialize(list(definitions().assets), resources={"timescale": timescale})
    second = {e.materialization.asset_key.path[-1]: e.materialization.metadata
              for e in again.get_asset_materialization_events()}
    assert second["price_history_weekly"]["rows_written"].value == 0
    assert second["price_history_weekly"]["dagster/row_count"].value == 4
