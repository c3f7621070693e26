"""Binary COPY of polars frames: polars -> Arrow -> pgpq -> ``COPY ... FROM STDIN (FORMAT BINARY)``.

The whole path is columnar: pgpq encodes Arrow record batches into PostgreSQL's binary COPY format in
Rust, so no Python code runs per row. Timestamps with a time zone are stored by Arrow as UTC
microseconds, which is exactly the payload of ``timestamptz`` (pgpq labels them ``timestamp``, but binary
COPY carries no type tags, only the bytes), ``date32`` maps to ``date``, strings to ``text``, and
``float64``/``int64``/``bool`` to ``float8``/``int8``/``bool``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator

import polars as pl
import psycopg
import pyarrow as pa
from pgpq import ArrowToPostgresBinaryEncoder
from pgpq import _pgpq as pgpq_types
from psycopg import sql

PGCOPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
# Pieces handed to copy.write(): big enough that per-call overhead vanishes, small enough that the
# encoded form of a whole batch never sits in memory at once.
PIECE_BYTES = 1 << 20

BatchHook = Callable[[int, int], None]  # (batch number from 1, rows sent so far)


_COPY_ROWS = "COPY {table} ({columns}) FROM STDIN (FORMAT BINARY)"


def to_arrow(frame: pl.DataFrame) -> pa.Table:
    """The frame as an Arrow table whose types pgpq encodes."""
    return encodable(frame.to_arrow())


def encodable(table: pa.Table) -> pa.Table:
    """``table`` with string views (polars' native strings at newer compat levels) as large strings."""
    fields = []
    changed = False
    for field in table.schema:
        if pa.types.is_string_view(field.type):
            fields.append(pa.field(field.name, pa.large_string(), field.nullable))
            changed = True
        else:
            fields.append(field)
    return table.cast(pa.schema(fields)) if changed else table


def make_encoder(schema: pa.Schema, jsonb: Collection[str] = ()) -> ArrowToPostgresBinaryEncoder:
    """An encoder for ``schema``; string columns named in ``jsonb`` are sent as jsonb, not text."""
    if not jsonb:
        return ArrowToPostgresBinaryEncoder(schema)
    builders = {}
    for field in schema:
        if field.name in jsonb:
            if pa.types.is_large_string(field.type):
                builders[field.name] = pgpq_types.LargeStringEncoderBuilder.new_with_output(field, pgpq_types.Jsonb())
            elif pa.types.is_string(field.type):
                builders[field.name] = pgpq_types.StringEncoderBuilder.new_with_output(field, pgpq_types.Jsonb())
            else:
                raise TypeError(f"jsonb column {field.name!r} must be a string column, not {field.type}")
        else:
            builders[field.name] = ArrowToPostgresBinaryEncoder.infer_encoder(field)
    return ArrowToPostgresBinaryEncoder.new_with_encoders(schema, builders)


def _piece_rows(table: pa.Table) -> int:
    if table.num_rows == 0:
        return 1
    # Binary COPY adds a 2-byte field count per row and a 4-byte length per field.
    per_row = table.nbytes / table.num_rows + 2 + 4 * table.num_columns
    return max(1, int(PIECE_BYTES / per_row))


def iter_copy_stream(table: pa.Table, jsonb: Collection[str] = ()) -> Iterator[bytes]:
    """One complete binary COPY stream (signature, rows, trailer) for ``table``, in ~1 MB pieces."""
    encoder = make_encoder(table.schema, jsonb)
    yield encoder.write_header()
    for batch in table.to_batches(max_chunksize=_piece_rows(table)):
        yield encoder.write_batch(batch)
    yield encoder.finish()


def encode_frame(frame: pl.DataFrame, jsonb: Collection[str] = ()) -> bytes:
    """The whole binary COPY stream of ``frame`` in memory (tests, and files for server-side COPY)."""
    return b"".join(iter_copy_stream(to_arrow(frame), jsonb))


def copy_frame(
    conn: psycopg.Connection,
    target: sql.Composable,
    frame: pl.DataFrame,
    *,
    batch_rows: int = 250_000,
    jsonb: Collection[str] = (),
    on_batch: BatchHook | None = None,
) -> int:
    """COPY ``frame`` into ``target`` (a table Identifier), one COPY statement per ``batch_rows`` rows.

    Runs in whatever transaction ``conn`` is in; the caller owns commit and rollback. Returns the rows
    the server reported copied.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be >= 1, got {batch_rows}")
    if frame.height == 0:
        return 0
    statement = sql.SQL(_COPY_ROWS).format(
        table=target, columns=sql.SQL(", ").join(sql.Identifier(c) for c in frame.columns)
    )
    table = to_arrow(frame)
    copied = 0
    with conn.cursor() as cur:
        for number, offset in enumerate(range(0, table.num_rows, batch_rows), start=1):
            part = table.slice(offset, batch_rows)
            try:
                with cur.copy(statement) as copy:
                    for piece in iter_copy_stream(part, jsonb):
                        copy.write(piece)
            except ValueError as exc:
                # psycopg 3.3 cannot unpack the end of a COPY that got two errors back (PgBouncer adds
                # "server conn crashed?" after the backend's FATAL) and raises a bare ValueError.
                if not conn.broken:
                    raise
                reason = conn.pgconn.error_message.decode(errors="replace").strip()
                raise psycopg.OperationalError(
                    f"the connection was lost during COPY into {target.as_string()} (batch {number}; "
                    f"{copied} row(s) in earlier batches): {reason}") from exc
            copied += cur.rowcount if cur.rowcount >= 0 else part.num_rows
            if on_batch is not None:
                on_batch(number, copied)
    return copied
