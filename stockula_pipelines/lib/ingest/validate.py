"""Checks a batch must pass before it touches the database, with errors naming symbol, time and rule."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import polars as pl

from stockula_pipelines.lib import schemas
from stockula_pipelines.lib.windows import WindowError, utc_window


class IngestError(ValueError):
    """A batch the loader refuses; the message names the table, symbol, time and rule."""


def table_spec(table: str) -> tuple[dict[str, pl.DataType], tuple[str, ...]]:
    try:
        return schemas.TABLES[table]
    except KeyError:
        known = ", ".join(sorted(schemas.TABLES))
        raise IngestError(f"unknown table {table!r}: the loader writes market.{{{known}}}") from None


def check_window(table: str, window: tuple[datetime, datetime]) -> tuple[datetime, datetime]:
    try:
        return utc_window(window, what=table)
    except WindowError as exc:
        raise IngestError(str(exc)) from None


def check_symbols(table: str, symbols: Sequence[str]) -> list[str]:
    if isinstance(symbols, str):
        raise IngestError(f"{table}: symbols must be a sequence of strings, not the string {symbols!r}")
    out = sorted(set(symbols))
    bad = [s for s in out if not isinstance(s, str) or not s]
    if bad:
        raise IngestError(f"{table}: symbol {bad[0]!r} is not a non-empty string (rule: symbol_type)")
    return out


def conform(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    try:
        return schemas.conform(frame, table)
    except ValueError as exc:  # polars' cast errors are ValueErrors too
        raise IngestError(f"{table}: frame does not match schemas.{table.upper()}: {exc}") from exc


def _describe(row: dict, rule: str, table: str, why: str) -> str:
    symbol = row.get("symbol")
    when = row.get("time")
    when_text = when.isoformat() if isinstance(when, datetime) else str(when)
    return f"{table}: row symbol={symbol!r} time={when_text} {why} (rule: {rule})"


def check_rows_in_batch(
    table: str,
    frame: pl.DataFrame,
    *,
    start: datetime,
    end: datetime,
    symbols: list[str],
    interval: str | None,
) -> None:
    """Every row must lie in [start, end), belong to ``symbols`` and (bars) have ``interval``.

    A row outside what the load deletes would survive the next re-load of the window and collide
    with its replacement, so such batches are refused rather than half-replaced.
    """
    rules: list[tuple[str, pl.Expr, str]] = [
        ("null_key", pl.col("time").is_null() | pl.col("symbol").is_null(), "has a NULL time or symbol"),
        ("outside_window", (pl.col("time") < start) | (pl.col("time") >= end),
         f"lies outside the window [{start.isoformat()}, {end.isoformat()})"),
        ("symbol_not_in_batch", ~pl.col("symbol").is_in(symbols), "is not among the batch's symbols"),
    ]
    if interval is not None:
        rules.append(("interval_mismatch", pl.col("interval") != interval, f"does not have interval {interval!r}"))
    for rule, predicate, why in rules:
        offenders = frame.filter(predicate)
        if offenders.height:
            raise IngestError(_describe(offenders.row(0, named=True), rule, table, why)
                              + f"; {offenders.height} row(s) break it")


def check_unique_keys(table: str, frame: pl.DataFrame, key: Sequence[str]) -> None:
    duplicated = frame.filter(frame.select(key).is_duplicated())
    if duplicated.height:
        row = duplicated.row(0, named=True)
        what = ", ".join(f"{k}={row[k]!r}" for k in key)
        raise IngestError(f"{table}: key ({what}) appears {duplicated.height} times in the batch "
                          "(rule: duplicate_key)")


def resolve_interval(table: str, frame: pl.DataFrame, interval: str | None) -> str | None:
    """price_history loads replace one interval; other tables have none."""
    if table != "price_history":
        if interval is not None:
            raise IngestError(f"{table}: has no interval column, got interval={interval!r}")
        return None
    if interval is not None:
        return interval
    found = frame.get_column("interval").unique().to_list()
    if len(found) != 1:
        raise IngestError(f"price_history: pass interval= explicitly, the frame has {sorted(map(str, found))} "
                          "(rule: single_interval)")
    return found[0]


def spared_keys(table: str, rejected: pl.DataFrame | None,
                valid: pl.DataFrame | None = None) -> tuple[list[str], list[datetime]]:
    """(key, time) of rejected rows: a load never deletes the stored row a rejected row would replace.

    The key is the symbol (the contract for options) beside ``time``; rows with a NULL key cannot
    match a stored row and are left out, and so are keys a valid row of the batch replaces anyway.
    """
    if rejected is None or rejected.height == 0 or "time" not in rejected.columns:
        return [], []
    key = "contract_symbol" if table.startswith("options_") else "symbol"
    if key not in rejected.columns:
        if "row_data" not in rejected.columns:
            return [], []
        rejected = rejected.with_columns(
            pl.col("row_data").str.json_path_match(f"$.{key}").alias(key))
    rows = rejected.select(pl.col(key).cast(pl.String), pl.col("time").cast(schemas.UTC_TS)).drop_nulls().unique()
    if valid is not None and valid.height:
        rows = rows.join(valid.select(pl.col(key), pl.col("time")), on=[key, "time"], how="anti")
    return rows.get_column(key).to_list(), rows.get_column("time").to_list()


def quarantine_frame(table: str, rejected: pl.DataFrame, *, run_id: str | None,
                     partition_key: str | None) -> pl.DataFrame:
    """``rejected`` (the table's columns, any subset, plus ``rule`` and ``detail``) as quarantine rows.

    ``row_data`` holds every column but rule/detail as a JSON object, built column-wise by polars.
    """
    for needed in ("rule", "detail"):
        if needed not in rejected.columns:
            raise IngestError(f"{table}: rejected rows need a {needed!r} column")
    if rejected.get_column("rule").null_count():
        raise IngestError(f"{table}: every rejected row needs a rule")
    if "row_data" in rejected.columns:
        # Validation already encoded the original row; encoding the frame again would nest it as a
        # JSON string inside a JSON object, which nothing can resubmit.
        row_data = pl.col("row_data").cast(pl.String)
    else:
        data_cols = [c for c in rejected.columns if c not in ("rule", "detail", "table_name")]
        row_data = (pl.struct(data_cols).struct.json_encode() if data_cols else pl.lit("{}"))
    symbol = pl.col("symbol").cast(pl.String) if "symbol" in rejected.columns else pl.lit(None, pl.String)
    when = pl.col("time").cast(schemas.UTC_TS) if "time" in rejected.columns else pl.lit(None, schemas.UTC_TS)
    return rejected.select(
        pl.lit(table, pl.String).alias("table_name"),
        pl.col("rule").cast(pl.String),
        symbol.alias("symbol"),
        when.alias("time"),
        pl.col("detail").cast(pl.String).fill_null("").alias("detail"),
        row_data.alias("row_data"),
        pl.lit(run_id, pl.String).alias("run_id"),
        pl.lit(partition_key, pl.String).alias("partition_key"),
    )
