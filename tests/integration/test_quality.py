"""Data-quality checks against the real test database: one seeded defect per expectation.

Every seeded window is validated by both engines -- the compiled SQL one the pipeline uses and
great-expectations' own validator -- and they must agree expectation by expectation.

Rows are inserted as the admin role. Where a table CHECK constraint would refuse a defect (OHLC
relation, strike > 0, volume >= 0), the constraint is dropped for the seed and re-added NOT VALID, so
the GE suite -- the second line of defence behind the constraints -- is exercised as well.
"""

from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import Jsonb

from stockula_pipelines.lib.calendar import session_open_close, trading_day_window, trading_days
from stockula_pipelines.lib.ingest.resubmit import resubmit
from stockula_pipelines.lib.quality import ingestion
from stockula_pipelines.lib.quality.engines import validate_window
from stockula_pipelines.lib.quality.freshness import check_freshness
from stockula_pipelines.lib.quality.results import CheckOutcome
from stockula_pipelines.lib.quality.suites import TABLE_CHECKS
from stockula_pipelines.settings import Role

pytestmark = pytest.mark.integration

DAY = date(2024, 3, 8)
WINDOW = trading_day_window(DAY)
SYMBOLS = ["AAA", "BBB", "CCC"]
PH = "market/price_history"
OPT = "market/options_calls"


def admin(db) -> psycopg.Connection:
    return db.connect(Role.admin, direct=True, autocommit=True)


def bar(symbol: str, day: date, close: float = 100.0, *, volume: int = 1000, when: datetime | None = None, **over):
    row = {"time": when or trading_day_window(day)[0], "symbol": symbol, "interval": "1d", "date": day,
           "open_price": close, "high_price": close * 1.01, "low_price": close * 0.99, "close_price": close,
           "volume": volume, "source": "test"}
    row.update(over)
    return row


def insert(conn, table: str, rows: list[dict]) -> None:
    cols = list(rows[0])
    stmt = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier("market", table), sql.SQL(", ").join(map(sql.Identifier, cols)),
        sql.SQL(", ").join(sql.Placeholder(c) for c in cols))
    with conn.cursor() as cur:
        cur.executemany(stmt, rows)


def log_load(conn, symbols: list[str], window=WINDOW, table="price_history", interval="1d") -> None:
    conn.execute(
        "INSERT INTO ops.ingest_log (table_name, interval, window_start, window_end, symbols, mode, partition_key)"
        " VALUES (%s, %s, %s, %s, %s, 'replace', %s)",
        (table, interval, window[0], window[1], symbols, DAY.isoformat()))


@contextmanager
def relaxed(conn, table: str, constraint: str):
    """Let a defect the table's CHECK refuses in; the constraint comes back NOT VALID."""
    definition = conn.execute(
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s AND conrelid = %s::regclass",
        (constraint, f"market.{table}")).fetchone()[0]
    conn.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
        sql.Identifier("market", table), sql.Identifier(constraint)))
    try:
        yield
    finally:
        conn.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} " + definition + " NOT VALID").format(
            sql.Identifier("market", table), sql.Identifier(constraint)))


def history(conn, symbols=SYMBOLS, days: int = 5) -> None:
    """Clean daily bars of the sessions up to DAY, and the stocks."""
    conn.execute("INSERT INTO market.stocks (symbol, name, sector) SELECT s, s || ' Inc', 'Tech' FROM unnest(%s::text[]) s",
                 (symbols,))
    sessions = trading_days(DAY - timedelta(days=days * 2), DAY)[-days:]
    insert(conn, "price_history", [bar(s, d, 100.0 + i) for s in symbols for i, d in enumerate(sessions)])
    log_load(conn, symbols)


def engines_agree(db, table: str, window=WINDOW, interval: str | None = None) -> None:
    """The compiled engine and GE's validator give the same verdict and counts for every expectation."""
    def verdicts(outcome):
        return sorted((e.check, e.expectation, e.column or "", e.success, e.unexpected_count, e.element_count or -1)
                      for e in outcome.expectations)  # GE reorders results

    with db.connect() as conn:
        compiled = validate_window(conn, db.dsn(), table, window, interval=interval, engine="compiled")
        ge = validate_window(conn, db.dsn(), table, window, interval=interval, engine="great_expectations")
    assert compiled.engine == "compiled" and ge.engine == "great_expectations"
    assert not [e for e in ge.expectations if e.error], ge.expectations
    assert verdicts(compiled) == verdicts(ge)
    assert compiled.row_count == ge.row_count


