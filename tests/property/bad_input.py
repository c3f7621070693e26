"""Hypothesis strategies for the input real feeds send: mostly plausible rows, each possibly broken in
one way (NaN, infinity, huge, zero or negative values, NULLs, unicode and quote-laden symbols, NUL
characters), shuffled, with identical and conflicting duplicate keys, in any time zone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
from hypothesis import strategies as st

from stockula_pipelines.lib import schemas

DB_EXAMPLES = 40  # examples of the properties that write to the database (each costs a load)

WINDOW = (datetime(2024, 3, 4, 5, tzinfo=UTC), datetime(2024, 3, 7, 5, tzinfo=UTC))
ZONES = [UTC, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata"), ZoneInfo("Pacific/Chatham")]

SYMBOLS = ["AAA", "BBB", "BRK.B", "^GSPC", "EURUSD=X", "ÆØÅ", "O'REILLY", 'QU"OTE',
           "'); DROP TABLE market.price_history; --", "", "   ", "aapl", "A" * 40, "😀", "NUL\x00X", "TAB\tX"]
GOOD_SYMBOLS = ["AAA", "BBB", "BRK.B", "^GSPC", "EURUSD=X"]  # well-formed and in the universe
TEXTS = ["test", "", "tëst ✓", "x'; DELETE FROM market.stocks; --", "back\\slash", "NUL\x00byte", "new\nline"]
BAD_FLOATS = [float("nan"), float("inf"), float("-inf"), 0.0, -0.0, -1.0, -1e-300, 5e-324, 1e300, 1.7e308]
BAD_INTS = [None, -1, -(2**63), 2**63 - 1, 0]


def any_float() -> st.SearchStrategy[float | None]:
    return st.one_of(st.none(), st.sampled_from(BAD_FLOATS), st.floats(allow_nan=True, allow_infinity=True))


def in_zone(moment: datetime, zone) -> datetime:
    return moment.astimezone(zone)


@st.composite
def times(draw, start: datetime = WINDOW[0], end: datetime = WINDOW[1]) -> datetime:
    """Mostly inside [start, end) on a few shared instants (so keys collide), sometimes just outside."""
    pick = draw(st.integers(0, 9))
    if pick < 7:
        moment = draw(st.sampled_from([start + timedelta(hours=h) for h in (0, 1, 24, 25, 71)]))
    elif pick == 7:
        moment = draw(st.sampled_from([end, start - timedelta(microseconds=1)]))
    else:
        moment = draw(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1),
                                   timezones=st.just(UTC)))
    return in_zone(moment, draw(st.sampled_from(ZONES)))


def _mutate(draw, row: dict, numeric: dict[str, st.SearchStrategy], text: list[str]) -> dict:
    """Break at most two fields of ``row``."""
    for _ in range(draw(st.integers(0, 2))):
        column = draw(st.sampled_from(sorted(row)))
        if column in numeric:
            row[column] = draw(numeric[column])
        elif column in text:
            row[column] = draw(st.one_of(st.none(), st.sampled_from(TEXTS + SYMBOLS)))
        else:  # keys and dates: NULL
            row[column] = None
    return row


def _with_duplicates(draw, rows: list[dict]) -> list[dict]:
    if rows and draw(st.booleans()):
        rows.append(dict(draw(st.sampled_from(rows))))  # an identical copy
    if rows and draw(st.booleans()):
        conflict = dict(draw(st.sampled_from(rows)))  # same key, another value
        conflict["source"] = "conflicting copy"
        rows.append(conflict)
    return draw(st.permutations(rows))


@st.composite
def price_rows(draw, max_rows: int = 10, symbols: list[str] | None = None) -> list[dict]:
    rows = []
    for _ in range(draw(st.integers(0, max_rows))):
        low = draw(st.floats(0.01, 5000)) * draw(st.sampled_from([1.0, 1.0, 1.0, 1e15, 1e300]))  # absurd ones too
        high = low * draw(st.floats(1, 1.2))
        when = draw(times())
        row = {
            "time": when,
            "symbol": draw(st.sampled_from(symbols or GOOD_SYMBOLS * 3 + SYMBOLS)),
            "interval": "1d",
            "date": when.date(),
            "open_price": draw(st.floats(low, high)),
            "high_price": high,
            "low_price": low,
            "close_price": draw(st.floats(low, high)),
            "volume": draw(st.integers(0, 10**9)),
            "source": "test",
        }
        numeric = {c: any_float() for c in ("open_price", "high_price", "low_price", "close_price")}
        numeric["volume"] = st.one_of(st.sampled_from(BAD_INTS), st.integers(-(2**63), 2**63 - 1))
        rows.append(_mutate(draw, row, numeric, ["symbol", "source"]))
    return _with_duplicates(draw, rows)


@st.composite
def option_rows(draw, max_rows: int = 8) -> list[dict]:
    rows = []
    snap = datetime(2024, 3, 5, 21, tzinfo=UTC)
    for i in range(draw(st.integers(0, max_rows))):
        symbol = draw(st.sampled_from(GOOD_SYMBOLS * 3 + SYMBOLS))
        bid = draw(st.floats(0, 50))
        row = {
            "time": snap, "fetched_at": snap, "snapshot_date": date(2024, 3, 5), "symbol": symbol,
            "contract_symbol": f"{symbol}240315C{i:08d}",
            "expiration_date": draw(st.sampled_from([date(2024, 3, 15), date(2024, 3, 5), date(2024, 3, 4),
                                                     date(1999, 1, 1)])),
            "strike": draw(st.floats(1, 500)), "last_price": bid, "bid": bid, "ask": bid + draw(st.floats(0, 5)),
            "volume": draw(st.integers(0, 10**6)), "open_interest": draw(st.integers(0, 10**6)),
            "source_implied_volatility": draw(st.floats(0, 3)), "in_the_money": draw(st.booleans()),
            "underlying_price": draw(st.floats(1, 500)), "source": "test",
        }
        numeric = {c: any_float() for c in ("strike", "last_price", "bid", "ask", "source_implied_volatility",
                                            "underlying_price")}
        numeric.update({c: st.sampled_from(BAD_INTS) for c in ("volume", "open_interest")})
        rows.append(_mutate(draw, row, numeric, ["symbol", "contract_symbol", "source"]))
    return _with_duplicates(draw, rows)


def frame_of(table: str, rows: list[dict]) -> pl.DataFrame:
    """``rows`` as a frame of ``table``'s schema (the time zones of the datetimes collapse to UTC)."""
    schema, _ = schemas.TABLES[table]
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else schemas.empty_frame(table)


def bar(symbol: str = "AAA", price: float = 10.0, volume: int = 100, source: str = "test") -> dict:
    """One well-formed daily bar inside WINDOW: the base of the explicit examples."""
    return {"time": WINDOW[0], "symbol": symbol, "interval": "1d", "date": WINDOW[0].date(), "open_price": price,
            "high_price": price, "low_price": price, "close_price": price, "volume": volume, "source": source}


# Inputs that once aborted a whole load; every property over bars runs them first.
REGRESSIONS = [
    [bar(price=1e300, volume=10**9), bar("BBB")],  # close x volume overflows the stored trading_value
    [bar(symbol="NUL\x00X"), bar("BBB", source="NUL\x00byte"), bar("BRK.B")],  # PostgreSQL text takes no NUL
]
