"""Which symbols of a load really change the table: the stored window is read back and compared.

A retried run, a repeated backfill or a nightly load that re-fetches days already stored mostly brings
rows identical to the stored ones. Deleting and re-COPYing them rewrites every row (and its index
entries, its WAL, the next incremental backup) and empties the derived columns until price_metrics runs
again. So the loader first reads the window's stored rows back, in the frame's own columns, and only the
symbols whose rows differ in any way (a value, a row more, a row fewer) are deleted and re-written; an
unchanged symbol is not touched at all.

The read is one ``COPY (SELECT ...) TO STDOUT`` in CSV, parsed by polars: timestamps travel as integer
microseconds and dates as day numbers, so nothing depends on the session's time zone or date style, and
``extra_float_digits = 1`` makes each double print as the shortest text that reads back to the same
bits. Comparison is exact (no tolerance): a float that differs in its last bit is a change.
"""

from __future__ import annotations

import io
from datetime import datetime

import polars as pl
import psycopg
from psycopg import sql

from stockula_pipelines.lib import schemas

# Set for the transaction only (PgBouncer's transaction mode keeps no session state).
_EXACT_FLOATS = "SET LOCAL extra_float_digits = 1"
_READ = "COPY (SELECT {columns} FROM {table} AS t WHERE {where}) TO STDOUT (FORMAT CSV)"
_WHERE = "t.time >= %(start)s AND t.time < %(end)s AND t.symbol = ANY(%(symbols)s::text[])"
_AND_INTERVAL = " AND t.interval = %(interval)s"
_STORED = "__stored"


def _column(name: str, dtype: pl.DataType) -> sql.Composable:
    """How a column travels: in a form CSV carries without loss or locale."""
    col = sql.SQL("t.{}").format(sql.Identifier(name))
    if isinstance(dtype, pl.Datetime):
        return sql.SQL("(extract(epoch FROM {}) * 1000000)::int8").format(col)
    if dtype == pl.Date:
        return sql.SQL("({} - DATE '1970-01-01')").format(col)
    if dtype == pl.Boolean:
        return sql.SQL("{}::int4").format(col)
    return col


def _wire_type(dtype: pl.DataType) -> pl.DataType:
    return pl.Int64 if isinstance(dtype, pl.Datetime) or dtype in (pl.Date, pl.Boolean) else dtype


def _from_wire(name: str, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        return col.cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias(name)
    if dtype == pl.Date:
        return col.cast(pl.Int32).cast(pl.Date).alias(name)
    if dtype == pl.Boolean:
        return col.cast(pl.Boolean).alias(name)
    return col


def read_window(conn: psycopg.Connection, table: str, *, start: datetime, end: datetime,
                symbols: list[str], interval: str | None) -> pl.DataFrame:
    """The stored rows of ``symbols`` (and ``interval``) in ``[start, end)``, in the table's frame schema."""
    schema, _ = schemas.TABLES[table]
    where = _WHERE + (_AND_INTERVAL if interval is not None else "")
    statement = sql.SQL(_READ).format(
        columns=sql.SQL(", ").join(_column(c, t) for c, t in schema.items()),
        table=sql.Identifier("market", table), where=sql.SQL(where))
    params = {"start": start, "end": end, "symbols": symbols, "interval": interval}
    conn.execute(_EXACT_FLOATS)
    buffer = io.BytesIO()
    with conn.cursor() as cur, cur.copy(statement, params) as copy:
        for block in copy:
            buffer.write(block)
    if buffer.tell() == 0:
        return schemas.empty_frame(table)
    buffer.seek(0)
    wire = pl.read_csv(buffer, has_header=False, new_columns=list(schema),
                       schema={c: _wire_type(t) for c, t in schema.items()})
    return wire.select(_from_wire(c, t) for c, t in schema.items())


def changed_symbols(table: str, incoming: pl.DataFrame, stored: pl.DataFrame,
                    spare: tuple[list[str], list[datetime]] = ([], [])) -> set[str]:
    """Symbols whose stored rows differ from ``incoming`` in any column, row added or row missing.

    Stored rows at ``spare`` (key, time) pairs are left out: the load keeps them whatever it writes.
    """
    schema, keys = schemas.TABLES[table]
    if stored.height == 0:  # a first load: every symbol with rows is new
        return set(incoming.get_column("symbol").unique().to_list())
    if spare[0]:
        key = "contract_symbol" if table.startswith("options_") else "symbol"
        kept = pl.DataFrame({key: spare[0], "time": spare[1]}, schema={key: pl.String, "time": schemas.UTC_TS})
        stored = stored.join(kept, on=[key, "time"], how="anti")
    # Joined on the key (unique on both sides; NOT NULL, so a NULL key marks a row on one side only),
    # then every other column compared, NULL equal to NULL.
    joined = incoming.select(list(schema)).join(stored, on=list(keys), how="full", suffix=_STORED,
                                          nulls_equal=True, coalesce=False)
    differs = pl.col(keys[0]).is_null() | pl.col(keys[0] + _STORED).is_null()
    for column in schema:
        if column not in keys:
            differs = differs | ~pl.col(column).eq_missing(pl.col(column + _STORED))
    symbols = joined.filter(differs).select(pl.coalesce("symbol", "symbol" + _STORED)).to_series()
    return set(symbols.unique().to_list())