def price_results(db) -> dict[str, CheckOutcome]:
    engines_agree(db, "price_history", interval="1d")
    with db.connect() as conn:
        results = ingestion.run_price_checks(conn, db.dsn(), WINDOW, asset_key=PH, interval="1d",
                                           partition_key=DAY.isoformat(), run_id="test")
    return {r.check_name: r for r in results}


def failed(results: dict[str, CheckOutcome]) -> set[str]:
    return {name for name, r in results.items() if not r.passed}


def test_good_prices_pass_every_check_and_are_recorded(clean_db):
    with admin(clean_db) as conn:
        history(conn)
    results = price_results(clean_db)
    assert failed(results) == set()
    assert set(results) == {"no_duplicates", "ohlc_consistent", "value_bounds", "null_rate",
                            "price_jump_without_split", "no_missing_trading_days", "source_coverage"}
    with admin(clean_db) as conn:
        rows = conn.execute("SELECT check_name, passed, window_start, partition_key, run_id "
                            "FROM quality.data_quality_results WHERE asset_key = %s", (PH,)).fetchall()
    assert len(rows) == 7 and all(r[1] and r[2] == WINDOW[0] and r[3] == "2024-03-08" for r in rows)


def test_ohlc_inconsistency_fails_blocking_error(clean_db):
    with admin(clean_db) as conn:
        history(conn)
        with relaxed(conn, "price_history", "price_history_ohlc_consistent"):
            conn.execute("UPDATE market.price_history SET low_price = high_price + 1 "
                         "WHERE symbol = 'BBB' AND date = %s", (DAY,))
    results = price_results(clean_db)
    assert failed(results) == {"ohlc_consistent"}
    r = results["ohlc_consistent"]
    assert r.severity == "ERROR" and r.blocking and r.failing_count == 1
    assert r.details["failed_expectations"][0]["sample"][0]["symbol"] == "BBB"


@pytest.mark.parametrize("column,value", [("close_price", 0.001), ("high_price", 600_000.0)])
def test_price_out_of_bounds_fails_value_bounds(clean_db, column, value):
    with admin(clean_db) as conn:
        history(conn)
        with relaxed(conn, "price_history", "price_history_ohlc_consistent"):
            conn.execute(sql.SQL("UPDATE market.price_history SET {} = %s WHERE symbol = 'AAA' AND date = %s").format(
                sql.Identifier(column)), (value, DAY))
    results = price_results(clean_db)
    assert "value_bounds" in failed(results)
    assert results["value_bounds"].severity == "ERROR" and not results["value_bounds"].blocking
    assert any(f["column"] == column for f in results["value_bounds"].details["failed_expectations"])


def test_negative_volume_fails_value_bounds(clean_db):
    with admin(clean_db) as conn:
        history(conn)
        with relaxed(conn, "price_history", "price_history_volume_check"):
            conn.execute("UPDATE market.price_history SET volume = -5 WHERE symbol = 'CCC' AND date = %s", (DAY,))
    results = price_results(clean_db)
    assert failed(results) == {"value_bounds"}
    assert results["value_bounds"].details["failed_expectations"][0]["column"] == "volume"


def test_duplicate_daily_bar_fails_blocking(clean_db):
    with admin(clean_db) as conn:
        history(conn)
        # Same symbol and trading date, stamped at 14:30 UTC instead of local midnight.
        insert(conn, "price_history", [bar("AAA", DAY, 109.0, when=WINDOW[0] + timedelta(hours=9, minutes=30))])
    results = price_results(clean_db)
    assert "no_duplicates" in failed(results)
    assert results["no_duplicates"].blocking and results["no_duplicates"].failing_count == 2


def test_jump_without_split_warns_and_split_explains_it(clean_db):
    with admin(clean_db) as conn:
        history(conn)
        conn.execute("UPDATE market.price_history SET close_price = 50, open_price = 50, low_price = 49.5, "
                     "high_price = 50.5 WHERE symbol = 'AAA' AND date = %s", (DAY,))
    results = price_results(clean_db)
    assert failed(results) == {"price_jump_without_split"}
    assert results["price_jump_without_split"].severity == "WARN"
    with admin(clean_db) as conn:
        insert(conn, "splits", [{"time": WINDOW[0], "symbol": "AAA", "ex_date": DAY, "ratio": 2.0, "source": "test"}])
    assert failed(price_results(clean_db)) == set()


