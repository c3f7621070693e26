"""Row-level validation of a normalised batch before it is loaded (pure polars, vectorised).

:func:`validate` splits a frame into ``valid`` rows and ``rejected`` rows; the rejected frame is
what the loader writes into ``quality.quarantine``. Rule names are stable identifiers:

========================  ======================================================================
rule                      rejects
========================  ======================================================================
missing_key               a key column (schemas.TABLES) is null
empty_symbol              symbol (and, for options, contract_symbol) null or blank
invalid_symbol            symbol not matching ``^[A-Z0-9.\\-^=]{1,20}$`` (so SQL-shaped or lower-case
                          "symbols" never reach the database, even though the loader binds values)
unknown_symbol            symbol not in ``known_symbols`` (only when given)
nul_character             a text value holds a NUL (0x00) character, which PostgreSQL text cannot store
                          (in the quarantine it is written as the six characters ``\\u0000``)
outside_window            time not in the half-open ``window`` [start, end) (only when given)
duplicate_key             several rows share the table's key but differ in value: ALL copies are
                          rejected (none can be trusted over another); identical copies are
                          collapsed to one silently and counted as ``identical_duplicates``
missing_value             a column the table declares NOT NULL (other than the key and the prices,
                          which have their own rules) is null: e.g. a bar without a volume
missing_price             price_history: an OHLC value is null, NaN or infinite
non_positive_price        price_history: an OHLC value <= 0
low_above_high            price_history: low > high
open_outside_range        price_history: open < low or open > high
close_outside_range       price_history: close < low or close > high
negative_volume           price_history / options: volume (or open_interest) < 0
value_out_of_range        price_history: close x volume is not a finite double (the stored trading_value
                          would overflow, and PostgreSQL would abort the whole COPY)
negative_quote            options: bid, ask or last_price < 0 (zero quotes are legitimate)
bid_above_ask             options: bid > ask while ask > 0 (ask 0 means "no offer", not a cross)
non_positive_strike       options: strike null or <= 0
expired_before_snapshot   options: expiration_date < snapshot_date
non_positive_amount       dividends: amount null, NaN or <= 0
non_positive_ratio        splits: ratio null, NaN or <= 0
========================  ======================================================================

A row failing several rules is rejected ONCE: ``rule`` lists every failed rule, comma-separated in
the order above, and ``detail`` holds one clause per rule, e.g.
``AAPL 2024-03-05: low 101.2 > high 100.9 (rule low_above_high)``. ``row_data`` is the original row
as JSON (NaN is written as null, JSON having no NaN). ``counts`` maps ``input``, ``valid``,
``rejected``, ``identical_duplicates`` and every rule name to a row count (a row failing two rules
counts under both).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import polars as pl

from stockula_pipelines.lib.schemas import TABLES, UTC_TS, conform
from stockula_pipelines.lib.windows import utc_window

SYMBOL_PATTERN = r"^[A-Z0-9.\-^=]{1,20}$"
NUL = "\x00"

REJECTED_SCHEMA = {
    "table_name": pl.String,
    "rule": pl.String,
    "symbol": pl.String,
    "time": UTC_TS,
    "detail": pl.String,
    "row_data": pl.String,
}

RULES = (
    "missing_key", "empty_symbol", "invalid_symbol", "unknown_symbol", "nul_character", "outside_window",
    "duplicate_key",
    "missing_value", "missing_price", "non_positive_price", "low_above_high", "open_outside_range", "close_outside_range",
    "negative_volume", "value_out_of_range", "negative_quote", "bid_above_ask", "non_positive_strike", "expired_before_snapshot",
    "non_positive_amount", "non_positive_ratio",
)

OHLC = ("open_price", "high_price", "low_price", "close_price")

# NOT NULL columns of sql/0003-0005 that no more specific rule covers: a NULL there would abort the
# whole multi-symbol COPY on the constraint, so the row is quarantined instead.
REQUIRED: dict[str, tuple[str, ...]] = {
    "price_history": ("date", "volume", "source"),
    "options_calls": ("snapshot_date", "expiration_date", "source"),
    "options_puts": ("snapshot_date", "expiration_date", "source"),
    "dividends": ("ex_date", "source"),
    "splits": ("ex_date", "source"),
}


@dataclass(frozen=True)
class ValidationResult:
    valid: pl.DataFrame
    rejected: pl.DataFrame
    counts: dict[str, int]


def _v(name: str) -> pl.Expr:
    """A column as text for messages; nulls spelled out rather than swallowing the whole message."""
    return pl.col(name).cast(pl.String).fill_null("null")


def _bad_number(name: str) -> pl.Expr:
    col = pl.col(name)
    return col.is_null() | col.is_nan() | col.is_infinite()


def _without_nul(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace_all(NUL, "\\u0000", literal=True)


def _blank(name: str) -> pl.Expr:
    return pl.col(name).is_null() | (pl.col(name).str.strip_chars() == "")


def _rules(table: str, key: tuple[str, ...], window, known_symbols) -> list[tuple[str, pl.Expr, pl.Expr]]:
    """(name, failed, message) triples in the documented order, for the rules that apply to ``table``."""
    is_options = table.startswith("options_")
    rules: list[tuple[str, pl.Expr, pl.Expr]] = [
        ("missing_key", pl.any_horizontal([pl.col(k).is_null() for k in key]),
         pl.concat_str([pl.when(pl.col(k).is_null()).then(pl.lit(k)) for k in key],
                       separator=", ", ignore_nulls=True) + pl.lit(" missing")),
    ]
    blank = _blank("symbol") | (_blank("contract_symbol") if is_options else pl.lit(False))
    rules.append(("empty_symbol", blank, pl.lit("empty symbol")))
    rules.append(("invalid_symbol", ~_blank("symbol") & ~pl.col("symbol").str.contains(SYMBOL_PATTERN),
                  pl.format("symbol {} does not match {}", _v("symbol"), pl.lit(SYMBOL_PATTERN))))
    if known_symbols is not None:
        rules.append(("unknown_symbol", ~pl.col("symbol").is_in(sorted(known_symbols)),
                      pl.format("symbol {} is not in the stock universe", _v("symbol"))))
    texts = [c for c, dtype in TABLES[table][0].items() if dtype == pl.String]
    rules.append(("nul_character", pl.any_horizontal([pl.col(c).str.contains(NUL, literal=True) for c in texts]),
                  pl.concat_str([pl.when(pl.col(c).str.contains(NUL, literal=True)).then(pl.lit(c)) for c in texts],
                                separator=", ", ignore_nulls=True) + pl.lit(" holds a NUL character")))
    if window is not None and "time" in key:
        start, end = utc_window(window, what=f"validation of {table}")
        rules.append(("outside_window", ~((pl.col("time") >= start) & (pl.col("time") < end)),
                      pl.format("time {} outside [{}, {})",
                                pl.col("time").dt.to_string("%Y-%m-%dT%H:%M:%SZ").fill_null("null"),
                                pl.lit(start.strftime("%Y-%m-%dT%H:%M:%SZ")),
                                pl.lit(end.strftime("%Y-%m-%dT%H:%M:%SZ")))))
    rules.append(("duplicate_key", pl.len().over(key) > 1,
                  pl.format("{} rows share key ({}) with different values", pl.len().over(key),
                            pl.lit(", ".join(key)))))
    required = [c for c in REQUIRED.get(table, ()) if c not in key]
    if required:
        rules.append(("missing_value", pl.any_horizontal([pl.col(c).is_null() for c in required]),
                      pl.concat_str([pl.when(pl.col(c).is_null()).then(pl.lit(c)) for c in required],
                                    separator=", ", ignore_nulls=True) + pl.lit(" missing")))
    if table == "price_history":
        o, h, lo, c = (pl.col(x) for x in OHLC)
        # polars orders NaN above every number, so a missing price would also "exceed" the range;
        # range rules only judge present values and leave the gap to missing_price.
        known = {x: ~_bad_number(x) for x in OHLC}
        rules += [
            ("missing_price", pl.any_horizontal([_bad_number(x) for x in OHLC]),
             pl.concat_str([pl.when(_bad_number(x)).then(pl.lit(x.removesuffix("_price"))) for x in OHLC],
                           separator="/", ignore_nulls=True) + pl.lit(" price missing")),
            ("non_positive_price", pl.any_horizontal([pl.col(x) <= 0 for x in OHLC]),
             pl.format("open {} high {} low {} close {}: a price <= 0", *(_v(x) for x in OHLC))),
            ("low_above_high", known["low_price"] & known["high_price"] & (lo > h), pl.format("low {} > high {}", _v("low_price"), _v("high_price"))),
            ("open_outside_range", pl.all_horizontal(known.values()) & ((o < lo) | (o > h)),
             pl.format("open {} outside [low {}, high {}]", _v("open_price"), _v("low_price"), _v("high_price"))),
            ("close_outside_range", pl.all_horizontal(known.values()) & ((c < lo) | (c > h)),
             pl.format("close {} outside [low {}, high {}]", _v("close_price"), _v("low_price"),
                       _v("high_price"))),
            ("negative_volume", pl.col("volume") < 0, pl.format("volume {} < 0", _v("volume"))),
            ("value_out_of_range", known["close_price"] & (pl.col("close_price") * pl.col("volume")).is_infinite(),
             pl.format("close {} x volume {} overflows a double", _v("close_price"), _v("volume"))),
        ]
    elif is_options:
        rules += [
            ("negative_volume", (pl.col("volume") < 0) | (pl.col("open_interest") < 0),
             pl.format("volume {} / open interest {} negative", _v("volume"), _v("open_interest"))),
            ("negative_quote", pl.any_horizontal([pl.col(x) < 0 for x in ("bid", "ask", "last_price")]),
             pl.format("bid {} ask {} last {}: a quote < 0", _v("bid"), _v("ask"), _v("last_price"))),
            ("bid_above_ask", ~_bad_number("bid") & ~_bad_number("ask") & (pl.col("ask") > 0)
             & (pl.col("bid") > pl.col("ask")),
             pl.format("bid {} > ask {}", _v("bid"), _v("ask"))),
            ("non_positive_strike", _bad_number("strike") | (pl.col("strike") <= 0),
             pl.format("strike {} <= 0", _v("strike"))),
            ("expired_before_snapshot", pl.col("expiration_date") < pl.col("snapshot_date"),
             pl.format("expiration {} before snapshot {}", _v("expiration_date"), _v("snapshot_date"))),
        ]
    elif table == "dividends":
        rules.append(("non_positive_amount", _bad_number("amount") | (pl.col("amount") <= 0),
                      pl.format("amount {} <= 0", _v("amount"))))
    elif table == "splits":
        rules.append(("non_positive_ratio", _bad_number("ratio") | (pl.col("ratio") <= 0),
                      pl.format("ratio {} <= 0", _v("ratio"))))
    return rules


def _subject(table: str) -> pl.Expr:
    """'AAPL 2024-03-05' (plus the contract for options) to start every detail message."""
    when = {"price_history": "date", "dividends": "ex_date", "splits": "ex_date"}.get(table)
    if table.startswith("options_"):
        return pl.format("{} {} {}", _v("symbol"), _v("snapshot_date"), _v("contract_symbol"))
    if when is not None:
        return pl.format("{} {}", _v("symbol"), _v(when))
    return _v("symbol")


def validate(
    table: str,
    frame: pl.DataFrame,
    *,
    window: tuple[datetime, datetime] | None = None,
    known_symbols: set[str] | None = None,
) -> ValidationResult:
    if table not in TABLES:
        raise ValueError(f"unknown table {table!r}; expected one of {', '.join(TABLES)}")
    _, key = TABLES[table]
    frame = conform(frame, table)
    columns = frame.columns
    deduped = frame.unique(maintain_order=True)
    rules = _rules(table, key, window, known_symbols)
    flags = [f"__fail_{name}" for name, _, _ in rules]
    checked = deduped.with_columns(
        [failed.fill_null(False).alias(flag) for (_, failed, _), flag in zip(rules, flags, strict=True)]
    )
    failed_any = pl.any_horizontal(flags)
    valid = checked.filter(~failed_any).select(columns)
    bad = checked.filter(failed_any)
    rule_names = pl.concat_str([pl.when(pl.col(f)).then(pl.lit(n)) for (n, _, _), f in zip(rules, flags, strict=True)],
                               separator=",", ignore_nulls=True)
    clauses = pl.concat_str(
        [pl.when(pl.col(f)).then(msg + pl.lit(f" (rule {n})")) for (n, _, msg), f in zip(rules, flags, strict=True)],
        separator="; ", ignore_nulls=True,
    )
    # The quarantine is text and jsonb, neither of which takes a NUL: it is written as "\u0000" there.
    printable = [_without_nul(pl.col(c)) if frame.schema[c] == pl.String else pl.col(c) for c in columns]
    rejected = bad.select(
        pl.lit(table, pl.String).alias("table_name"),
        rule_names.alias("rule"),
        _without_nul(pl.col("symbol")),
        (pl.col("time") if "time" in columns else pl.lit(None, UTC_TS)).alias("time"),
        _without_nul(_subject(table) + pl.lit(": ") + clauses).alias("detail"),
        pl.struct(printable).struct.json_encode().alias("row_data"),
    ).cast(REJECTED_SCHEMA)
    counts = {"input": frame.height, "valid": valid.height, "rejected": rejected.height,
              "identical_duplicates": frame.height - deduped.height}
    totals = checked.select([pl.col(f).sum() for f in flags]).row(0) if flags else ()
    counts.update({name: int(total) for (name, _, _), total in zip(rules, totals, strict=True)})
    return ValidationResult(valid=valid, rejected=rejected, counts=counts)
