"""The loader against the real database: direct to PostgreSQL and through PgBouncer."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import psycopg
import pytest
from dagster import build_resources
from polars.testing import assert_frame_equal
from psycopg import sql

from stockula_pipelines.lib import schemas
from stockula_pipelines.lib.ingest import IngestError, copy_frame, load_window, upsert
from stockula_pipelines.resources.timescale import TimescaleResource
from stockula_pipelines.settings import Role

pytestmark = pytest.mark.integration

T0 = datetime(2024, 3, 4, 14, 30, tzinfo=UTC)
WINDOW = (T0, T0 + timedelta(hours=2))
EVIL = "'); drop table market.price_history; --"
EVIL_SHORT = "'); DROP TABLE x;--"  # market.stocks caps symbols at 32 characters


# --- helpers ---------------------------------------------------------------------------------------
def bars(symbols: list[str], start: datetime, n: int, *, seed: int = 0, interval: str = "1m") -> pl.DataFrame:
    """``n`` consecutive bars per symbol from ``start``, deterministic, valid OHLC."""
    rng = np.random.default_rng(seed)
    rows = len(symbols) * n
    close = 100 + rng.normal(0, 1, rows).cumsum() / 10
    spread = rng.uniform(0.01, 0.5, rows)
    step = timedelta(minutes=1) if interval == "1m" else timedelta(days=1)
    frame = pl.DataFrame(
        {
            "time": [start + i * step for _ in symbols for i in range(n)],
            "symbol": [s for s in symbols for _ in range(n)],
            "interval": interval,
            "open_price": close + spread / 2,
            "high_price": close + spread,
            "low_price": close - spread,
            "close_price": close,
            "volume": rng.integers(0, 10_000, rows),
            "source": "test",
        }
    ).with_columns(pl.col("time").cast(schemas.UTC_TS), pl.col("time").dt.date().alias("date"))
    return schemas.conform(frame, "price_history")


def read_table(conn: psycopg.Connection, table: str, where: str = "TRUE") -> pl.DataFrame:
    cols, key = schemas.TABLES[table]
    query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {}").format(
        sql.SQL(", ").join(map(sql.Identifier, cols)), sql.Identifier("market", table),
        sql.SQL(where), sql.SQL(", ").join(map(sql.Identifier, key)))  # type: ignore[arg-type]
    return pl.DataFrame(conn.execute(query).fetchall(), schema=cols, orient="row")


def fingerprint(conn: psycopg.Connection, table: str, where: str = "TRUE") -> tuple[int, str]:
    """Row count and md5 of every row as text in key order; loaded_at (the load's clock) left out."""
    rows = conn.execute(sql.SQL(
        "SELECT count(*), md5(coalesce(string_agg(ROW({cols})::text, E'\\n' ORDER BY {key}), '')) "
        "FROM {table} WHERE {where}").format(
        cols=sql.SQL(", ").join(map(sql.Identifier, [c for c in _db_columns(conn, table) if c != "loaded_at"])),
        key=sql.SQL(", ").join(map(sql.Identifier, schemas.TABLES[table][1])),
        table=sql.Identifier("market", table), where=sql.SQL(where),  # type: ignore[arg-type]
    )).fetchone()
    assert rows is not None
    return rows[0], rows[1]


def _db_columns(conn: psycopg.Connection, table: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'market' AND table_name = %s "
        "ORDER BY ordinal_position", (table,)).fetchall()]


def log_rows(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT table_name, interval, window_start, window_end, symbols, mode, rows_deleted, rows_loaded, "
        "rows_updated, rows_quarantined, source, run_id, partition_key FROM ops.ingest_log ORDER BY ingest_id"
    ).fetchall()


class Target:
    """The test database as the writer, either directly or through PgBouncer."""

    def __init__(self, test_db, direct: bool) -> None:
        self.test_db, self.direct = test_db, direct

    def dsn(self) -> str:
        return self.test_db.dsn(Role.writer, direct=self.direct)

    def connect(self) -> psycopg.Connection:
        return self.test_db.connect(Role.writer, direct=self.direct)

    def admin(self) -> psycopg.Connection:
        return self.test_db.connect(Role.admin, direct=True, autocommit=True)


