"""The deterministic data set both editions load: loads (replace windows) in two steps.

Step 1 is the history: daily bars around both 2024 DST changes and month ends, 5-minute sessions on
days either side of them, and option chain snapshots. Step 2 holds late corrections of old windows
(which on the full edition land in compressed chunks). Rows are JSON-ready dicts so the same rows go
to PostgreSQL (psycopg) and to PGlite (Node).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

NY = ZoneInfo("America/New_York")
SYMBOLS = ["AAA", "BBB", "CCC"]
DAILY_RANGES = [(date(2024, 2, 26), date(2024, 4, 12)), (date(2024, 10, 28), date(2024, 11, 8))]
SESSIONS = [date(2024, 3, 8), date(2024, 3, 11), date(2024, 11, 1), date(2024, 11, 4)]
SNAPSHOTS = [date(2024, 3, 8), date(2024, 3, 11), date(2024, 11, 4)]


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat()


def _weekdays(first: date, last: date) -> list[date]:
    days = (first + timedelta(n) for n in range((last - first).days + 1))
    return [d for d in days if d.weekday() < 5]


def _bar(rng: random.Random, ts: datetime, symbol: str, interval: str, day: date, price: float) -> dict:
    # Prices on a 1/64 grid so sums are exact in binary floating point on both servers.
    open_ = round(price * rng.uniform(0.98, 1.02) * 64) / 64
    close = round(price * rng.uniform(0.98, 1.02) * 64) / 64
    return {
        "time": _iso(ts), "symbol": symbol, "interval": interval, "date": day.isoformat(),
        "open_price": open_, "high_price": max(open_, close) + 0.25, "low_price": min(open_, close) - 0.25,
        "close_price": close, "volume": rng.randint(100, 100_000), "source": "tsl-test",
    }


def _load(table: str, interval: str | None, start: datetime, end: datetime, rows: list[dict],
          symbols: list[str]) -> dict:
    return {"table": table, "interval": interval, "start": _iso(start), "end": _iso(end),
            "symbols": symbols, "rows": rows}


def _daily_load(rng: random.Random, first: date, last: date, symbols: list[str], bump: float = 0.0) -> dict:
    rows = [_bar(rng, datetime.combine(d, time(0), NY), s, "1d", d, 100 + 10 * i + bump)
            for i, s in enumerate(symbols) for d in _weekdays(first, last)]
    return _load("price_history", "1d", datetime.combine(first, time(0), NY),
                 datetime.combine(last + timedelta(1), time(0), NY), rows, symbols)


def _session_load(rng: random.Random, day: date, symbols: list[str], start: time = time(9, 30),
                  bars: int = 78, bump: float = 0.0) -> dict:
    opening = datetime.combine(day, start, NY)
    rows = [_bar(rng, opening + timedelta(minutes=5 * k), s, "5m", day, 50 + 5 * i + bump)
            for i, s in enumerate(symbols) for k in range(bars)]
    return _load("price_history", "5m", opening, opening + timedelta(minutes=5 * bars), rows, symbols)


def _options_load(rng: random.Random, table: str, day: date, symbols: list[str]) -> dict:
    snap = datetime.combine(day, time(16), NY)
    expiry = day + timedelta(days=14)
    rows = [
        {"time": _iso(snap), "snapshot_date": day.isoformat(), "symbol": s,
         "contract_symbol": f"{s}{expiry:%y%m%d}{table[8].upper()}{k:05d}", "expiration_date": expiry.isoformat(),
         "strike": 90.0 + 5 * k, "volume": rng.randint(0, 5000), "open_interest": rng.randint(0, 50_000),
         "source": "tsl-test"}
        for s in symbols for k in range(4)
    ]
    return _load(table, None, snap, snap + timedelta(seconds=1), rows, symbols)


def build(seed: int = 20240310) -> list[list[dict]]:
    """The loads of each step, in load order."""
    rng = random.Random(seed)
    history = [_daily_load(rng, first, last, SYMBOLS) for first, last in DAILY_RANGES]
    history += [_session_load(rng, day, SYMBOLS) for day in SESSIONS]
    history += [_options_load(rng, t, d, SYMBOLS) for t in ("options_calls", "options_puts") for d in SNAPSHOTS]
    corrections = [
        _daily_load(rng, date(2024, 3, 13), date(2024, 3, 13), ["AAA"], bump=3.0),  # one old daily bar
        _session_load(rng, date(2024, 3, 11), ["BBB"], start=time(10, 0), bars=12, bump=1.0),  # one hour
        _options_load(rng, "options_puts", date(2024, 3, 8), ["CCC"]),  # a re-pulled chain
    ]
    return [history, corrections]