def test_missing_symbol_and_skipped_session_fail_blocking(clean_db):
    with admin(clean_db) as conn:
        history(conn)
        conn.execute("DELETE FROM market.price_history WHERE symbol = 'CCC' AND date = %s", (DAY,))
        conn.execute("DELETE FROM market.price_history WHERE symbol = 'BBB' AND date = %s", (date(2024, 3, 7),))
    r = price_results(clean_db)["no_missing_trading_days"]
    assert not r.passed and r.blocking and r.severity == "ERROR"
    assert r.details["missing_symbols"] == ["CCC"]
    assert r.details["gaps"] == {"BBB": ["2024-03-07"]}
    assert "CCC" in r.details["message"] and "2024-03-08" in r.details["message"]


def test_weekend_before_monday_is_not_a_gap(clean_db):
    monday = date(2024, 3, 11)
    with admin(clean_db) as conn:
        history(conn)
        insert(conn, "price_history", [bar(s, monday, 105.0) for s in SYMBOLS])
    with clean_db.connect() as conn:
        r = ingestion.missing_trading_days(conn, trading_day_window(monday), asset_key=PH, interval="1d",
                                         expected_symbols=SYMBOLS)
    assert r.passed, r.details


def option(contract: str, **over) -> dict:
    row = {"time": WINDOW[1] - timedelta(hours=8), "snapshot_date": DAY, "symbol": "AAA",
           "contract_symbol": contract, "expiration_date": date(2024, 3, 15), "strike": 100.0, "last_price": 2.0,
           "bid": 1.9, "ask": 2.1, "volume": 10, "open_interest": 100, "source_implied_volatility": 0.3,
           "in_the_money": False, "underlying_price": 100.0, "implied_volatility": 0.3, "delta": 0.5,
           "gamma": 0.05, "theta": -10.0, "vega": 8.0, "rho": 2.0, "greeks_status": "ok", "source": "test"}
    row.update(over)
    return row


def option_results(db, rows: list[dict], relax: str | None = None) -> dict[str, CheckOutcome]:
    with admin(db) as conn:
        good = [option(f"AAA240315C{i:05d}") for i in range(60)]
        if relax:
            with relaxed(conn, "options_calls", relax):
                insert(conn, "options_calls", good + rows)
        else:
            insert(conn, "options_calls", good + rows)
    engines_agree(db, "options_calls")
    with db.connect() as conn:
        results = ingestion.run_table_checks(conn, db.dsn(), "options_calls", WINDOW, asset_key=OPT)
    return {r.check_name: r for r in results}


OPTION_DEFECTS = [
    ("bid_above_ask", {"bid": 2.5, "ask": 2.0}, "quote_consistent", None),
    ("expiry_before_snapshot", {"expiration_date": date(2024, 3, 1)}, "quote_consistent", None),
    ("non_positive_strike", {"strike": 0.0}, "quote_consistent", "options_calls_strike_check"),
    ("iv_too_high", {"implied_volatility": 7.5}, "value_bounds", None),
    ("iv_zero", {"source_implied_volatility": 0.0}, "value_bounds", None),
    ("delta_above_one", {"delta": 1.2}, "value_bounds", None),
    ("negative_gamma", {"gamma": -0.01}, "value_bounds", None),
    ("negative_vega", {"vega": -1.0}, "value_bounds", None),
]


@pytest.mark.parametrize("case,change,check,relax", OPTION_DEFECTS, ids=[c[0] for c in OPTION_DEFECTS])
def test_option_defects(clean_db, case, change, check, relax):
    results = option_results(clean_db, [option("AAA240315X99999", **change)], relax)
    assert failed(results) == {check}, case
    assert results[check].severity == "ERROR"


def test_options_null_rate_and_duplicates(clean_db):
    rows = [option(f"AAA240315P{i:05d}", underlying_price=None) for i in range(3)]  # 3/63 > 2 % null
    rows.append(option("AAA240315C00001", time=WINDOW[1] - timedelta(hours=7)))  # same contract, same day
    results = option_results(clean_db, rows)
    assert failed(results) == {"null_rate", "no_duplicates"}
    assert results["null_rate"].severity == "WARN" and results["no_duplicates"].blocking


def test_good_options_pass(clean_db):
    assert failed(option_results(clean_db, [])) == set()


