"""Does refreshing the aggregates after one new trading day cost the same with 4 years of history as 1?

    python bench/bench_aggregates.py [--symbols 20] [--days 3]

Creates the scratch databases ``stockula_bench_agg1`` and ``stockula_bench_agg4`` (admin DSN, direct),
migrates them, fills them with synthetic daily and 5-minute bars (generate_series, ~20 symbols) for 1
and 4 years, catches the aggregates up, then adds ``--days`` new trading days one at a time, alternating
between the two databases, and times the refresh of every aggregate after each. Prints `name: value`
lines, the median seconds per database and ``aggregate_refresh_scaling_ratio`` (4 years / 1 year,
target <= 1.5). Drops both databases at the end. Never fails on time.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stockula_pipelines.lib.aggregates import refresh_all  # noqa: E402
from stockula_pipelines.lib.db.capabilities import detect  # noqa: E402
from stockula_pipelines.lib.db.migrate import migrate  # noqa: E402
from stockula_pipelines.settings import Role, get_settings  # noqa: E402

TARGET_RATIO = 1.5
HISTORY_END = date(2025, 12, 31)
DATABASES = {1: "stockula_bench_agg1", 4: "stockula_bench_agg4"}

# Weekdays only; prices follow a smooth deterministic path so the OHLC checks always hold.
INSERT_DAILY = """
INSERT INTO market.price_history (time, symbol, interval, date, open_price, high_price, low_price,
                                  close_price, volume, source)
SELECT d AT TIME ZONE 'America/New_York', s.symbol, '1d', d::date, p, p * 1.01, p * 0.99, p,
       1000 + s.i * 10 + extract(doy FROM d)::int, 'bench'
FROM generate_series(%(first)s::timestamp, %(last)s::timestamp, interval '1 day') AS d
CROSS JOIN (SELECT i, 'S' || lpad(i::text, 3, '0') AS symbol FROM generate_series(1, %(symbols)s) AS i) AS s
CROSS JOIN LATERAL (SELECT 100 + s.i + 10 * sin(extract(epoch FROM d) / 864000.0) AS p) AS price
WHERE extract(isodow FROM d) < 6
"""
INSERT_INTRADAY = """
INSERT INTO market.price_history (time, symbol, interval, date, open_price, high_price, low_price,
                                  close_price, volume, source)
SELECT (d::date + time '09:30') AT TIME ZONE 'America/New_York' + k * interval '5 minutes',
       s.symbol, '5m', d::date, p, p * 1.001, p * 0.999, p, 10 + k + s.i, 'bench'
FROM generate_series(%(first)s::timestamp, %(last)s::timestamp, interval '1 day') AS d
CROSS JOIN generate_series(0, 77) AS k
CROSS JOIN (SELECT i, 'S' || lpad(i::text, 3, '0') AS symbol FROM generate_series(1, %(symbols)s) AS i) AS s
CROSS JOIN LATERAL (SELECT 100 + s.i + sin(k / 10.0) AS p) AS price
WHERE extract(isodow FROM d) < 6
"""
# What the loader logs for a load of [first 00:00, last + 1 day 00:00) exchange time.
INSERT_LOG = """
INSERT INTO ops.ingest_log (table_name, interval, window_start, window_end, symbols, mode, rows_loaded)
SELECT 'price_history', iv, %(first)s::timestamp AT TIME ZONE 'America/New_York',
       (%(last)s::date + 1)::timestamp AT TIME ZONE 'America/New_York',
       ARRAY(SELECT 'S' || lpad(i::text, 3, '0') FROM generate_series(1, %(symbols)s) AS i), 'replace', 0
FROM unnest(ARRAY['1d', '5m']) AS iv
"""


def admin_dsn(dbname: str) -> str:
    return get_settings().dsn(Role.admin, direct=True, dbname=dbname)


def recreate(name: str, *, drop_only: bool = False) -> None:
    with psycopg.connect(admin_dsn("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def load_days(conn: psycopg.Connection, first: date, last: date, symbols: int) -> None:
    params = {"first": first, "last": last, "symbols": symbols}
    with conn.transaction():
        conn.execute(INSERT_DAILY, params)
        conn.execute(INSERT_INTRADAY, params)
        conn.execute(INSERT_LOG, params)


def next_weekday(day: date) -> date:
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def prepare(years: int, symbols: int) -> tuple[psycopg.Connection, float]:
    name = DATABASES[years]
    recreate(name)
    settings = get_settings()
    migrate(admin_dsn(name), Path(__file__).resolve().parents[1] / "sql", writer_user=settings.writer_user)
    conn = psycopg.connect(admin_dsn(name), autocommit=True, prepare_threshold=None)
    started = time.perf_counter()
    load_days(conn, HISTORY_END - timedelta(days=365 * years), HISTORY_END, symbols)
    conn.execute("ANALYZE")
    rows = conn.execute("SELECT count(*) FROM market.price_history").fetchone()[0]
    print(f"bench_agg_history_rows_{years}y: {rows}")
    print(f"bench_agg_history_load_seconds_{years}y: {time.perf_counter() - started:.2f}")
    started = time.perf_counter()
    refresh_all(conn, caps=detect(conn), run_id="bench-catch-up")
    return conn, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--days", type=int, default=3, help="new trading days timed per database")
    args = parser.parse_args()
    conns: dict[int, psycopg.Connection] = {}
    try:
        for years in DATABASES:
            conns[years], catch_up = prepare(years, args.symbols)
            print(f"bench_agg_catch_up_seconds_{years}y: {catch_up:.2f}")
        timings: dict[int, list[float]] = {years: [] for years in DATABASES}
        day = HISTORY_END
        for _ in range(args.days):
            day = next_weekday(day)
            for years, conn in conns.items():  # side by side: the same day on both, back to back
                load_days(conn, day, day, args.symbols)
                started = time.perf_counter()
                results = refresh_all(conn, caps=detect(conn), run_id="bench")
                timings[years].append(time.perf_counter() - started)
                assert results["price_history_daily"].rows_written == args.symbols
        medians = {years: statistics.median(t) for years, t in timings.items()}
        for years, seconds in medians.items():
            print(f"aggregate_refresh_seconds_{years}y: {seconds:.4f}")
        print(f"aggregate_refresh_scaling_ratio: {medians[4] / medians[1]:.3f}")
        print(f"aggregate_refresh_scaling_ratio_target: {TARGET_RATIO}")
        print(f"aggregate_refresh_method: {results['price_history_daily'].method}")
    finally:
        for conn in conns.values():
            conn.close()
        for name in DATABASES.values():
            recreate(name, drop_only=True)


if __name__ == "__main__":
    main()
