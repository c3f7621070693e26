"""The plots an ingestion asset's materialisation carries, and the table's column schema.

Plots are Markdown sparklines (see ``lib/sparkline``): a window's closes and volume per symbol; the
implied-volatility smile per expiry of one symbol's option snapshot. The column schema is read from
the database (``information_schema``), so it is the table's truth, not the frame's.
"""

from __future__ import annotations

import dagster as dg
import polars as pl
from psycopg import sql

from stockula_pipelines.lib.db.sqlfiles import SqlFiles
from stockula_pipelines.lib.sparkline import MAX_POINTS, markdown_table

_SQL = SqlFiles(__file__)
MAX_SYMBOLS = 12
MAX_EXPIRIES = 8


def bars_plot(frame: pl.DataFrame) -> dict[str, dg.MetadataValue]:
    if frame.is_empty() or not {"symbol", "time", "close_price", "volume"} <= set(frame.columns):
        return {}
    rows = []
    for symbol in sorted(frame["symbol"].unique().to_list())[:MAX_SYMBOLS]:
        bars = frame.filter(pl.col("symbol") == symbol).sort("time")
        rows.append((symbol, bars["close_price"].to_list(), bars["volume"].cast(pl.Float64).to_list()))
    first, last = frame["time"].min(), frame["time"].max()
    title = f"Closes and volume per symbol, {first:%Y-%m-%d %H:%M} → {last:%Y-%m-%d %H:%M} UTC\n\n"
    return {"closes": dg.MetadataValue.md(title + markdown_table(("symbol", "close", "volume"), rows))}


def smile_plot(frame: pl.DataFrame) -> dict[str, dg.MetadataValue]:
    # Our own IV is solved later (analytics/option_greeks); at load time the source's may be all there is.
    iv = next((c for c in ("implied_volatility", "source_implied_volatility")
               if c in frame.columns and frame[c].null_count() < len(frame)), None)
    if frame.is_empty() or iv is None or not {"symbol", "expiration_date", "strike"} <= set(frame.columns):
        return {}
    symbol = sorted(frame["symbol"].unique().to_list())[0]
    chain = frame.filter(pl.col("symbol") == symbol)
    rows = []
    for expiry in sorted(chain["expiration_date"].unique().to_list())[:MAX_EXPIRIES]:
        leg = chain.filter(pl.col("expiration_date") == expiry).sort("strike")
        rows.append((str(expiry), leg["strike"].to_list(), leg[iv].to_list()))
    title = f"{symbol}: implied volatility by strike (the smile) per expiry, low strike → high\n\n"
    return {"iv_smile": dg.MetadataValue.md(title + markdown_table(("expiry", "strike", "implied vol"), rows))}


def aggregate_plot(conn, identifier: sql.Identifier) -> dict[str, dg.MetadataValue]:
    """The latest buckets' closes and volume per symbol of an OHLCV aggregate."""
    query = _SQL("select_recent_bars").format(target=identifier)
    rows = conn.execute(query, {"buckets": MAX_POINTS}).fetchall()
    frame = pl.DataFrame(rows, schema=["symbol", "time", "close_price", "volume"], orient="row")
    return bars_plot(frame)


def plots(table: str, frame: pl.DataFrame | None) -> dict[str, dg.MetadataValue]:
    if frame is None:
        return {}
    if table == "price_history":
        return bars_plot(frame)
    if table in ("options_calls", "options_puts"):
        return smile_plot(frame)
    return {}


_TYPES = {"double precision": "float", "bigint": "int", "integer": "int", "smallint": "int",
          "numeric": "float", "boolean": "bool", "date": "date", "timestamp with time zone": "timestamptz"}


def column_schema(conn, schema: str, table: str) -> dg.TableSchema:
    """The table's columns as Dagster shows them (name, type, nullability, the column comment)."""
    rows = conn.execute(_SQL("select_table_columns"), (schema, table)).fetchall()
    return dg.TableSchema(columns=[
        dg.TableColumn(name, _TYPES.get(kind, kind), description=comment,
                       constraints=dg.TableColumnConstraints(nullable=nullable))
        for name, kind, nullable, comment in rows
    ])