def test_freshness_against_the_database(clean_db):
    with admin(clean_db) as conn:
        history(conn)  # daily bars up to Friday 2024-03-08
    with clean_db.connect() as conn:
        sunday = check_freshness(conn, "price_history", datetime(2024, 3, 10, 12, tzinfo=UTC), asset_key=PH)
        tuesday = check_freshness(conn, "price_history", datetime(2024, 3, 12, 22, tzinfo=UTC), asset_key=PH)
        options = check_freshness(conn, "options_calls", datetime(2024, 3, 10, 12, tzinfo=UTC), asset_key=OPT)
    assert sunday.passed and not tuesday.passed and tuesday.failing_count == 2
    assert not options.passed and options.severity == "WARN"


def quarantine_row(conn, rule: str, row: dict) -> int:
    data = {k: (v.isoformat() if isinstance(v, date | datetime) else v) for k, v in row.items()}
    return conn.execute(
        "INSERT INTO quality.quarantine (table_name, rule, symbol, time, detail, row_data) "
        "VALUES ('price_history', %s, %s, %s, 'seeded', %s) RETURNING quarantine_id",
        (rule, row["symbol"], row["time"], Jsonb(data))).fetchone()[0]


def test_resubmit_loads_fixed_rows_and_leaves_failing_open(clean_db):
    with admin(clean_db) as conn:
        history(conn, symbols=["AAA"])
        fixed = quarantine_row(conn, "unknown_symbol", bar("NEWCO", DAY, 20.0))
        broken = quarantine_row(conn, "unknown_symbol", bar("NEWCO", date(2024, 3, 7), 20.0, low_price=30.0))
        other = quarantine_row(conn, "low_above_high", bar("AAA", date(2024, 3, 1), 20.0, low_price=30.0))
        # The fix: NEWCO is now a known symbol.
        conn.execute("INSERT INTO market.stocks (symbol, name) VALUES ('NEWCO', 'New Co')")
    with clean_db.connect() as conn:
        outcome = resubmit(conn, rule="unknown_symbol", run_id="test")
    assert outcome.resubmitted_ids == [fixed]
    assert set(outcome.still_failing) == {broken} and "low_above_high" in outcome.still_failing[broken]
    with admin(clean_db) as conn:
        states = dict(conn.execute("SELECT quarantine_id, resolution FROM quality.quarantine").fetchall())
        loaded = conn.execute("SELECT close_price FROM market.price_history WHERE symbol = 'NEWCO'").fetchall()
    assert states == {fixed: "resubmitted", broken: None, other: None}
    assert loaded == [(20.0,)]


def test_resubmit_requires_a_filter(clean_db):
    with clean_db.connect() as conn, pytest.raises(ValueError, match="filter"):
        resubmit(conn)


def test_blocking_check_stops_downstream_on_real_asset_key(clean_db):
    from stockula_pipelines.defs.quality.checks import price_checks
    from stockula_pipelines.partitions import daily_partitions
    from stockula_pipelines.resources.timescale import TimescaleResource

    with admin(clean_db) as conn:
        history(conn)
        insert(conn, "price_history", [bar("AAA", DAY, 109.0, when=WINDOW[0] + timedelta(hours=9, minutes=30))])
    ran = []

    @dg.asset(key=["market", "price_history"], partitions_def=daily_partitions)
    def price_history():  # the rows were seeded above; only the checks matter here
        return None

    @dg.asset(deps=[price_history], partitions_def=daily_partitions)
    def analyst_view():
        ran.append(True)

    result = dg.materialize(
        [price_history, analyst_view, price_checks(dg.AssetKey(["market", "price_history"]), intraday=False)],
        partition_key=DAY.isoformat(), resources={"timescale": TimescaleResource(dsn=clean_db.dsn())},
        raise_on_error=False,
    )
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["no_duplicates"].passed
    assert evaluations["no_duplicates"].severity == dg.AssetCheckSeverity.ERROR
    assert evaluations["ohlc_consistent"].passed
    assert ran == []
    with admin(clean_db) as conn:
        keys = conn.execute("SELECT DISTINCT partition_key FROM quality.data_quality_results").fetchall()
    assert keys == [("2024-03-08",)]


