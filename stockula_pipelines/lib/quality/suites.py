"""One great-expectations suite per loaded table, kept in code as GE expectation configurations.

Each suite is a tuple of :class:`Expect` -- an expectation type, its kwargs and its check name, i.e.
exactly what GE serialises as an ``ExpectationConfiguration``. Two engines evaluate the same tuple
(see ``engines.py``): :func:`build_suite` turns it into a GE ``ExpectationSuite`` for
great-expectations' own validator, and ``compiled`` renders it into one SQL statement per window.
Keeping the suite as plain data means the hot path never imports great_expectations (seconds per
Dagster step process), while GE still validates every configuration (``build_suite`` in the tests).

Every expectation carries a check name: a Dagster asset check (and one row of
``quality.data_quality_results``) is the group of expectations sharing that name; the checks of each
table are :class:`~.results.CheckSpec` tuples in :data:`TABLE_CHECKS`.

``unexpected_rows_expectation`` queries are files of ``sql/`` that reference the validated window as
``{batch}``; they may join other tables (the previous bar, ``market.splits``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from typing import Any

from stockula_pipelines.lib.db.sqlfiles import SqlFiles

from .results import CheckSpec

_SQL = SqlFiles(__file__)

PRICE_MIN = 0.01
PRICE_MAX = 500_000.0
MAX_NULL_RATE = 0.02
MAX_DUPLICATE_RATE = 0.005
MAX_DAILY_CHANGE = 0.30  # written into select_price_jumps_without_split.sql as 0.30
IV_MAX = 5.0

OHLC = ("open_price", "high_price", "low_price", "close_price")


def _no_duplicates(description: str) -> CheckSpec:
    return CheckSpec("no_duplicates", description)


def _value_bounds(description: str) -> CheckSpec:
    # Out-of-range values are wrong but rare and local: they warn analysts rather than stop them.
    return CheckSpec("value_bounds", description, blocking=False)


def _null_rate(description: str) -> CheckSpec:
    return CheckSpec("null_rate", description, severity="WARN", blocking=False)


_REQUIRED_NULLS = f"At most {MAX_NULL_RATE:.0%} NULLs in each required column."

PRICE_CHECKS = (
    _no_duplicates(f"At most {MAX_DUPLICATE_RATE:.1%} of bars share (symbol, interval, bar) in the window."),
    CheckSpec("ohlc_consistent", "low <= open, close <= high on every bar."),
    _value_bounds(f"Prices within {PRICE_MIN}..{PRICE_MAX:,.0f}; volume >= 0."),
    _null_rate(_REQUIRED_NULLS),
    CheckSpec("price_jump_without_split",
              f"Close moves more than {MAX_DAILY_CHANGE:.0%} from the previous bar only when a split "
              "in market.splits explains it.", severity="WARN", blocking=False),
)
OPTION_CHECKS = (
    _no_duplicates(f"At most {MAX_DUPLICATE_RATE:.1%} of contracts appear twice in one snapshot."),
    CheckSpec("quote_consistent", "bid <= ask, strike > 0, expiry on or after the snapshot."),
    _value_bounds(f"0 < implied volatility < {IV_MAX:g} when present; |delta| <= 1, gamma >= 0, vega >= 0."),
    _null_rate(_REQUIRED_NULLS),
)
DIVIDEND_CHECKS = (
    _no_duplicates("One dividend per symbol per ex-date."),
    _value_bounds(f"0 < amount <= {PRICE_MAX:,.0f}."),
)
SPLIT_CHECKS = (
    _no_duplicates("One split per symbol per ex-date."),
    _value_bounds("Split ratio between 1/1000 and 1000."),
)
STOCK_CHECKS = (
    _no_duplicates("One row per symbol."),
    _null_rate(f"At most {MAX_NULL_RATE:.0%} of symbols lack a name or sector."),
    _value_bounds("market_cap >= 0 when present."),
)

# The check every price asset gets that is not a GE expectation: it needs the exchange calendar.
MISSING_DAYS = CheckSpec("no_missing_trading_days",
                         "Every expected symbol has a bar in the window, and no trading day is skipped "
                         "since its previous bar (exchange calendar).")

# Not a GE expectation either: read from ops.ingest_log, it says which symbols the source left out.
SOURCE_COVERAGE = CheckSpec("source_coverage",
                            "The source answered for every symbol asked; the ones it failed or returned nothing "
                            "for kept their stored rows and are named here.", severity="WARN", blocking=False)

TABLE_CHECKS: dict[str, tuple[CheckSpec, ...]] = {
    "price_history": PRICE_CHECKS,
    "options_calls": OPTION_CHECKS,
    "options_puts": OPTION_CHECKS,
    "dividends": DIVIDEND_CHECKS,
    "splits": SPLIT_CHECKS,
    "stocks": STOCK_CHECKS,
}


@dataclass(frozen=True)
class Expect:
    """One expectation: GE's ``type`` and ``kwargs``, and the asset check it belongs to.

    ``row_condition`` is ``(column, operator, value)`` (operators ``>``, ``>=``, ``<``, ``<=``, ``=``);
    it becomes GE's ``Column(column) <op> value`` and a SQL predicate with the value bound.
    """

    type: str
    check: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str | None = None
    row_condition: tuple[str, str, float] | None = None


def _between(column: str, check: str = "value_bounds", **bounds: Any) -> Expect:
    return Expect("expect_column_values_to_be_between", check, {"column": column, **bounds})


def _not_null(column: str, mostly: float = 1 - MAX_NULL_RATE) -> Expect:
    return Expect("expect_column_values_to_not_be_null", "null_rate", {"column": column, "mostly": mostly})


def _unique(columns: list[str], mostly: float = 1.0) -> Expect:
    kwargs: dict[str, Any] = {"column_list": columns}
    if mostly < 1:
        kwargs["mostly"] = mostly
    return Expect("expect_compound_columns_to_be_unique", "no_duplicates", kwargs)


@cache
def _query(name: str) -> str:
    """A query file of ``sql/`` without its comment lines: GE requires query assets to start with SELECT,
    and pasted into a subquery a trailing ``--`` comment would swallow the closing parenthesis (and a
    ``{batch}`` in a comment would be replaced too)."""
    lines = _SQL.text(name).splitlines()
    return "\n".join(ln for ln in lines if not ln.lstrip().startswith("--")).strip()


def _rows(sql_file: str, check: str, description: str) -> Expect:
    return Expect("unexpected_rows_expectation", check, {"unexpected_rows_query": _query(sql_file)},
                  description=description)


def _price_suite(intraday: bool) -> tuple[Expect, ...]:
    unique_on = ["symbol", "interval", "time"] if intraday else ["symbol", "interval", "date"]
    return (
        _unique(unique_on, 1 - MAX_DUPLICATE_RATE),
        # One SQL pass for the whole OHLC relation rather than five column-pair scans.
        _rows("select_ohlc_inconsistent_rows", "ohlc_consistent", "low <= open/close <= high"),
        *(_between(c, min_value=PRICE_MIN, max_value=PRICE_MAX) for c in OHLC),
        _between("volume", min_value=0),
        _not_null("close_price"),
        _not_null("volume"),
        _rows("select_price_jumps_without_split", "price_jump_without_split", "close moves > 30 % without a split"),
    )


def _option_suite() -> tuple[Expect, ...]:
    pair = "expect_column_pair_values_a_to_be_greater_than_b"
    return (
        _unique(["contract_symbol", "snapshot_date"], 1 - MAX_DUPLICATE_RATE),
        Expect(pair, "quote_consistent", {"column_A": "ask", "column_B": "bid", "or_equal": True,
                                          "ignore_row_if": "either_value_is_missing"},
               row_condition=("ask", ">", 0)),  # ask 0 = no offer
        _between("strike", "quote_consistent", min_value=0, strict_min=True),
        Expect(pair, "quote_consistent", {"column_A": "expiration_date", "column_B": "snapshot_date",
                                          "or_equal": True}),
        *(_between(c, min_value=0, max_value=IV_MAX, strict_min=True, strict_max=True)
          for c in ("implied_volatility", "source_implied_volatility")),
        _between("delta", min_value=-1, max_value=1),
        _between("gamma", min_value=0),
        _between("vega", min_value=0),
        *(_not_null(c) for c in ("strike", "expiration_date", "underlying_price")),
    )


@cache
def suite_spec(table: str, *, intraday: bool = False) -> tuple[Expect, ...]:
    """The expectations of ``table``'s suite (``intraday``: bars unique per timestamp, not per day)."""
    if table == "price_history":
        return _price_suite(intraday)
    if table in ("options_calls", "options_puts"):
        return _option_suite()
    if table == "dividends":
        return (_unique(["symbol", "ex_date"]),
                _between("amount", min_value=0, max_value=PRICE_MAX, strict_min=True))
    if table == "splits":
        return (_unique(["symbol", "ex_date"]), _between("ratio", min_value=0.001, max_value=1000))
    if table == "stocks":
        return (
            Expect("expect_column_values_to_be_unique", "no_duplicates", {"column": "symbol"}),
            _not_null("name"),
            _not_null("sector"),
            _between("market_cap", min_value=0),
        )
    raise ValueError(f"no expectation suite for table {table!r}; known: {', '.join(TABLE_CHECKS)}")


def suite_name(table: str, *, intraday: bool = False) -> str:
    return f"stockula.{table}" + (".intraday" if intraday else "")


def build_suite(table: str, *, intraday: bool = False):
    """A fresh great-expectations ``ExpectationSuite`` of ``table``'s expectations."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
    from great_expectations.expectations.row_conditions import Column

    ops = {">": Column.__gt__, ">=": Column.__ge__, "<": Column.__lt__, "<=": Column.__le__, "=": Column.__eq__}
    expectations = []
    for e in suite_spec(table, intraday=intraday):
        kwargs = dict(e.kwargs)
        if e.row_condition is not None:
            column, op, value = e.row_condition
            kwargs["row_condition"] = ops[op](Column(column), value)
        config = ExpectationConfiguration(type=e.type, kwargs=kwargs, meta={"check": e.check},
                                          description=e.description)
        expectations.append(config.to_domain_obj())
    return gx.ExpectationSuite(name=suite_name(table, intraday=intraday), expectations=expectations)
