"""How long do planning and a full rebuild of the curated models take on a few years of daily bars?

    python bench/bench_curated.py [--symbols 50] [--years 4]

Creates the scratch database ``stockula_bench_curated`` (admin DSN, direct), migrates it, fills it with
synthetic daily bars (generate_series, with adjusted close, return and volatility filled in) and one
option snapshot per symbol, then times ``load_project`` (parse + plan) and ``materialize`` + tests of
every model as the writer. Prints `name: value` lines; drops the database at the end. Never fails on time.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stockula_pipelines.lib.db.migrate import migrate  # noqa: E402
from stockula_pipelines.lib.models import load_project, materialize, run_tests  # noqa: E402
from stockula_pipelines.settings import Role, get_settings  # noqa: E402

DATABASE = "stockula_bench_curated"
HISTORY_END = date(2025, 12, 31)

INSERT_STOCKS = """
INSERT INTO market.stocks (symbol, name, sector, source)
SELECT 'S' || lpad(i::text, 3, '0'), 'Company ' || i, (ARRAY['Technology', 'Energy', 'Health', 'Utilities'])[1 + i %% 4], 'bench'
FROM generate_series(1, %(symbols)s) AS i
"""
INSERT_DAILY = """
INSERT INTO market.price_history (time, symbol, interval, date, open_price, high_price, low_price, close_price,
                                  adj_close_price, volume, daily_return, volatility, source)
SELECT d AT TIME ZONE 'America/New_York', s.symbol, '1d', d::date, p, p * 1.01, p * 0.99, p, p,
       1000 + s.i * 10, 0.001 * sin(extract(epoch FROM d) / 86400.0 + s.i), 0.2 + 0.001 * s.i, 'bench'
FROM generate_series(%(first)s::timestamp, %(last)s::timestamp, interval '1 day') AS d
CROSS JOIN (SELECT i, 'S' || lpad(i::text, 3, '0') AS symbol FROM generate_series(1, %(symbols)s) AS i) AS s
CROSS JOIN LATERAL (SELECT 100 + s.i + 10 * sin(extract(epoch FROM d) / 864000.0) AS p) AS price
WHERE extract(isodow FROM d) < 6
"""
INSERT_CALLS = """
INSERT INTO market.options_calls (time, snapshot_date, symbol, contract_symbol, expiration_date, strike, bid, ask,
                                  underlying_price, implied_volatility, delta, greeks_status, source)
SELECT %(last)s::timestamp AT TIME ZONE 'America/New_York' + interval '16 hours', %(last)s::date, s.symbol,
       s.symbol || 'C' || k, %(last)s::date + 30, 80 + k, 1.0, 1.2, 100, 0.25, 0.5, 'ok', 'bench'
FROM (SELECT 'S' || lpad(i::text, 3, '0') AS symbol FROM generate_series(1, %(symbols)s) AS i) AS s
CROSS JOIN generate_series(0, 40) AS k
"""


def admin_dsn(dbname: str) -> str:
    return get_settings().dsn(Role.admin, direct=True, dbname=dbname)


def recreate(*, drop_only: bool = False) -> None:
    with psycopg.connect(admin_dsn("postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(DATABASE)))
        if not drop_only:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the database for EXPLAIN")
    args = parser.parse_args()
    settings = get_settings()
    recreate()
    try:
        migrate(admin_dsn(DATABASE), ROOT / "sql", writer_user=settings.writer_user,
                analyst_user=settings.analyst_user, backup_user=settings.backup_user)
        params = {"first": HISTORY_END - timedelta(days=365 * args.years), "last": HISTORY_END, "symbols": args.symbols}
        with psycopg.connect(admin_dsn(DATABASE), autocommit=True) as conn:
            for statement in (INSERT_STOCKS, INSERT_DAILY, INSERT_CALLS):
                conn.execute(statement, params)
            conn.execute("ANALYZE")
            rows = conn.execute("SELECT count(*) FROM market.price_history").fetchone()[0]
        print(f"curated_bench_daily_bars: {rows}")

        started = time.perf_counter()
        project = load_project(ROOT / "dbt_like_models")
        print(f"curated_plan_ms: {(time.perf_counter() - started) * 1000:.1f}")

        total_build = total_tests = 0.0
        dsn = settings.dsn(Role.writer, direct=True, dbname=DATABASE)
        with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
            for name in project.order:
                started = time.perf_counter()
                materialize(conn, project, name)
                built = time.perf_counter() - started
                started = time.perf_counter()
                failing = sum(r.failing for r in run_tests(conn, project.models[name]))
                tested = time.perf_counter() - started
                total_build, total_tests = total_build + built, total_tests + tested
                print(f"curated_build_seconds_{name}: {built:.3f}")
                print(f"curated_tests_seconds_{name}: {tested:.3f}")
                if failing:
                    print(f"curated_failing_rows_{name}: {failing}")
        print(f"curated_build_seconds_total: {total_build:.3f}")
        print(f"curated_tests_seconds_total: {total_tests:.3f}")
    finally:
        if not args.keep:
            recreate(drop_only=True)


if __name__ == "__main__":
    main()