def test_a_range_run_records_each_partitions_evaluation_and_rechecks_only_on_failure(clean_db):
    # The UI reads these per-partition evaluations (Dagster files a range result under no partition).
    from stockula_pipelines.defs.market_data.assets import price_history, stocks
    from stockula_pipelines.defs.quality.checks import price_checks
    from stockula_pipelines.resources.market_data import MarketDataResource
    from stockula_pipelines.resources.timescale import TimescaleResource

    key = dg.AssetKey(["market", "price_history"])
    days = ["2024-07-01", "2024-07-02", "2024-07-03"]
    resources = {"timescale": TimescaleResource(dsn=clean_db.dsn()),
                 "market_data": MarketDataResource(source="synthetic", universe_size=4)}
    assets = [stocks, price_history, price_checks(key, intraday=False)]
    tags = {"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]}

    def evaluations(result) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
        return {(e.partition, e.check_name): e for e in result.get_asset_check_evaluations() if e.partition}

    assert dg.materialize(assets, selection=["market/stocks"], resources=resources).success
    clean = evaluations(dg.materialize(assets, selection=["market/price_history"], resources=resources, tags=tags))
    checks = {c.name for c in TABLE_CHECKS["price_history"]} | {"no_missing_trading_days", "source_coverage"}
    assert set(clean) == {(d, c) for d in days for c in checks}
    assert all(e.passed and e.target_materialization_data is not None for e in clean.values())
    assert {e.metadata["checked_in"].value for e in clean.values()} == {f"range run {days[0]}...{days[-1]}"}

    # Two bars of one day for a symbol the source does not answer for (the load keeps them).
    day = date.fromisoformat(days[1])
    with admin(clean_db) as conn:
        conn.execute("INSERT INTO market.stocks (symbol, name) VALUES ('ZZZ', 'Z Corp')")
        insert(conn, "price_history", [bar("ZZZ", day, 10.0), bar("ZZZ", day, 10.0, when=trading_day_window(day)[0]
                                                                    + timedelta(hours=10))])
    rechecked = evaluations(dg.materialize(assets, selection=["market/price_history"], resources=resources,
                                           tags=tags, raise_on_error=False))
    assert {k for k, e in rechecked.items() if not e.passed} == {(days[1], "no_duplicates")}
    assert rechecked[(days[1], "no_duplicates")].metadata["failing_count"].value == 2
    assert {e.metadata["checked_in"].value for e in rechecked.values()} == {"this partition"}


def test_quarantine_report_lists_open_rows(clean_db):
    from stockula_pipelines.defs.quality.quarantine import quarantine_report
    from stockula_pipelines.resources.timescale import TimescaleResource

    with admin(clean_db) as conn:
        quarantine_row(conn, "low_above_high", bar("AAA", DAY, 20.0, low_price=30.0))
        quarantine_row(conn, "low_above_high", bar("AAA", date(2024, 3, 7), 20.0, low_price=30.0))
    result = dg.materialize([quarantine_report], resources={"timescale": TimescaleResource(dsn=clean_db.dsn())},
                            selection=[quarantine_report])
    meta = result.asset_materializations_for_node("quality__quarantine_report")[0].metadata
    assert meta["open_rows"].value == 2
    records = meta["open_quarantine"].records
    assert {(r.data["rule"], r.data["symbol"], r.data["trading_date"]) for r in records} == {
        ("low_above_high", "AAA", "2024-03-08"), ("low_above_high", "AAA", "2024-03-07")}


# --- Corporate actions, reference data, intraday bars, empty and multi-day windows -----------------

MONTH = (datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC))


def action(ex_date: date, symbol: str = "AAA", *, hours: int = 0, **values) -> dict:
    """A dividend or split row, stamped (as loaded) at the ex-date's local midnight; ``hours`` later
    gives a second row for the same ex-date that the (symbol, time) primary key lets in."""
    return {"time": trading_day_window(ex_date)[0] + timedelta(hours=hours), "symbol": symbol,
            "ex_date": ex_date, "source": "test", **values}


def table_results(db, table: str, window) -> dict[str, CheckOutcome]:
    with db.connect() as conn:
        results = ingestion.run_table_checks(conn, db.dsn(), table, window, asset_key=f"market/{table}")
    return {r.check_name: r for r in results}


def dividends() -> list[dict]:
    # 2024-03-01 at local midnight is 05:00 UTC: inside the UTC month.
    return [action(date(2024, 3, 1), "AAA", amount=0.24), action(date(2024, 3, 12), "BBB", amount=0.5),
            action(date(2024, 3, 19), "CCC", amount=1.0)]


def test_good_dividends_pass_and_defects_outside_the_month_do_not_count(clean_db):
    outside = [action(d, "AAA", hours=h, amount=0.3) for d in (date(2024, 2, 29), date(2024, 4, 1)) for h in (0, 9)]
    with admin(clean_db) as conn:
        insert(conn, "dividends", dividends() + outside)
    results = table_results(clean_db, "dividends", MONTH)
    assert set(results) == {"no_duplicates", "value_bounds", "source_coverage"} and failed(results) == set()
    assert results["value_bounds"].total_count == 3
    engines_agree(clean_db, "dividends", MONTH)


