"""The ingestion assets end to end: a Dagster run against the real test database."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from conftest import TestDatabase

from stockula_pipelines.defs.corporate_actions.assets import corporate_actions
from stockula_pipelines.defs.market_data.assets import price_history, price_history_intraday, stocks
from stockula_pipelines.defs.options.assets import option_chains
from stockula_pipelines.defs.quality.checks import price_checks
from stockula_pipelines.resources.market_data import MarketDataResource
from stockula_pipelines.resources.timescale import TimescaleResource
from stockula_pipelines.settings import Role

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "files_source"
ASSETS = [stocks, price_history, price_history_intraday, option_chains, corporate_actions]
DAY = "2024-07-05"  # the session after a holiday


def _resources(db: TestDatabase, **source) -> dict:
    return {
        "timescale": TimescaleResource(dsn=db.dsn(Role.writer)),
        "market_data": MarketDataResource(**({"source": "synthetic", "universe_size": 8} | source)),
    }


def _run(db: TestDatabase, selection: list[str], partition_key: str | None = None, **source) -> dg.ExecuteInProcessResult:
    return dg.materialize(ASSETS, selection=selection, partition_key=partition_key, resources=_resources(db, **source))


def _checksum(conn: psycopg.Connection, day: str) -> tuple[int, str]:
    return conn.execute(
        """
        SELECT count(*), md5(string_agg(concat_ws('|', symbol, interval, time, open_price, high_price, low_price,
                                               close_price, volume), ',' ORDER BY symbol, interval, time))
        FROM market.price_history WHERE date = %s
        """,
        (date.fromisoformat(day),),
    ).fetchone()


def _meta(result: dg.ExecuteInProcessResult, key: list[str]) -> dict:
    events = [e for e in result.get_asset_materialization_events() if e.asset_key == dg.AssetKey(key)]
    return {k: v.value for k, v in events[-1].materialization.metadata.items()}


def test_daily_partition_loads_and_reloads_identically(clean_db: TestDatabase):
    assert _run(clean_db, ["market/stocks"]).success
    first = _run(clean_db, ["market/price_history"], DAY)
    assert first.success
    meta = _meta(first, ["market", "price_history"])
    assert meta["rows_loaded"] == 8 and meta["rows_quarantined"] == 0 and meta["dagster/row_count"] == 8
    assert meta["window_start"] == "2024-07-05T04:00:00+00:00" and meta["window_end"] == "2024-07-06T04:00:00+00:00"
    with clean_db.connect() as conn:
        before = _checksum(conn, DAY)
    second = _run(clean_db, ["market/price_history"], DAY)
    again = _meta(second, ["market", "price_history"])
    # The source answered with the stored rows: compared, nothing deleted or written.
    assert (again["rows_replaced"], again["rows_loaded"], again["rows_unchanged"]) == (0, 0, 8)
    with clean_db.connect() as conn:
        assert _checksum(conn, DAY) == before
        logged = conn.execute(
            "SELECT count(*), sum(rows_loaded), sum(rows_deleted) FROM ops.ingest_log WHERE table_name = 'price_history'"
        ).fetchone()
    assert before[0] == 8 and logged == (2, 8, 0)


def test_every_ingestion_asset_fills_its_table(clean_db: TestDatabase):
    assert _run(clean_db, ["market/stocks"]).success
    for selection, key in (
        (["market/price_history"], DAY),
        (["market/options_calls", "market/options_puts"], DAY),
        # Intraday partitions begin at STOCKULA_INTRADAY_HISTORY_START (2025-01-02 by default).
        (["market/price_history_intraday"], "2025-07-07-10:30"),
        (["market/dividends", "market/splits"], "2024-01"),
    ):
        assert _run(clean_db, selection, key).success, selection
    with clean_db.connect() as conn:
        counts = dict(conn.execute(
            """
            SELECT 'daily', count(*) FROM market.price_history WHERE interval = '1d'
            UNION ALL SELECT 'intraday', count(*) FROM market.price_history WHERE interval = '5m'
            UNION ALL SELECT 'calls', count(*) FROM market.options_calls
            UNION ALL SELECT 'puts', count(*) FROM market.options_puts
            UNION ALL SELECT 'dividends', count(*) FROM market.dividends
            """
        ).fetchall())
        intraday_span = conn.execute(
            "SELECT min(time), max(time) FROM market.price_history WHERE interval = '5m'"
        ).fetchone()
    assert counts["daily"] == 8 and counts["calls"] > 100 and counts["puts"] == counts["calls"]
    # 10:30-11:30 New York (EDT) is 14:30-15:30 UTC: twelve 5-minute bars per symbol.
    assert counts["intraday"] == 8 * 12
    assert intraday_span == (datetime(2025, 7, 7, 14, 30, tzinfo=UTC), datetime(2025, 7, 7, 15, 25, tzinfo=UTC))
    assert counts["dividends"] >= 1


def test_a_range_backfill_is_one_run_over_the_whole_window(clean_db: TestDatabase):
    assert _run(clean_db, ["market/stocks"]).success
    result = dg.materialize(
        ASSETS, selection=["market/price_history"], resources=_resources(clean_db),
        tags={"dagster/asset_partition_range_start": "2024-07-01", "dagster/asset_partition_range_end": "2024-07-09"},
    )
    assert result.success
    with clean_db.connect() as conn:
        days = [r[0].isoformat() for r in conn.execute("SELECT DISTINCT date FROM market.price_history ORDER BY 1")]
        windows = conn.execute("SELECT count(*) FROM ops.ingest_log WHERE table_name = 'price_history'").fetchone()[0]
    assert days == ["2024-07-01", "2024-07-02", "2024-07-03", "2024-07-05", "2024-07-08", "2024-07-09"]
    assert windows == 1


def test_a_range_loaded_in_batches_of_symbols_equals_one_batch(clean_db: TestDatabase):
    """A long range goes in batches of symbols (bounded memory): the rows are those of a one-batch run."""
    assert _run(clean_db, ["market/stocks"]).success
    tags = {"dagster/asset_partition_range_start": "2024-07-01", "dagster/asset_partition_range_end": "2024-07-31"}

    def backfill(**source) -> tuple[dict, tuple, int]:
        result = dg.materialize([*ASSETS, price_checks(price_history.key, intraday=False)],
                                selection=["market/price_history"], resources=_resources(clean_db, **source), tags=tags)
        assert result.success
        # Each batch is its own ingest-log row: the checks of the range see every one of them.
        checks = result.get_asset_check_evaluations()
        assert checks and all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]
        with clean_db.connect() as conn:
            digest = conn.execute(
                "SELECT count(*), md5(string_agg(concat_ws('|', symbol, interval, time, open_price, high_price, "
                "low_price, close_price, volume, source), ',' ORDER BY symbol, interval, time)) FROM market.price_history"
            ).fetchone()
            loads = conn.execute("SELECT count(*) FROM ops.ingest_log WHERE table_name = 'price_history'").fetchone()[0]
        empty_data_tables_but_stocks(clean_db)
        return _meta(result, ["market", "price_history"]), digest, loads

    whole, whole_rows, whole_loads = backfill()
    # 22 sessions a symbol: 40 rows a batch is one symbol at a time.
    batched, batched_rows, batched_loads = backfill(load_batch_rows=40)
    assert (whole["load_batches"], whole_loads) == (1, 1)
    assert (batched["load_batches"], batched_loads) == (8, 8)
    assert batched_rows == whole_rows and whole_rows[0] == 8 * 22
    assert batched["rows_in_run"] == whole["rows_in_run"] == 8 * 22 and batched["symbols"] == 8


def empty_data_tables_but_stocks(db: TestDatabase) -> None:
    with db.connect(Role.admin, direct=True, autocommit=True) as conn:
        conn.execute("TRUNCATE market.price_history, ops.ingest_log CASCADE")


def test_bad_rows_from_files_are_quarantined_and_counted(clean_db: TestDatabase, tmp_path: Path):
    # A copy of the recorded sample with one bar whose low is above its high.
    import shutil

    root = tmp_path / "files"
    shutil.copytree(FIXTURES, root)
    prices = sorted((root / "prices").glob("*.csv"))[0]
    symbol = prices.stem
    lines = prices.read_text().splitlines()
    header, rows = lines[0].split(","), [line.split(",") for line in lines[1:]]
    col = {name: i for i, name in enumerate(header)}
    bad = [r for r in rows if "null" not in r][-1]
    bad[col["Low"]], bad[col["High"]] = str(float(bad[col["High"]]) + 5), str(float(bad[col["Low"]]))
    prices.write_text("\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n")
    day = bad[col["Date"]]

    source = {"source": "files", "files_dir": str(root)}
    assert _run(clean_db, ["market/stocks"], **source).success
    result = _run(clean_db, ["market/price_history"], day, **source)
    assert result.success
    meta = _meta(result, ["market", "price_history"])
    assert meta["rows_quarantined"] == 1 and "low_above_high" in meta["quarantined_by_rule"]
    with clean_db.connect(Role.admin, direct=True) as conn:
        rule, sym, detail = conn.execute("SELECT rule, symbol, detail FROM quality.quarantine").fetchone()
        loaded = conn.execute("SELECT count(*) FROM market.price_history WHERE symbol = %s", (symbol,)).fetchone()[0]
    assert "low_above_high" in rule and sym == symbol and day in detail and symbol in detail
    assert loaded == 0
