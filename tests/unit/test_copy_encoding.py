"""The binary COPY stream pgpq produces, checked by decoding it with the format's documented layout."""

from __future__ import annotations

import struct
from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from stockula_pipelines.lib import schemas
from stockula_pipelines.lib.ingest import PGCOPY_SIGNATURE, encode_frame, iter_copy_stream, to_arrow
from stockula_pipelines.lib.ingest.copy import PIECE_BYTES, encodable

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def decode(stream: bytes) -> list[list[bytes | None]]:
    """Split a binary COPY stream into rows of raw field payloads (None for NULL)."""
    assert stream.startswith(PGCOPY_SIGNATURE)
    pos = len(PGCOPY_SIGNATURE)
    _flags, ext_len = struct.unpack_from("!iI", stream, pos)
    pos += 8 + ext_len
    rows = []
    while True:
        (nfields,) = struct.unpack_from("!h", stream, pos)
        pos += 2
        if nfields == -1:
            assert pos == len(stream), "bytes after the trailer"
            return rows
        row: list[bytes | None] = []
        for _ in range(nfields):
            (length,) = struct.unpack_from("!i", stream, pos)
            pos += 4
            if length == -1:
                row.append(None)
            else:
                row.append(stream[pos:pos + length])
                pos += length
        rows.append(row)


FRAME = pl.DataFrame(
    {
        "ts": [datetime(2024, 3, 4, 14, 30, 0, 123_456, tzinfo=UTC), None, PG_EPOCH],
        "d": [date(2024, 3, 4), None, date(1999, 12, 31)],
        "s": ["AAA", None, "ÆØÅ 😀 '); drop table x; --"],
        "f": [1.5, None, -2.25],
        "i": [42, None, -(2**63)],
        "b": [True, None, False],
    },
    schema={"ts": schemas.UTC_TS, "d": pl.Date, "s": pl.String, "f": pl.Float64, "i": pl.Int64, "b": pl.Boolean},
)


def test_stream_has_signature_trailer_and_one_row_per_frame_row():
    stream = encode_frame(FRAME)
    assert stream.startswith(PGCOPY_SIGNATURE)
    assert stream.endswith(b"\xff\xff")
    rows = decode(stream)
    assert len(rows) == FRAME.height
    assert all(len(r) == FRAME.width for r in rows)


def test_values_use_postgres_binary_representations():
    first, nulls, last = decode(encode_frame(FRAME))
    assert nulls == [None] * FRAME.width
    ts, d, s, f, i, b = first
    micros = (FRAME["ts"][0] - PG_EPOCH) // timedelta(microseconds=1)
    assert struct.unpack("!q", ts) == (micros,)  # timestamptz: UTC microseconds since 2000-01-01
    assert struct.unpack("!i", d) == ((date(2024, 3, 4) - date(2000, 1, 1)).days,)  # date: days since 2000
    assert s == b"AAA"
    assert struct.unpack("!d", f) == (1.5,)
    assert struct.unpack("!q", i) == (42,)
    assert b == b"\x01"
    assert struct.unpack("!q", last[0]) == (0,)
    assert struct.unpack("!i", last[1]) == (-1,)
    assert last[2].decode("utf-8") == "ÆØÅ 😀 '); drop table x; --"
    assert struct.unpack("!q", last[4]) == (-(2**63),)
    assert last[5] == b"\x00"


def test_jsonb_columns_carry_the_jsonb_version_byte():
    frame = pl.DataFrame({"row_data": ['{"a": 1}', None]})
    (first,), (second,) = decode(encode_frame(frame, jsonb=("row_data",)))
    assert first == b'\x01{"a": 1}'
    assert second is None
    with pytest.raises(TypeError, match="must be a string column"):
        encode_frame(pl.DataFrame({"n": [1]}), jsonb=("n",))


def test_string_views_are_encoded_like_strings():
    view = FRAME.select("s").to_arrow(compat_level=pl.CompatLevel.newest())
    assert str(view.schema.field("s").type) == "string_view"
    converted = encodable(view)
    assert str(converted.schema.field("s").type) == "large_string"
    assert decode(b"".join(iter_copy_stream(converted))) == decode(encode_frame(FRAME.select("s")))


def test_large_frames_are_streamed_in_pieces_of_about_a_megabyte():
    n = 200_000
    frame = pl.DataFrame({"i": pl.int_range(n, eager=True), "s": pl.repeat("x" * 20, n, eager=True)})
    pieces = list(iter_copy_stream(to_arrow(frame)))
    body = pieces[1:-1]
    assert len(body) > 1
    assert max(len(p) for p in body) < 2 * PIECE_BYTES
    assert len(decode(b"".join(pieces))) == n


def test_empty_frame_is_a_valid_stream():
    assert decode(encode_frame(FRAME.clear())) == []