def test_duplicate_dividend_fails_blocking(clean_db):
    with admin(clean_db) as conn:
        insert(conn, "dividends", [*dividends(), action(date(2024, 3, 12), "BBB", hours=9, amount=0.5)])
    results = table_results(clean_db, "dividends", MONTH)
    assert failed(results) == {"no_duplicates"}
    r = results["no_duplicates"]
    assert r.severity == "ERROR" and r.blocking and r.failing_count == 2
    assert r.details["failed_expectations"][0]["sample"][0]["symbol"] == "BBB"
    engines_agree(clean_db, "dividends", MONTH)


@pytest.mark.parametrize("amount,relax,fails", [(0.0, "dividends_amount_check", True),
                                                (-1.0, "dividends_amount_check", True),
                                                (500_000.5, None, True), (500_000.0, None, False)])
def test_dividend_amount_bounds(clean_db, amount, relax, fails):
    with admin(clean_db) as conn:
        if relax:
            with relaxed(conn, "dividends", relax):
                insert(conn, "dividends", [*dividends(), action(date(2024, 3, 26), "DDD", amount=amount)])
        else:
            insert(conn, "dividends", [*dividends(), action(date(2024, 3, 26), "DDD", amount=amount)])
    results = table_results(clean_db, "dividends", MONTH)
    assert failed(results) == ({"value_bounds"} if fails else set())
    r = results["value_bounds"]
    assert r.severity == "ERROR" and not r.blocking and r.failing_count == int(fails)
    engines_agree(clean_db, "dividends", MONTH)


def splits() -> list[dict]:
    return [action(date(2024, 3, 5), "AAA", ratio=4.0), action(date(2024, 3, 20), "BBB", ratio=0.1)]


def test_good_splits_pass(clean_db):
    with admin(clean_db) as conn:
        insert(conn, "splits", splits())
    results = table_results(clean_db, "splits", MONTH)
    assert set(results) == {"no_duplicates", "value_bounds", "source_coverage"} and failed(results) == set()
    engines_agree(clean_db, "splits", MONTH)


def test_duplicate_split_fails_blocking(clean_db):
    with admin(clean_db) as conn:
        insert(conn, "splits", [*splits(), action(date(2024, 3, 5), "AAA", hours=9, ratio=4.0)])
    results = table_results(clean_db, "splits", MONTH)
    assert failed(results) == {"no_duplicates"}
    assert results["no_duplicates"].blocking and results["no_duplicates"].failing_count == 2
    engines_agree(clean_db, "splits", MONTH)


@pytest.mark.parametrize("ratio,fails", [(0.0005, True), (1500.0, True), (0.001, False), (1000.0, False)])
def test_split_ratio_bounds(clean_db, ratio, fails):
    with admin(clean_db) as conn:
        insert(conn, "splits", [*splits(), action(date(2024, 3, 12), "CCC", ratio=ratio)])
    results = table_results(clean_db, "splits", MONTH)
    assert failed(results) == ({"value_bounds"} if fails else set())
    assert results["value_bounds"].severity == "ERROR" and not results["value_bounds"].blocking
    assert results["value_bounds"].failing_count == int(fails)
    engines_agree(clean_db, "splits", MONTH)


def stock(i: int, **over) -> dict:
    row = {"symbol": f"S{i:03d}", "name": f"Stock {i}", "sector": "Tech",
           "market_cap": None if i % 10 == 0 else 10**9 + i, "source": "test"}  # NULL market cap is allowed
    row.update(over)
    return row


def stock_results(db, extra: list[dict], relax: str | None = None) -> dict[str, CheckOutcome]:
    with admin(db) as conn:
        good = [stock(i) for i in range(60)]
        if relax:
            with relaxed(conn, "stocks", relax):
                insert(conn, "stocks", good + extra)
        else:
            insert(conn, "stocks", good + extra)
    return table_results(db, "stocks", None)


def test_good_stocks_pass(clean_db):
    results = stock_results(clean_db, [])
    assert set(results) == {"no_duplicates", "null_rate", "value_bounds"} and failed(results) == set()
    engines_agree(clean_db, "stocks", None)


