"""Helpers shared by the operations tests: deterministic loads through the real loader, and the live
tables' checksums as the backup code computes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import psycopg

from stockula_pipelines.lib import schemas
from stockula_pipelines.lib.backup.checksums import table_checksums
from stockula_pipelines.lib.ingest import load_window
from stockula_pipelines.settings import Role

SYMBOLS = ["AAA", "BBB", "CCC"]


def minute_bars(start: datetime, n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    rows = len(SYMBOLS) * n
    close = 100 + rng.normal(0, 1, rows).cumsum() / 10
    spread = rng.uniform(0.01, 0.5, rows)
    frame = pl.DataFrame({
        "time": [start + i * timedelta(minutes=1) for _ in SYMBOLS for i in range(n)],
        "symbol": [s for s in SYMBOLS for _ in range(n)],
        "interval": "1m",
        "open_price": close + spread / 2, "high_price": close + spread, "low_price": close - spread,
        "close_price": close, "volume": rng.integers(0, 10_000, rows), "source": "test",
    }).with_columns(pl.col("time").cast(schemas.UTC_TS), pl.col("time").dt.date().alias("date"))
    return schemas.conform(frame, "price_history")


def load_day(db, day: int, n: int = 120, *, direct: bool = False, seed: int | None = None) -> int:
    """Load ``n`` minute bars per symbol on 2024-03-``day`` through the loader, as the writer (values from
    ``seed``, the day by default: the same day loaded again is unchanged, so nothing is written)."""
    start = datetime(2024, 3, day, 14, 30, tzinfo=UTC)
    frame = minute_bars(start, n, seed=day if seed is None else seed)
    with db.connect(Role.writer, direct=direct) as conn:
        result = load_window(conn, "price_history", frame, window=(start, start + timedelta(hours=4)),
                             symbols=SYMBOLS, source="test")
    return result.rows_loaded


def live_checksums(db) -> dict[str, dict]:
    with db.connect(Role.admin, direct=True) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        return {name: s.as_dict() for name, s in table_checksums(conn).items()}


def price_rows(db) -> int:
    with db.connect(Role.admin, direct=True) as conn:
        return conn.execute("SELECT count(*) FROM market.price_history").fetchone()[0]