@pytest.fixture(params=["direct", "pgbouncer"])
def db(request, clean_db) -> Target:
    target = Target(clean_db, direct=request.param == "direct")
    if not target.direct:
        try:
            target.connect().close()
        except psycopg.OperationalError as exc:
            pytest.skip(f"PgBouncer does not serve {clean_db.name}: {exc}".strip())
    return target


# --- loads -----------------------------------------------------------------------------------------
def test_load_reads_back_equal(db):
    frame = bars(["AAA", "BBB"], T0 + timedelta(microseconds=123_456), 30, seed=1)
    with db.connect() as conn:
        result = load_window(conn, "price_history", frame, window=WINDOW, symbols=["AAA", "BBB"],
                             source="test", run_id="run-1", partition_key="2024-03-04")
        assert (result.rows_deleted, result.rows_loaded, result.interval) == (0, 60, "1m")
        assert_frame_equal(read_table(conn, "price_history"), frame.sort("symbol", "interval", "time"))
        assert log_rows(conn) == [("price_history", "1m", WINDOW[0], WINDOW[1], ["AAA", "BBB"], "replace",
                                   0, 60, 0, 0, "test", "run-1", "2024-03-04")]


def test_nulls_booleans_and_unicode_round_trip(db):
    snap = datetime(2024, 3, 4, 21, 0, tzinfo=UTC)
    frame = schemas.conform(pl.DataFrame({
        "time": [snap] * 3, "snapshot_date": [date(2024, 3, 4)] * 3, "symbol": ["ÆØÅ", "AAA", "AAA"],
        "contract_symbol": ["ÆØÅ240315C00100000", "AAA240315C00100000", "AAA 😀 weird"],
        "expiration_date": [date(2024, 3, 15), date(2024, 3, 15), None],
        "strike": [100.0, 100.0, 1e-9], "last_price": [None, 1.25, 0.0], "bid": [None, 1.2, 0.0],
        "ask": [1.3, None, 0.0], "volume": [None, 7, 0], "open_interest": [0, None, 2**62],
        "source_implied_volatility": [None, 0.25, float("inf")], "in_the_money": [None, True, False],
        "underlying_price": [101.5, None, 3.0], "source": ["tëst", "test", "t\tab\nnewline\\"],
    }).with_columns(pl.col("time").cast(schemas.UTC_TS)), "options_calls")
    with db.connect() as conn:
        with pytest.raises(psycopg.errors.NotNullViolation):  # expiration_date is NOT NULL
            load_window(conn, "options_calls", frame, window=(snap, snap + timedelta(days=1)),
                        symbols=["AAA", "ÆØÅ"], source="test")
        frame = frame.with_columns(pl.col("expiration_date").fill_null(date(2024, 3, 22)))
        load_window(conn, "options_calls", frame, window=(snap, snap + timedelta(days=1)),
                    symbols=["AAA", "ÆØÅ"], source="test")
        assert_frame_equal(read_table(conn, "options_calls"), frame.sort("contract_symbol", "time"))


def test_reload_of_the_same_window_is_identical(db):
    frame = bars(["AAA", "BBB", "CCC"], T0, 100, seed=2)
    with db.connect() as conn:
        load_window(conn, "price_history", frame, window=WINDOW, symbols=["AAA", "BBB", "CCC"], source="test")
        first = fingerprint(conn, "price_history")
        again = load_window(conn, "price_history", frame, window=WINDOW, symbols=["AAA", "BBB", "CCC"],
                            source="test", batch_rows=7)
        assert fingerprint(conn, "price_history") == first
        assert first[0] == 300
        # Identical rows are compared, not rewritten: nothing deleted, nothing written.
        assert (again.rows_deleted, again.rows_loaded, again.rows_unchanged) == (0, 0, 300)
        assert again.symbols_unchanged == ("AAA", "BBB", "CCC")
        assert [r[6:8] for r in log_rows(conn)] == [(0, 300), (0, 0)]