@pytest.mark.parametrize("column,nulls,fails", [("name", 2, True), ("sector", 2, True), ("sector", 1, False)])
def test_stock_null_rate_warns_above_two_percent(clean_db, column, nulls, fails):
    # 2 of 62 rows (3.2 %) is above the 2 % limit; 1 of 61 (1.6 %) is not.
    results = stock_results(clean_db, [stock(100 + i, **{column: None}) for i in range(nulls)])
    assert failed(results) == ({"null_rate"} if fails else set())
    r = results["null_rate"]
    assert r.severity == "WARN" and not r.blocking
    if fails:
        assert r.failing_count == nulls and r.details["failed_expectations"][0]["column"] == column
    engines_agree(clean_db, "stocks", None)


def test_negative_market_cap_fails_value_bounds(clean_db):
    results = stock_results(clean_db, [stock(100, market_cap=-1)], relax="stocks_market_cap_check")
    assert failed(results) == {"value_bounds"}
    r = results["value_bounds"]
    assert r.severity == "ERROR" and not r.blocking and r.failing_count == 1
    assert r.details["failed_expectations"][0]["sample"] == [-1]
    engines_agree(clean_db, "stocks", None)


SESSION = session_open_close(DAY)  # 14:30-21:00 UTC
FIVE = timedelta(minutes=5)


def five_minute_bars(symbols=SYMBOLS) -> list[dict]:
    steps = int((SESSION[1] - SESSION[0]) / FIVE)
    return [bar(s, DAY, 100.0 + 0.05 * i, when=SESSION[0] + i * FIVE, interval="5m")
            for s in symbols for i in range(steps)]


def intraday_results(db) -> dict[str, CheckOutcome]:
    with db.connect() as conn:
        results = ingestion.run_price_checks(conn, db.dsn(), SESSION, asset_key=PH, interval="5m",
                                           partition_key=DAY.isoformat(), run_id="test")
    return {r.check_name: r for r in results}


def test_good_intraday_bars_pass(clean_db):
    with admin(clean_db) as conn:
        insert(conn, "price_history", five_minute_bars())
        log_load(conn, SYMBOLS, window=SESSION, interval="5m")
    results = intraday_results(clean_db)
    assert failed(results) == set()
    assert results["no_duplicates"].total_count == 78 * len(SYMBOLS)
    engines_agree(clean_db, "price_history", SESSION, interval="5m")


def test_intraday_jump_without_split_warns(clean_db):
    jump_at = SESSION[0] + 40 * FIVE
    with admin(clean_db) as conn:
        insert(conn, "price_history", five_minute_bars())
        log_load(conn, SYMBOLS, window=SESSION, interval="5m")
        # Every BBB bar from 17:50 on 40 % higher: one jump, between the 17:45 and 17:50 bars.
        conn.execute("UPDATE market.price_history SET open_price = open_price * 1.4, high_price = high_price * 1.4, "
                     "low_price = low_price * 1.4, close_price = close_price * 1.4 "
                     "WHERE symbol = 'BBB' AND interval = '5m' AND time >= %s", (jump_at,))
    results = intraday_results(clean_db)
    assert failed(results) == {"price_jump_without_split"}
    r = results["price_jump_without_split"]
    assert r.severity == "WARN" and not r.blocking and r.failing_count == 1
    sample = r.details["failed_expectations"][0]["sample"][0]
    assert sample["symbol"] == "BBB" and datetime.fromisoformat(sample["time"]) == jump_at
    engines_agree(clean_db, "price_history", SESSION, interval="5m")


@pytest.mark.parametrize("table,window,interval", [("price_history", WINDOW, "1d"), ("options_calls", WINDOW, None),
                                                   ("dividends", MONTH, None)])
def test_empty_window_passes_every_check_vacuously(clean_db, table, window, interval):
    with clean_db.connect() as conn:
        if table == "price_history":
            results = ingestion.run_price_checks(conn, clean_db.dsn(), window, asset_key=PH, interval=interval)
        else:
            results = ingestion.run_table_checks(conn, clean_db.dsn(), table, window, asset_key=f"market/{table}")
    suite = {c.name for c in TABLE_CHECKS[table]}
    assert suite <= {r.check_name for r in results}
    assert [r.check_name for r in results if not r.passed] == []
    assert all(r.failing_count == 0 for r in results)
    assert all(r.total_count == 0 for r in results if r.check_name in suite)
    engines_agree(clean_db, table, window, interval=interval)


WEEK = (trading_day_window(date(2024, 3, 4))[0], trading_day_window(date(2024, 3, 8))[1])


def week_results(db) -> dict[str, CheckOutcome]:
    with db.connect() as conn:
        results = ingestion.suite_checks(conn, db.dsn(), "price_history", WEEK, asset_key=PH, interval="1d")
    return {r.check_name: r for r in results}


