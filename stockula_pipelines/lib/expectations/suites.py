"""One great-expectations suite per loaded table, kept in code.

Every expectation carries ``meta={"check": <name>}``: a Dagster asset check (and one row of
``quality.data_quality_results``) is the group of expectations sharing that name, so a single
``batch.validate(suite)`` per window answers every check of the asset.

``UnexpectedRowsExpectation`` queries reference the validated window as ``{batch}`` (GE substitutes
the batch's query); they may join other tables (the previous bar, ``market.splits``).

great_expectations is imported inside the functions: importing it costs seconds, and the Dagster
code location must load without paying that.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

_SQL_DIR = Path(__file__).resolve().parent / "sql"

PRICE_MIN = 0.01
PRICE_MAX = 500_000.0
MAX_NULL_RATE = 0.02
MAX_DUPLICATE_RATE = 0.005
MAX_DAILY_CHANGE = 0.30  # written into price_jump_without_split.sql as 0.30
IV_MAX = 5.0

OHLC = ("open_price", "high_price", "low_price", "close_price")


@dataclass(frozen=True)
class CheckDef:
    """A named group of expectations: what Dagster shows as one asset check."""

    name: str
    severity: str  # 'ERROR' or 'WARN'
    blocking: bool
    description: str


PRICE_CHECKS = (
    CheckDef("no_duplicates", "ERROR", True,
             f"At most {MAX_DUPLICATE_RATE:.1%} of bars share (symbol, interval, bar) in the window."),
    CheckDef("ohlc_consistent", "ERROR", True, "low <= open, close <= high on every bar."),
    CheckDef("value_bounds", "ERROR", False,
             f"Prices within {PRICE_MIN}..{PRICE_MAX:,.0f}; volume >= 0."),
    CheckDef("null_rate", "WARN", False, f"At most {MAX_NULL_RATE:.0%} NULLs in each required column."),
    CheckDef("price_jump_without_split", "WARN", False,
             f"Close moves more than {MAX_DAILY_CHANGE:.0%} from the previous bar only when a split "
             "in market.splits explains it."),
)
OPTION_CHECKS = (
    CheckDef("no_duplicates", "ERROR", True,
             f"At most {MAX_DUPLICATE_RATE:.1%} of contracts appear twice in one snapshot."),
    CheckDef("quote_consistent", "ERROR", True, "bid <= ask, strike > 0, expiry on or after the snapshot."),
    CheckDef("value_bounds", "ERROR", False,
             f"0 < implied volatility < {IV_MAX:g} when present; |delta| <= 1, gamma >= 0, vega >= 0."),
    CheckDef("null_rate", "WARN", False, f"At most {MAX_NULL_RATE:.0%} NULLs in each required column."),
)
DIVIDEND_CHECKS = (
    CheckDef("no_duplicates", "ERROR", True, "One dividend per symbol per ex-date."),
    CheckDef("value_bounds", "ERROR", False, f"0 < amount <= {PRICE_MAX:,.0f}."),
)
SPLIT_CHECKS = (
    CheckDef("no_duplicates", "ERROR", True, "One split per symbol per ex-date."),
    CheckDef("value_bounds", "ERROR", False, "Split ratio between 1/1000 and 1000."),
)
STOCK_CHECKS = (
    CheckDef("no_duplicates", "ERROR", True, "One row per symbol."),
    CheckDef("null_rate", "WARN", False, f"At most {MAX_NULL_RATE:.0%} of symbols lack a name or sector."),
    CheckDef("value_bounds", "ERROR", False, "market_cap >= 0 when present."),
)

# The check every price asset gets that is not a GE expectation: it needs the exchange calendar.
MISSING_DAYS = CheckDef("no_missing_trading_days", "ERROR", True,
                        "Every expected symbol has a bar in the window, and no trading day is skipped "
                        "since its previous bar (exchange calendar).")

TABLE_CHECKS: dict[str, tuple[CheckDef, ...]] = {
    "price_history": PRICE_CHECKS,
    "options_calls": OPTION_CHECKS,
    "options_puts": OPTION_CHECKS,
    "dividends": DIVIDEND_CHECKS,
    "splits": SPLIT_CHECKS,
    "stocks": STOCK_CHECKS,
}


@cache
def _sql(name: str) -> str:
    """The statement without its comment lines: GE pastes it into subqueries, where a trailing
    ``--`` comment would swallow the closing parenthesis (and ``{batch}`` in a comment is replaced too)."""
    text = (_SQL_DIR / name).read_text(encoding="utf-8")
    return "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("--")).strip()


def _price_expectations(gxe, intraday: bool) -> list:
    unique_on = ["symbol", "interval", "time"] if intraday else ["symbol", "interval", "date"]
    out = [gxe.ExpectCompoundColumnsToBeUnique(column_list=unique_on, mostly=1 - MAX_DUPLICATE_RATE,
                                               meta={"check": "no_duplicates"})]
    # One SQL pass for the whole OHLC relation rather than five column-pair scans: same rule, 1/5 the time.
    out.append(gxe.UnexpectedRowsExpectation(unexpected_rows_query=_sql("ohlc_inconsistent_rows.sql"),
                                             description="low <= open/close <= high",
                                             meta={"check": "ohlc_consistent"}))
    out += [gxe.ExpectColumnValuesToBeBetween(column=c, min_value=PRICE_MIN, max_value=PRICE_MAX,
                                              meta={"check": "value_bounds"}) for c in OHLC]
    out.append(gxe.ExpectColumnValuesToBeBetween(column="volume", min_value=0, meta={"check": "value_bounds"}))
    out += [gxe.ExpectColumnValuesToNotBeNull(column=c, mostly=1 - MAX_NULL_RATE, meta={"check": "null_rate"})
            for c in ("close_price", "volume")]
    out.append(gxe.UnexpectedRowsExpectation(unexpected_rows_query=_sql("price_jump_without_split.sql"),
                                             description="close moves > 30 % without a split",
                                             meta={"check": "price_jump_without_split"}))
    return out


def _option_expectations(gxe) -> list:
    from great_expectations.expectations.row_conditions import Column

    out = [
        gxe.ExpectCompoundColumnsToBeUnique(column_list=["contract_symbol", "snapshot_date"],
                                            mostly=1 - MAX_DUPLICATE_RATE, meta={"check": "no_duplicates"}),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="ask", column_B="bid", or_equal=True,
                                                    ignore_row_if="either_value_is_missing",
                                                    row_condition=Column("ask") > 0,  # ask 0 = no offer
                                                    meta={"check": "quote_consistent"}),
        gxe.ExpectColumnValuesToBeBetween(column="strike", min_value=0, strict_min=True,
                                          meta={"check": "quote_consistent"}),
        gxe.ExpectColumnPairValuesAToBeGreaterThanB(column_A="expiration_date", column_B="snapshot_date",
                                                    or_equal=True, meta={"check": "quote_consistent"}),
    ]
    out += [gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, max_value=IV_MAX, strict_min=True,
                                              strict_max=True, meta={"check": "value_bounds"})
            for c in ("implied_volatility", "source_implied_volatility")]
    out += [
        gxe.ExpectColumnValuesToBeBetween(column="delta", min_value=-1, max_value=1, meta={"check": "value_bounds"}),
        gxe.ExpectColumnValuesToBeBetween(column="gamma", min_value=0, meta={"check": "value_bounds"}),
        gxe.ExpectColumnValuesToBeBetween(column="vega", min_value=0, meta={"check": "value_bounds"}),
    ]
    out += [gxe.ExpectColumnValuesToNotBeNull(column=c, mostly=1 - MAX_NULL_RATE, meta={"check": "null_rate"})
            for c in ("strike", "expiration_date", "underlying_price")]
    return out


def _expectations(table: str, intraday: bool) -> list:
    import great_expectations.expectations as gxe

    if table == "price_history":
        return _price_expectations(gxe, intraday)
    if table in ("options_calls", "options_puts"):
        return _option_expectations(gxe)
    if table == "dividends":
        return [
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["symbol", "ex_date"], meta={"check": "no_duplicates"}),
            gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=PRICE_MAX, strict_min=True,
                                              meta={"check": "value_bounds"}),
        ]
    if table == "splits":
        return [
            gxe.ExpectCompoundColumnsToBeUnique(column_list=["symbol", "ex_date"], meta={"check": "no_duplicates"}),
            gxe.ExpectColumnValuesToBeBetween(column="ratio", min_value=0.001, max_value=1000,
                                              meta={"check": "value_bounds"}),
        ]
    if table == "stocks":
        return [
            gxe.ExpectColumnValuesToBeUnique(column="symbol", meta={"check": "no_duplicates"}),
            gxe.ExpectColumnValuesToNotBeNull(column="name", mostly=1 - MAX_NULL_RATE, meta={"check": "null_rate"}),
            gxe.ExpectColumnValuesToNotBeNull(column="sector", mostly=1 - MAX_NULL_RATE,
                                              meta={"check": "null_rate"}),
            gxe.ExpectColumnValuesToBeBetween(column="market_cap", min_value=0, meta={"check": "value_bounds"}),
        ]
    raise ValueError(f"no expectation suite for table {table!r}; known: {', '.join(TABLE_CHECKS)}")


def build_suite(table: str, *, intraday: bool = False):
    """A fresh ``ExpectationSuite`` named ``stockula.<table>[.intraday]``."""
    import great_expectations as gx

    name = f"stockula.{table}" + (".intraday" if intraday else "")
    return gx.ExpectationSuite(name=name, expectations=_expectations(table, intraday))
