"""A source that fails, answers nothing, rate-limits or sends bad rows never costs a good stored row.

Every test runs the real ingestion assets (``dg.materialize``) on the synthetic source wrapped to
inject one fault per symbol, against the real test database: first a clean load stores the day, then
the faulty reload must keep what it cannot replace and say so in metadata, the quarantine and checks.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import polars as pl
import psycopg
import pytest
from conftest import TestDatabase

from stockula_pipelines.defs.corporate_actions.assets import corporate_actions
from stockula_pipelines.defs.market_data.assets import price_history, stocks
from stockula_pipelines.defs.options.assets import option_chains
from stockula_pipelines.defs.quality.checks import price_checks
from stockula_pipelines.lib import schemas
from stockula_pipelines.lib.db.refresh_log import watermark
from stockula_pipelines.lib.ingest import IngestError, load_window, upsert
from stockula_pipelines.lib.metrics.prices import refresh_price_metrics
from stockula_pipelines.lib.sources import SourceError
from stockula_pipelines.lib.sources.synthetic import SyntheticSource
from stockula_pipelines.lib.sources.yfinance_source import SourceRateLimitError
from stockula_pipelines.partitions import partition_window
from stockula_pipelines.resources.market_data import MarketDataResource
from stockula_pipelines.resources.timescale import TimescaleResource
from stockula_pipelines.settings import Role

pytestmark = pytest.mark.integration

DAY = "2024-07-05"  # a Friday: the next session opens Monday 2024-07-08
NEXT_SESSION_MIDDAY = datetime(2024, 7, 8, 16, 0, tzinfo=UTC)  # 12:00 New York (EDT)
MONTH = "2024-01"
UNIVERSE = 6
PH = dg.AssetKey(["market", "price_history"])
ASSETS = [stocks, price_history, option_chains, corporate_actions, price_checks(PH, intraday=False)]


class FaultySource:
    """The synthetic source with one fault per symbol, as real feeds misbehave."""

    def __init__(self, inner, faults: dict[str, str]) -> None:
        self.inner, self.faults, self.name = inner, faults, inner.name
        self.calls: dict[str, int] = {}

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def confirms_empty(self, kind, symbol, start, end):
        # An unexplained empty answer is not proof of an empty window (yfinance's hidden errors).
        return self.faults.get(symbol) != "empty" and self.inner.confirms_empty(kind, symbol, start, end)

    def _raise_for(self, symbol: str) -> None:
        fault = self.faults.get(symbol)
        self.calls[symbol] = self.calls.get(symbol, 0) + 1
        if fault == "error":
            raise SourceError("HTTP 500 from upstream", source=self.name, symbol=symbol)
        if fault == "rate_limit_once" and self.calls[symbol] == 1:
            raise SourceRateLimitError("429 Too Many Requests", source=self.name, symbol=symbol)

    def price_bars(self, symbols, start, end, interval):
        (symbol,) = symbols  # the assets ask one symbol at a time
        self._raise_for(symbol)
        frame = self.inner.price_bars(symbols, start, end, interval)
        fault = self.faults.get(symbol)
        if fault == "empty":
            return schemas.empty_frame("price_history")
        if fault == "close_above_high":
            return frame.with_columns((pl.col("high_price") + 1.0).alias("close_price"))
        if fault == "null_volume":
            return frame.with_columns(pl.lit(None, pl.Int64).alias("volume"))
        return frame

    def option_chains(self, symbols, snapshot_date):
        (symbol,) = symbols
        self._raise_for(symbol)
        calls, puts = self.inner.option_chains(symbols, snapshot_date)
        if self.faults.get(symbol) == "late_chain":
            late = pl.lit(NEXT_SESSION_MIDDAY, schemas.UTC_TS).alias("fetched_at")
            calls, puts = calls.with_columns(late), puts.with_columns(late)
        return calls, puts

    def dividends(self, symbols, start, end):
        (symbol,) = symbols
        frame = self.inner.dividends(symbols, start, end)
        if self.faults.get(symbol) == "new_dividend":
            extra = pl.DataFrame({
                "time": [datetime(2024, 1, 17, 5, tzinfo=UTC)], "symbol": [symbol],
                "ex_date": [date(2024, 1, 17)], "amount": [0.42], "source": [self.name]})
            frame = pl.concat([frame, schemas.conform(extra, "dividends")], how="vertical_relaxed")
        return frame


class FaultyMarketData(MarketDataResource):
    faults: dict[str, str] = {}  # symbol -> error | empty | rate_limit_once | close_above_high | ...

    def get_source(self):
        return FaultySource(super().get_source(), dict(self.faults))


def _symbols() -> list[str]:
    return MarketDataResource(source="synthetic", universe_size=UNIVERSE).get_source().universe()


def _run(db: TestDatabase, selection: list[str], partition_key: str | None = None, *,
         faults: dict[str, str] | None = None, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    resources = {
        "timescale": TimescaleResource(dsn=db.dsn(Role.writer)),
        "market_data": FaultyMarketData(source="synthetic", universe_size=UNIVERSE, faults=faults or {},
                                        retry_delay_seconds=0),
    }
    return dg.materialize(ASSETS, selection=selection, partition_key=partition_key, resources=resources,
                          raise_on_error=raise_on_error)


def _meta(result: dg.ExecuteInProcessResult, key: list[str]) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(key)]
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def _bars(db: TestDatabase) -> dict[str, tuple]:
    with db.connect() as conn:
        return {r[0]: tuple(r[1:]) for r in conn.execute(
            "SELECT symbol, open_price, high_price, low_price, close_price, volume, loaded_at "
            "FROM market.price_history WHERE date = %s", (date.fromisoformat(DAY),))}


def _stored_day(db: TestDatabase) -> dict[str, tuple]:
    assert _run(db, ["market/stocks"]).success
    assert _run(db, ["market/price_history"], DAY).success
    stored = _bars(db)
    assert len(stored) == UNIVERSE
    return stored


def test_failed_and_empty_symbols_keep_their_rows_and_the_coverage_check_warns(clean_db: TestDatabase):
    stored = _stored_day(clean_db)
    failing, silent, *others = _symbols()
    # Selecting the asset runs its checks too (they are in ASSETS).
    result = _run(clean_db, ["market/price_history"], DAY,
                  faults={failing: "error", silent: "empty"})
    assert result.success
    meta = _meta(result, ["market", "price_history"])
    assert set(meta["symbols_skipped"]) == {failing, silent}
    assert "HTTP 500" in meta["symbols_skipped"][failing] and "no data" in meta["symbols_skipped"][silent]
    after = _bars(clean_db)
    # loaded_at included: the two skipped rows were not even rewritten, and nor were the others, which
    # the source returned exactly as stored.
    assert after == stored
    assert meta["rows_unchanged"] == len(others) and meta["rows_loaded"] == 0
    coverage = [e for e in result.get_asset_check_evaluations() if e.check_name == "source_coverage"]
    assert coverage and all(not e.passed and e.severity == dg.AssetCheckSeverity.WARN for e in coverage)
    (details,) = [e.metadata["details"].value for e in coverage if "details" in e.metadata]
    assert details["skipped_symbols"] == sorted([failing, silent])
    with clean_db.connect() as conn:
        skipped = conn.execute("SELECT symbols_skipped FROM ops.ingest_log WHERE table_name = 'price_history' "
                               "ORDER BY ingest_id DESC LIMIT 1").fetchone()[0]
    assert sorted(skipped) == sorted([failing, silent])


def test_rejected_rows_keep_the_stored_row_and_do_not_stop_the_other_symbols(clean_db: TestDatabase):
    stored = _stored_day(clean_db)
    crossed, no_volume, *others = _symbols()
    result = _run(clean_db, ["market/price_history"], DAY,
                  faults={crossed: "close_above_high", no_volume: "null_volume"})
    assert result.success  # a NULL volume is quarantined, not a NOT NULL violation aborting the COPY
    meta = _meta(result, ["market", "price_history"])
    assert meta["rows_quarantined"] == 2 and meta["rows_unchanged"] == len(others)
    assert meta["quarantined_by_rule"] == {"close_outside_range": 1, "missing_value": 1}
    assert _bars(clean_db) == stored  # the rejected rows' stored rows kept; the others unchanged
    with clean_db.connect(Role.admin, direct=True) as conn:
        quarantined = {r[0]: r[1:] for r in conn.execute(
            "SELECT symbol, rule, detail FROM quality.quarantine WHERE resolved_at IS NULL")}
    assert quarantined[crossed][0] == "close_outside_range"
    assert quarantined[no_volume][0] == "missing_value"
    for symbol, (rule, detail) in quarantined.items():
        assert detail.startswith(f"{symbol} {DAY}: ") and f"(rule {rule})" in detail
    assert "volume missing" in quarantined[no_volume][1]


@pytest.mark.parametrize("fault", ["error", "empty"])
def test_when_every_symbol_fails_the_step_fails_and_nothing_is_deleted(clean_db: TestDatabase, fault: str):
    stored = _stored_day(clean_db)
    result = _run(clean_db, ["market/price_history"], DAY, faults=dict.fromkeys(_symbols(), fault),
                  raise_on_error=False)
    assert not result.success
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    messages = []
    while error is not None:
        messages.append(error.message)
        error = error.cause
    text = " ".join(messages)
    start, end = partition_window(DAY)
    # The message names the table and the window, and says that nothing changed.
    assert "price_history: " in text and f"[{start.isoformat()}, {end.isoformat()})" in text
    assert "nothing was changed" in text
    assert ("HTTP 500" if fault == "error" else "no data returned") in text
    assert _bars(clean_db) == stored
    with clean_db.connect() as conn:
        loads = conn.execute("SELECT count(*) FROM ops.ingest_log WHERE table_name = 'price_history'").fetchone()[0]
    assert loads == 1  # only the clean load: the failed one recorded nothing


def test_a_rate_limited_symbol_is_retried_on_the_second_pass(clean_db: TestDatabase):
    stored = _stored_day(clean_db)
    limited = _symbols()[0]
    result = _run(clean_db, ["market/price_history"], DAY, faults={limited: "rate_limit_once"})
    assert result.success
    meta = _meta(result, ["market", "price_history"])
    assert meta["symbols_retried"] == [limited] and meta["symbols_skipped"] == {}
    # Every symbol answered (the limited one on the retry) with the rows already stored.
    assert meta["rows_unchanged"] == UNIVERSE and meta["rows_loaded"] == 0
    assert _bars(clean_db) == stored


def _chains(conn: psycopg.Connection, symbol: str) -> tuple[int, str]:
    return conn.execute(
        "SELECT count(*), md5(string_agg(concat_ws('|', contract_symbol, bid, ask, fetched_at, loaded_at), ',' "
        "ORDER BY contract_symbol)) FROM market.options_calls WHERE symbol = %s AND snapshot_date = %s",
        (symbol, date.fromisoformat(DAY))).fetchone()


def test_an_option_chain_fetched_a_session_late_is_refused_and_keeps_the_days_chain(clean_db: TestDatabase):
    assert _run(clean_db, ["market/stocks"]).success
    assert _run(clean_db, ["market/options_calls", "market/options_puts"], DAY).success
    late, other = _symbols()[:2]
    with clean_db.connect() as conn:
        before_late, before_other = _chains(conn, late), _chains(conn, other)
    assert before_late[0] > 0
    result = _run(clean_db, ["market/options_calls", "market/options_puts"], DAY, faults={late: "late_chain"})
    assert result.success
    for side in ("options_calls", "options_puts"):
        why = _meta(result, ["market", side])["symbols_skipped"][late]
        assert f"option chain for {DAY} was fetched at {NEXT_SESSION_MIDDAY.isoformat()}" in why
        assert "(rule: snapshot_session)" in why
    with clean_db.connect() as conn:
        assert _chains(conn, late) == before_late
        after_other = _chains(conn, other)
    assert after_other == before_other  # answered with the chain already stored: left untouched
    with clean_db.connect() as conn:
        (answered,) = conn.execute("SELECT count(*) FROM market.options_calls WHERE symbol <> %s AND snapshot_date = %s",
                                   (late, date.fromisoformat(DAY))).fetchone()
    calls = _meta(result, ["market", "options_calls"])
    assert (calls["rows_unchanged"], calls["rows_loaded"]) == (answered, 0)


def _changed(conn: psycopg.Connection, table: str) -> list[str]:
    return conn.execute("SELECT symbols_changed FROM ops.ingest_log WHERE table_name = %s "
                        "ORDER BY ingest_id DESC LIMIT 1", (table,)).fetchone()[0]


def test_corporate_action_reloads_name_only_the_symbols_whose_events_changed(clean_db: TestDatabase):
    assert _run(clean_db, ["market/stocks"]).success
    selection = ["market/dividends", "market/splits"]
    assert _run(clean_db, selection, MONTH).success
    unchanged = _run(clean_db, selection, MONTH)
    assert unchanged.success
    assert _meta(unchanged, ["market", "dividends"])["symbols_changed"] == []
    assert _meta(unchanged, ["market", "splits"])["symbols_changed"] == []
    with clean_db.connect() as conn:
        assert _changed(conn, "dividends") == [] and _changed(conn, "splits") == []
    payer = _symbols()[2]
    announced = _run(clean_db, selection, MONTH, faults={payer: "new_dividend"})
    assert announced.success
    assert _meta(announced, ["market", "dividends"])["symbols_changed"] == [payer]
    assert _meta(announced, ["market", "splits"])["symbols_changed"] == []
    with clean_db.connect() as conn:
        assert _changed(conn, "dividends") == [payer]


def test_a_load_committing_after_a_later_id_was_refreshed_is_still_processed(clean_db: TestDatabase):
    source = SyntheticSource(universe_size=UNIVERSE)
    first, second, third = source.universe()[:3]
    window = partition_window(DAY)
    bars = source.price_bars([first, second, third], *window, "1d")
    with clean_db.connect() as conn:
        upsert(conn, "stocks", source.stocks([first, second, third]), source=source.name)
        # A committed load of the same day first: it creates the hypertable chunk, which an
        # uncommitted load would otherwise hold locked until it commits, blocking the other load.
        load_window(conn, "price_history", bars.filter(pl.col("symbol") == third), window=window,
                    symbols=[third], source="test", interval="1d")
        refresh_price_metrics(conn, run_id="setup")
    slow, fast, refresher = clean_db.connect(), clean_db.connect(), clean_db.connect()
    try:
        # The slow load takes the lower ingest id and keeps its transaction open; the fast one
        # takes a higher id and commits first.
        slow.execute("SELECT 1")  # open the transaction, so load_window runs inside it and does not commit
        slow_load = load_window(slow, "price_history", bars.filter(pl.col("symbol") == first), window=window,
                                symbols=[first], source="test", interval="1d")
        fast_load = load_window(fast, "price_history", bars.filter(pl.col("symbol") == second), window=window,
                                symbols=[second], source="test", interval="1d")
        assert slow_load.ingest_id < fast_load.ingest_id
        early = refresh_price_metrics(refresher, run_id="early")
        refresher.commit()
        assert early.loads_processed == 1 and early.symbols_windowed == [second]
        # A max-id watermark would now sit past the slow load's id and skip it for good.
        assert watermark(refresher, "price_metrics") == fast_load.ingest_id > slow_load.ingest_id
        slow.commit()
        late = refresh_price_metrics(refresher, run_id="late")
        refresher.commit()
        assert late.loads_processed == 1 and late.symbols_windowed == [first]
        covered = dict(refresher.execute(
            "SELECT c.ingest_id, r.run_id FROM ops.refresh_covered AS c JOIN ops.refresh_log AS r USING (refresh_id) "
            "WHERE c.target = 'price_metrics'").fetchall())
        adjusted = dict(refresher.execute(
            "SELECT symbol, adj_close_price FROM market.price_history WHERE date = %s",
            (date.fromisoformat(DAY),)).fetchall())
    finally:
        for conn in (slow, fast, refresher):
            conn.close()
    assert {k: v for k, v in covered.items() if v != "setup"} == {fast_load.ingest_id: "early",
                                                                  slow_load.ingest_id: "late"}
    assert adjusted[first] is not None and adjusted[second] is not None


def test_upsert_logs_what_the_derived_refreshes_need(clean_db: TestDatabase):
    source = SyntheticSource(universe_size=UNIVERSE)
    symbol = source.universe()[0]
    window = partition_window(DAY)
    daily = source.price_bars([symbol], *window, "1d")
    intraday = source.price_bars([symbol], *window, "5m")
    dividend = schemas.conform(pl.DataFrame({
        "time": [datetime(2024, 7, 5, 4, tzinfo=UTC)], "symbol": [symbol], "ex_date": [date(2024, 7, 5)],
        "amount": [0.25], "source": ["test"]}), "dividends")
    with clean_db.connect() as conn:
        upsert(conn, "stocks", source.stocks([symbol]), source=source.name)
        # A batch of two intervals would be logged with none, which no derived refresh selects.
        with pytest.raises(IngestError, match=r"one interval at a time.*single_interval"):
            upsert(conn, "price_history", pl.concat([daily, intraday]), source="test")
        bars = upsert(conn, "price_history", daily, source="test")
        first = upsert(conn, "dividends", dividend, source="test")
        again = upsert(conn, "dividends", dividend, source="test")
        logged = {r[0]: r[1:] for r in conn.execute(
            "SELECT ingest_id, interval, window_start, window_end, symbols, symbols_changed FROM ops.ingest_log")}
    # No window given: the log holds the rows' own span, half-open, and their symbols and interval.
    bar_time = daily.get_column("time").item()
    assert logged[bars.ingest_id][:4] == ("1d", bar_time, bar_time + timedelta(microseconds=1), [symbol])
    assert logged[first.ingest_id][4] == [symbol]
    # Re-upserting the same dividend changes nothing, so it restates no symbol's history.
    assert again.rows_unchanged == 1 and logged[again.ingest_id][4] == []