def test_jump_between_two_bars_inside_a_multi_day_window(clean_db):
    # AAA halves between Tue 03-05 and Wed 03-06, both inside the window; Fri 03-01 (before it) is no jump.
    closes = {date(2024, 3, 1): 100.0, date(2024, 3, 4): 100.0, date(2024, 3, 5): 101.0,
              date(2024, 3, 6): 50.0, date(2024, 3, 7): 51.0, date(2024, 3, 8): 52.0}
    with admin(clean_db) as conn:
        insert(conn, "price_history", [bar("AAA", d, c) for d, c in closes.items()]
               + [bar("BBB", d, 100.0) for d in closes])
        insert(conn, "splits", [action(date(2024, 3, 8), ratio=2.0)])  # after the jump: explains nothing
    results = week_results(clean_db)
    assert failed(results) == {"price_jump_without_split"}
    r = results["price_jump_without_split"]
    assert r.severity == "WARN" and not r.blocking and r.failing_count == 1 and r.total_count == 10
    sample = r.details["failed_expectations"][0]["sample"][0]
    assert (sample["symbol"], sample["close_price"], sample["previous_close"]) == ("AAA", 50.0, 101.0)
    engines_agree(clean_db, "price_history", WEEK, interval="1d")


def test_split_between_two_bars_inside_a_multi_day_window_explains_the_jump(clean_db):
    closes = {date(2024, 3, 4): 100.0, date(2024, 3, 5): 101.0, date(2024, 3, 6): 50.0, date(2024, 3, 7): 51.0}
    with admin(clean_db) as conn:
        insert(conn, "price_history", [bar("AAA", d, c) for d, c in closes.items()])
        insert(conn, "splits", [action(date(2024, 3, 6), ratio=2.0)])
    assert failed(week_results(clean_db)) == set()
    engines_agree(clean_db, "price_history", WEEK, interval="1d")


def test_previous_bar_beyond_the_lookback_is_a_gap_not_a_jump(clean_db):
    # AAA's last bar before DAY is three weeks old: the jump check looks back ten days only, and the
    # blocking calendar check is the one that reports the skipped sessions.
    with admin(clean_db) as conn:
        conn.execute("INSERT INTO market.stocks (symbol, name, sector) VALUES ('AAA', 'AAA Inc', 'Tech')")
        insert(conn, "price_history", [bar("AAA", date(2024, 2, 15), 100.0), bar("AAA", DAY, 50.0)])
        log_load(conn, ["AAA"])
    results = price_results(clean_db)
    assert failed(results) == {"no_missing_trading_days"}
    assert results["no_missing_trading_days"].details["gaps"]["AAA"][0] == "2024-02-16"


# --- STOCKULA_QUALITY_ENGINE picks the engine the pipeline's checks use ----------------------------

@pytest.fixture
def engine_setting(monkeypatch):
    from stockula_pipelines.settings import reload_settings

    def choose(engine: str | None) -> None:
        if engine is None:
            monkeypatch.delenv("STOCKULA_QUALITY_ENGINE", raising=False)
        else:
            monkeypatch.setenv("STOCKULA_QUALITY_ENGINE", engine)
        reload_settings()

    yield choose
    monkeypatch.delenv("STOCKULA_QUALITY_ENGINE", raising=False)
    reload_settings()


@pytest.mark.parametrize("engine", [None, "compiled", "great_expectations"])
def test_setting_chooses_the_engine_and_results_match(clean_db, engine_setting, engine):
    with admin(clean_db) as conn, relaxed(conn, "price_history", "price_history_volume_check"):
        # One clean bar and one with negative volume.
        insert(conn, "price_history", [bar("AAA", DAY, 10.5), bar("BBB", DAY, 10.5, volume=-1)])
    engine_setting(engine)
    with clean_db.connect() as conn:
        checked = ingestion.suite_checks(conn, clean_db.dsn(), "price_history", WINDOW,
                                       asset_key="market/price_history", interval="1d")
    results = {r.check_name: r for r in checked}
    assert {r.details["engine"] for r in results.values()} == {engine or "compiled"}
    bounds = results["value_bounds"]
    assert not bounds.passed and bounds.failing_count == 1
    assert bounds.details["failed_expectations"] == [
        {"expectation": "expect_column_values_to_be_between", "column": "volume", "unexpected_count": 1,
         "sample": [-1]}]
    assert all(r.passed for name, r in results.items() if name != "value_bounds")
