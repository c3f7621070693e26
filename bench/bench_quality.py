"""Suite time of a window vs the load time of the same window (same data, one run).

Creates (or recreates) a scratch database ``STOCKULA_BENCH_DB`` (default ``stockula_bench_quality``),
loads synthetic windows with the real loader, then validates each window with its GE suite and the
calendar check. Prints ``name: value`` lines; ``quality_vs_load_time_ratio`` is the daily-bar window's.
"""

from __future__ import annotations

import os
import time
from datetime import date
from pathlib import Path

import psycopg
from psycopg import sql

from stockula_pipelines.lib.calendar import trading_day_window, trading_days
from stockula_pipelines.lib.db.migrate import migrate
from stockula_pipelines.lib.ingest import load_window, upsert
from stockula_pipelines.lib.sources.synthetic import SyntheticSource
from stockula_pipelines.lib.validation import quality
from stockula_pipelines.partitions import partition_window
from stockula_pipelines.settings import Role, get_settings

PROJECT = Path(__file__).resolve().parents[1]


def fresh_database(name: str) -> None:
    settings = get_settings()
    with psycopg.connect(settings.dsn(Role.admin, direct=True, dbname="postgres"), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name),
                                                                   sql.Identifier(settings.admin_user)))
    migrate(settings.dsn(Role.admin, direct=True, dbname=name), PROJECT / "sql", writer_user=settings.writer_user,
            analyst_user=settings.analyst_user, backup_user=settings.backup_user)


def main() -> None:
    name = os.environ.get("STOCKULA_BENCH_DB", "stockula_bench_quality")
    fresh_database(name)
    dsn = get_settings().dsn(Role.writer, dbname=name)
    source = SyntheticSource(seed=42, universe_size=int(os.environ.get("STOCKULA_BENCH_SYMBOLS", "50")))
    symbols = source.universe()
    days = trading_days(date(2024, 2, 1), date(2024, 3, 8))
    with psycopg.connect(dsn, prepare_threshold=None) as conn:
        upsert(conn, "stocks", source.stocks(symbols), source=source.name)
        conn.commit()
        for d in days[:-1]:  # history, so the jump and gap checks have previous bars to look at
            w = trading_day_window(d)
            load_window(conn, "price_history", source.price_bars(symbols, *w, "1d"), window=w, symbols=symbols,
                        source=source.name, interval="1d")
        day = days[-1]
        window = trading_day_window(day)

        t = time.perf_counter()
        from stockula_pipelines.lib.expectations.runner import get_runner
        get_runner().validate(dsn, "stocks", None)  # the process's one-time GE start-up
        print(f"quality_ge_startup_seconds: {time.perf_counter() - t:.3f}")

        cases = [("daily", "price_history", window, "1d", lambda w: source.price_bars(symbols, *w, "1d")),
                 ("intraday", "price_history", partition_window(f"{day.isoformat()}-10:30"), "5m",
                  lambda w: source.price_bars(symbols, *w, "5m"))]
        calls, _puts = source.option_chains(symbols, day)
        cases.append(("options", "options_calls", window, None, lambda _w: calls))
        ratios = {}
        for label, table, w, interval, fetch in cases:
            frame = fetch(w)
            t = time.perf_counter()
            load_window(conn, table, frame, window=w, symbols=symbols, source=source.name, interval=interval)
            load_s = time.perf_counter() - t
            timings = []
            for _ in range(2):  # first: this suite's first use in the process; second: steady state
                t = time.perf_counter()
                if table == "price_history":
                    quality.run_price_checks(conn, dsn, w, asset_key=f"market/{table}", interval=interval)
                else:
                    quality.run_table_checks(conn, dsn, table, w, asset_key=f"market/{table}")
                conn.commit()
                timings.append(time.perf_counter() - t)
            check_s = timings[1]
            print(f"{label}_quality_first_use_seconds: {timings[0]:.4f}")
            ratios[label] = check_s / load_s
            print(f"{label}_rows: {frame.height}")
            print(f"{label}_load_seconds: {load_s:.4f}")
            print(f"{label}_quality_seconds: {check_s:.4f}")
            print(f"{label}_quality_vs_load_time_ratio: {ratios[label]:.2f}")
    print(f"quality_vs_load_time_ratio: {ratios['daily']:.2f}")


if __name__ == "__main__":
    main()