def test_a_reload_rewrites_only_the_symbols_whose_rows_differ(db):
    frame = bars(["AAA", "BBB", "CCC"], T0, 100, seed=2)
    with db.connect() as conn:
        load_window(conn, "price_history", frame, window=WINDOW, symbols=["AAA", "BBB", "CCC"], source="test")
        before = dict(conn.execute("SELECT symbol, max(loaded_at) FROM market.price_history GROUP BY symbol").fetchall())
        # One bar of BBB restated in the last bit of its close, and one bar of CCC gone from the source.
        nudged = frame.with_columns(
            pl.when((pl.col("symbol") == "BBB") & (pl.col("time") == T0))
            .then(pl.col("close_price").map_elements(lambda v: __import__("math").nextafter(v, 0.0),
                                                     return_dtype=pl.Float64))
            .otherwise(pl.col("close_price")).alias("close_price"))
        nudged = nudged.filter(~((pl.col("symbol") == "CCC") & (pl.col("time") == T0)))
        again = load_window(conn, "price_history", nudged, window=WINDOW, symbols=["AAA", "BBB", "CCC"],
                            source="test")
        assert again.symbols_unchanged == ("AAA",)
        assert (again.rows_deleted, again.rows_loaded, again.rows_unchanged) == (200, 199, 100)
        after = dict(conn.execute("SELECT symbol, max(loaded_at) FROM market.price_history GROUP BY symbol").fetchall())
        assert after["AAA"] == before["AAA"] and after["BBB"] > before["BBB"] and after["CCC"] > before["CCC"]
        assert_frame_equal(read_table(conn, "price_history"), nudged.sort("symbol", "interval", "time"))
        (changed,) = conn.execute("SELECT symbols_changed FROM ops.ingest_log ORDER BY ingest_id DESC LIMIT 1").fetchone()
        assert changed == ["BBB", "CCC"]


def test_fewer_symbols_replace_only_those(db):
    with db.connect() as conn:
        load_window(conn, "price_history", bars(["AAA", "BBB"], T0, 50, seed=3), window=WINDOW,
                    symbols=["AAA", "BBB"], source="test")
        bbb_before = fingerprint(conn, "price_history", "symbol = 'BBB'")
        new_aaa = bars(["AAA"], T0, 20, seed=4)
        result = load_window(conn, "price_history", new_aaa, window=WINDOW, symbols=["AAA"], source="test")
        assert (result.rows_deleted, result.rows_loaded) == (50, 20)
        assert fingerprint(conn, "price_history", "symbol = 'BBB'") == bbb_before
        assert_frame_equal(read_table(conn, "price_history", "symbol = 'AAA'"), new_aaa)


def test_window_is_half_open(db):
    start, end = T0, T0 + timedelta(minutes=10)
    inside = bars(["AAA"], start, 10, seed=5)  # start .. end - 1 minute
    at_end = bars(["AAA"], end, 1, seed=6)
    with db.connect() as conn:
        load_window(conn, "price_history", at_end, window=(end, end + timedelta(minutes=10)),
                    symbols=["AAA"], source="test")
        load_window(conn, "price_history", inside, window=(start, end), symbols=["AAA"], source="test")
        emptied = load_window(conn, "price_history", schemas.empty_frame("price_history"),
                              window=(start, end), symbols=["AAA"], interval="1m", source="test")
        assert emptied.rows_deleted == 10
        assert_frame_equal(read_table(conn, "price_history"), at_end)


def test_other_intervals_are_not_touched(db):
    daily = bars(["AAA"], T0, 1, seed=7, interval="1d")
    with db.connect() as conn:
        load_window(conn, "price_history", daily, window=WINDOW, symbols=["AAA"], source="test")
        load_window(conn, "price_history", bars(["AAA"], T0, 5, seed=8), window=WINDOW, symbols=["AAA"],
                    source="test")
        assert_frame_equal(read_table(conn, "price_history", "interval = '1d'"), daily)


