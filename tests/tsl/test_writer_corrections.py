"""On the full (TSL) edition the writer, not a superuser, corrects rows inside a compressed chunk.

TimescaleDB allows decompress_chunk to the hypertable's owner only; the loader runs as the writer and
goes through sql/0014's SECURITY DEFINER function. run_writer_correction.mjs loads the data set's
history into PGlite, compresses it, then SET ROLEs to the writer (and shows that this really drops the
superuser's rights) and replays the data set's late daily correction with the loader's own statements.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import node_runner
import pytest
from node_runner import run_script
from tsl_dataset import build

from stockula_pipelines.lib.db.migrate import discover
from stockula_pipelines.lib.ingest import bookkeeping
from stockula_pipelines.lib.ingest.bookkeeping import DECOMPRESS_CHUNK
from stockula_pipelines.settings import Settings

pytestmark = pytest.mark.tsl
node = node_runner.node  # the fixture, shared by the tier's modules

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
INSUFFICIENT_PRIVILEGE = "42501"


def test_writer_corrects_rows_inside_a_compressed_chunk(node, tmp_path):
    history, corrections = build()
    correction = next(c for c in corrections if c["table"] == "price_history" and c["interval"] == "1d")
    writer = Settings.model_fields["writer_user"].default
    request = {
        "migrations": [str(m.path) for m in discover(PROJECT / "sql", "tsl")],
        "writer": writer,
        "history": [load for load in history if load["table"] == "price_history"],
        "correction": correction,
        "selectCompressedSql": bookkeeping._SQL.text("select_compressed_chunks"),
        "decompressSql": DECOMPRESS_CHUNK,
    }
    out = run_script(node, "run_writer_correction.mjs", request, tmp_path)

    # Acting as the writer really is acting without the superuser's rights.
    assert out["who"] == {"user": writer, "superuser": False}
    assert out["refused"]["read_pg_authid"] == INSUFFICIENT_PRIVILEGE
    assert out["refused"]["create_role"] == INSUFFICIENT_PRIVILEGE
    # TimescaleDB's own decompress_chunk and compress_chunk are the owner's: the writer is refused ...
    assert out["refused"]["timescaledb_decompress_chunk"] == INSUFFICIENT_PRIVILEGE
    assert out["refused"]["compress_chunk"] == INSUFFICIENT_PRIVILEGE  # tried on the decompressed chunk
    # ... and the granted function decompresses chunks of market hypertables only.
    assert out["refused"]["function_on_a_plain_table"] == INSUFFICIENT_PRIVILEGE

    # The correction went through: its window's chunk was compressed, is now decompressed, and holds
    # exactly the corrected rows; nothing outside the window changed.
    assert out["chunks_found"] >= 1
    assert out["still_compressed"] == 0
    assert out["deleted"] == len(correction["rows"])
    assert out["rows_after"] == out["rows_before"]
    stored = {(r["symbol"], datetime.fromisoformat(r["time"])): r["close_price"] for r in out["stored"]}
    wanted = {(r["symbol"], datetime.fromisoformat(r["time"])): r["close_price"] for r in correction["rows"]}
    assert stored.keys() == wanted.keys()
    for key, price in wanted.items():
        assert math.isclose(stored[key], price), key
    before = {(r["symbol"], datetime.fromisoformat(r["time"])): r["close_price"]
              for load in history if load["table"] == "price_history" and load["interval"] == "1d"
              for r in load["rows"]}
    assert any(not math.isclose(before[key], wanted[key]) for key in wanted), "the correction must change a price"
