"""The loader (``load_window``) on the real database, fed what the row rules make of generated frames:
every input row ends loaded or quarantined with its rule, the counts add up, the stored rows are
exactly the valid ones plus the good stored rows a rejected row would have replaced, and nothing the
database's constraints refuse ever aborts a load."""

from __future__ import annotations

from datetime import timedelta

import polars as pl
import pytest
from bad_input import DB_EXAMPLES, GOOD_SYMBOLS, REGRESSIONS, WINDOW, frame_of, option_rows, price_rows
from hypothesis import example, given, settings

from stockula_pipelines.lib.ingest import load_window
from stockula_pipelines.lib.quality.rules import validate
from stockula_pipelines.settings import Role

pytestmark = [pytest.mark.property, pytest.mark.integration]

# Good rows stored before each example, on instants the generated rows also use.
BASELINE = frame_of("price_history", [
    {"time": WINDOW[0] + timedelta(hours=h), "symbol": s, "interval": "1d", "date": (WINDOW[0] + timedelta(hours=h)).date(),
     "open_price": 10.0, "high_price": 11.0, "low_price": 9.0, "close_price": 10.5, "volume": 100, "source": "baseline"}
    for s in ("AAA", "BBB") for h in (0, 24)])
BARS = ["time", "symbol", "interval", "date", "open_price", "high_price", "low_price", "close_price", "volume", "source"]


@pytest.fixture(scope="module")
def writer(test_db):
    # Autocommit: a read left in an open transaction would block the next example's TRUNCATE.
    with test_db.connect(Role.writer, direct=True, autocommit=True) as conn:
        yield conn


def _reset(db) -> None:
    with db.connect(Role.admin, direct=True, autocommit=True) as conn:
        conn.execute("TRUNCATE market.price_history, market.options_calls, quality.quarantine, ops.ingest_log CASCADE")


def _stored(conn, table: str, columns: list[str]) -> list[tuple]:
    cols = ", ".join(columns)  # fixed column names of the schema, never input
    return sorted(conn.execute(f"SELECT {cols} FROM market.{table}").fetchall(), key=repr)


def _rows(frame: pl.DataFrame, columns: list[str]) -> list[tuple]:
    return sorted(frame.select(columns).rows(), key=repr)


@settings(max_examples=DB_EXAMPLES)
@given(price_rows())
@example(REGRESSIONS[0])
@example(REGRESSIONS[1])
def test_every_bar_is_loaded_or_quarantined_and_rejects_spare_the_good_stored_rows(test_db, writer, rows):
    _reset(test_db)
    load_window(writer, "price_history", BASELINE, window=WINDOW, symbols=["AAA", "BBB"], source="baseline")
    frame = frame_of("price_history", rows)
    checked = validate("price_history", frame, window=WINDOW, known_symbols=set(GOOD_SYMBOLS))
    answered = sorted(set(checked.valid["symbol"]) | {"AAA", "BBB"})
    result = load_window(writer, "price_history", checked.valid, window=WINDOW, symbols=answered, interval="1d",
                         rejected=checked.rejected, source="test")
    assert result.rows_loaded == checked.valid.height and result.rows_quarantined == checked.rejected.height
    assert result.rows_loaded + result.rows_quarantined + checked.counts["identical_duplicates"] == frame.height

    valid_keys = set(checked.valid.select("symbol", "time").rows())
    spared = {k for k in checked.rejected.select("symbol", "time").rows() if k[1] is not None} - valid_keys
    kept = BASELINE.filter(pl.struct("symbol", "time").map_elements(
        lambda k: (k["symbol"], k["time"]) in spared, return_dtype=pl.Boolean))
    assert result.rows_deleted == BASELINE.height - kept.height
    assert _stored(writer, "price_history", BARS) == _rows(pl.concat([checked.valid, kept]), BARS)
    quarantined = writer.execute("SELECT rule, detail FROM quality.quarantine").fetchall()
    assert len(quarantined) == checked.rejected.height and all(rule and detail for rule, detail in quarantined)


@settings(max_examples=DB_EXAMPLES // 2)
@given(option_rows())
def test_every_contract_is_loaded_or_quarantined(test_db, writer, rows):
    _reset(test_db)
    frame = frame_of("options_calls", rows)
    checked = validate("options_calls", frame, window=WINDOW, known_symbols=set(GOOD_SYMBOLS))
    answered = sorted(set(checked.valid["symbol"]) | {"AAA"})
    result = load_window(writer, "options_calls", checked.valid, window=WINDOW, symbols=answered,
                         rejected=checked.rejected, source="test")
    assert result.rows_loaded + result.rows_quarantined + checked.counts["identical_duplicates"] == frame.height
    columns = ["contract_symbol", "time", "strike", "bid", "ask", "volume", "open_interest", "source"]
    stored = writer.execute("SELECT count(*) FROM market.options_calls").fetchone()[0]
    assert stored == checked.valid.height
    assert _stored(writer, "options_calls", columns) == _rows(checked.valid, columns)


@settings(max_examples=DB_EXAMPLES // 4)
@given(price_rows(max_rows=4))
def test_a_frame_of_naive_timestamps_is_refused_before_touching_the_database(test_db, writer, rows):
    from stockula_pipelines.lib.ingest import IngestError

    naive = frame_of("price_history", rows).with_columns(pl.col("time").dt.replace_time_zone(None))
    before = writer.execute("SELECT count(*) FROM ops.ingest_log").fetchone()
    with pytest.raises(IngestError, match="naive timestamps"):
        load_window(writer, "price_history", naive, window=WINDOW, symbols=["AAA"], interval="1d", source="test")
    assert writer.execute("SELECT count(*) FROM ops.ingest_log").fetchone() == before