@pytest.mark.parametrize("failure", ["backend_terminated", "check_violation"])
def test_a_failing_second_batch_leaves_nothing(db, failure):
    symbols = ["AAA", "BBB"]
    with db.connect() as conn:
        load_window(conn, "price_history", bars(symbols, T0, 10, seed=9), window=WINDOW, symbols=symbols,
                    source="test")
        before = fingerprint(conn, "price_history")
        logs_before = log_rows(conn)

    frame = bars(symbols, T0, 30, seed=10)  # 60 rows in batches of 25: the third batch never starts
    if failure == "check_violation":
        frame = frame.with_columns(  # row 30 (second batch): low above high
            pl.when(pl.int_range(pl.len()) == 30).then(pl.col("high_price") + 1).otherwise(pl.col("low_price"))
            .alias("low_price"))
    rejected = frame.head(2).with_columns(rule=pl.lit("test_rule"), detail=pl.lit("refused"))
    batches: list[int] = []
    with db.connect() as conn:
        def kill_after_first(number: int, rows: int) -> None:
            batches.append(number)
            if failure == "backend_terminated" and number == 1:
                pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
                with db.admin() as admin:
                    admin.execute("SELECT pg_terminate_backend(%s)", (pid,))

        with pytest.raises(psycopg.Error):
            load_window(conn, "price_history", frame, window=WINDOW, symbols=symbols, source="test",
                        rejected=rejected, batch_rows=25, on_batch=kill_after_first)
    assert batches == [1]

    with db.connect() as conn:
        assert fingerprint(conn, "price_history") == before
        assert log_rows(conn) == logs_before
        assert conn.execute("SELECT count(*) FROM quality.quarantine").fetchone() == (0,)

    good = bars(symbols, T0, 30, seed=10)
    with db.connect() as conn:
        result = load_window(conn, "price_history", good, window=WINDOW, symbols=symbols, source="test",
                             rejected=rejected, batch_rows=25)
        assert (result.rows_deleted, result.rows_loaded, result.rows_quarantined) == (20, 60, 2)
        assert_frame_equal(read_table(conn, "price_history"), good.sort("symbol", "interval", "time"))
        quarantined = conn.execute(
            "SELECT table_name, rule, symbol, time, detail, row_data->>'symbol', (row_data->>'volume')::bigint "
            "FROM quality.quarantine ORDER BY time").fetchall()
        first = rejected.row(0, named=True)
        assert quarantined[0] == ("price_history", "test_rule", "AAA", first["time"], "refused", "AAA",
                                  first["volume"])
        assert len(quarantined) == 2


def test_injection_shaped_symbols_are_data(db):
    symbols = [EVIL, 'Robert"); DROP TABLE ops.ingest_log;--', "AAA"]
    frame = bars(symbols, T0, 3, seed=11).with_columns(source=pl.lit("x'; DELETE FROM market.stocks; --"))
    with db.connect() as conn:
        load_window(conn, "price_history", frame, window=WINDOW, symbols=symbols, source=EVIL, run_id=EVIL)
        load_window(conn, "price_history", frame, window=WINDOW, symbols=symbols, source=EVIL, run_id=EVIL)
        assert_frame_equal(read_table(conn, "price_history"), frame.sort("symbol", "interval", "time"))
        stored = conn.execute("SELECT DISTINCT symbol FROM market.price_history ORDER BY 1").fetchall()
        assert [s for (s,) in stored] == sorted(symbols)
        assert [r[4] for r in log_rows(conn)] == [sorted(symbols)] * 2
        assert conn.execute("SELECT to_regclass('market.price_history') IS NOT NULL").fetchone() == (True,)
        with pytest.raises(IngestError, match="unknown table"):
            load_window(conn, "price_history; DROP TABLE market.stocks", frame, window=WINDOW,
                        symbols=symbols, source="test")


def test_bad_batches_are_refused_before_touching_the_database(db):
    frame = bars(["AAA"], T0, 5, seed=12)
    with db.connect() as conn:
        with pytest.raises(IngestError, match=r"symbol='AAA'.*outside_window"):
            load_window(conn, "price_history", frame, window=(T0 + timedelta(minutes=1), WINDOW[1]),
                        symbols=["AAA"], source="test")
        with pytest.raises(IngestError, match=r"symbol='AAA'.*symbol_not_in_batch"):
            load_window(conn, "price_history", frame, window=WINDOW, symbols=["BBB"], source="test")
        with pytest.raises(IngestError, match="aware_window"):
            load_window(conn, "price_history", frame, window=(T0.replace(tzinfo=None), WINDOW[1]),
                        symbols=["AAA"], source="test")
        with pytest.raises(IngestError, match="use upsert"):
            load_window(conn, "stocks", frame, window=WINDOW, symbols=["AAA"], source="test")
        with pytest.raises(IngestError, match="lacks column"):
            load_window(conn, "price_history", frame.drop("volume"), window=WINDOW, symbols=["AAA"],
                        source="test")
        assert log_rows(conn) == []


# --- upserts ---------------------------------------------------------------------------------------
def test_upsert_updates_overlaps_and_inserts_new_rows(db):
    base = bars(["AAA"], T0, 10, seed=13)
    with db.connect() as conn:
        load_window(conn, "price_history", base, window=WINDOW, symbols=["AAA"], source="test")
        late = pl.concat([
            base.slice(0, 4).with_columns(pl.col("volume") + 1, source=pl.lit("correction")),  # changed
            base.slice(4, 2),  # identical
            bars(["AAA"], T0 + timedelta(minutes=10), 3, seed=14),  # new
        ])
        result = upsert(conn, "price_history", late, source="correction", run_id="late-1")
        assert (result.rows_loaded, result.rows_updated, result.rows_unchanged) == (3, 4, 2)
        expected = pl.concat([late, base.slice(6, 4)]).sort("symbol", "interval", "time")
        assert_frame_equal(read_table(conn, "price_history"), expected)
        log = log_rows(conn)[-1]
        assert log[5:10] == ("upsert", 0, 3, 4, 0)
        assert (log[2], log[3]) == (T0, T0 + timedelta(minutes=12, microseconds=1))
        with pytest.raises(IngestError, match="duplicate_key"):
            upsert(conn, "price_history", pl.concat([late, late.head(1)]), source="correction")


def test_stocks_are_upserted(db):
    stocks = schemas.conform(pl.DataFrame({
        "symbol": ["AAA", EVIL_SHORT], "name": ["Triple A Inc.", "Evil Corp"], "sector": ["Tech", None],
        "industry": [None, None], "market_cap": [1_000, None], "exchange": ["NYSE", "NASDAQ"],
        "currency": ["USD", "USD"]}), "stocks")
    with db.connect() as conn:
        first = upsert(conn, "stocks", stocks, source="reference")
        assert (first.rows_loaded, first.rows_updated) == (2, 0)
        second = upsert(conn, "stocks", stocks.with_columns(
            pl.when(pl.col("symbol") == "AAA").then(2_000).otherwise(pl.col("market_cap")).alias("market_cap")),
            source="reference")
        assert (second.rows_loaded, second.rows_updated, second.rows_unchanged) == (0, 1, 1)
        rows = conn.execute("SELECT symbol, market_cap, source, updated_at > created_at FROM market.stocks "
                            "ORDER BY symbol").fetchall()
        assert rows == sorted([("AAA", 2_000, "reference", True), (EVIL_SHORT, None, "reference", False)])


# --- encoder and resource --------------------------------------------------------------------------
def test_every_dtype_copies_into_a_temp_table(db):
    frame = pl.DataFrame({
        "ts": [datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), None, datetime(2038, 1, 19, tzinfo=UTC)],
        "d": [date(1970, 1, 1), date(2000, 1, 1), None],
        "s": ["plain", None, "ünïcödé ✓ 😀 \\N \t"],
        "f": [1.5, None, -0.0], "i": [None, -(2**63), 2**63 - 1], "b": [True, False, None],
    }, schema={"ts": schemas.UTC_TS, "d": pl.Date, "s": pl.String, "f": pl.Float64, "i": pl.Int64,
               "b": pl.Boolean})
    with db.connect() as conn, conn.transaction():
        conn.execute("CREATE TEMPORARY TABLE every_type (n serial, ts timestamptz, d date, s text, f float8, "
                     "i int8, b bool) ON COMMIT DROP")
        assert copy_frame(conn, sql.Identifier("every_type"), frame) == 3
        back = pl.DataFrame(conn.execute("SELECT ts, d, s, f, i, b FROM every_type ORDER BY n").fetchall(),
                            schema=frame.schema, orient="row")
        assert_frame_equal(back, frame)


def test_timescale_resource(db):
    frame = bars(["AAA"], T0, 5, seed=15)
    with build_resources({"timescale": TimescaleResource(dsn=db.dsn(), pool_min_size=1, pool_max_size=2)}) as res:
        resource: TimescaleResource = res.timescale
        assert resource.capabilities().edition in ("apache", "tsl")
        with resource.connection() as conn:
            result = load_window(conn, "price_history", frame, window=WINDOW, symbols=["AAA"], source="test")
        assert result.rows_loaded == 5
        with resource.connection() as conn:
            assert_frame_equal(read_table(conn, "price_history"), frame)
        with resource.autocommit_connection() as conn:
            conn.execute("VACUUM market.price_history")  # refuses to run inside a transaction block
        with resource.connection() as conn:
            assert upsert(conn, "price_history", frame, source="test").rows_unchanged == 5
        pool = resource._pool
        assert pool is not None and not pool.closed
    assert pool.closed  # teardown_after_execution closed it
