"""The CI recipe (docs/ci.md): `stockula materialize` exits non-zero on any failed ERROR check, zero on warnings.

A bar of a symbol the source does not know (ZZZZ) survives every reload of its window (a load deletes
only the symbols that answered), so the checks of that window judge it: a 100 % jump from the previous
session fails the WARN check price_jump_without_split, a close above the price bound fails the ERROR
check value_bounds, which is not blocking, so `dagster asset materialize` itself still exits 0.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_DIR, TestDatabase
from dagster_ui import free_port

from stockula_pipelines.settings import Role

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BIN = Path(sys.executable).parent
PREVIOUS, DAY = "2024-11-27", "2024-11-29"


def _env(db: TestDatabase, home: Path) -> dict[str, str]:
    env = dict(os.environ)
    # As docs/ci.md has it: the database is one DSN; Dagster's instance a scratch directory.
    env.update(STOCKULA_DATABASE_URL=db.dsn(Role.writer), STOCKULA_SYNTHETIC_UNIVERSE_SIZE="4",
               DAGSTER_HOME=str(home), TMPDIR=str(home))
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*args], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300)


def _stockula(env, *args):
    return _run(env, str(BIN / "stockula"), "materialize", *args)


def _dagster(env, *args):
    return _run(env, str(BIN / "dagster"), "asset", "materialize", "-m", "stockula_pipelines.definitions", *args)


def _stray_bars(db: TestDatabase, previous_close: float, close: float) -> None:
    """ZZZZ's bars on PREVIOUS and DAY, at the times the source's own bars have."""
    with db.connect(Role.admin, direct=True) as conn:
        conn.execute("DELETE FROM market.price_history WHERE symbol = 'ZZZZ'")
        for day, price in ((PREVIOUS, previous_close), (DAY, close)):
            conn.execute(
                """
                INSERT INTO market.price_history (time, symbol, interval, date, open_price, high_price,
                                                  low_price, close_price, volume, source)
                SELECT time, 'ZZZZ', interval, date, %(p)s, %(p)s, %(p)s, %(p)s, 1000, 'test'
                FROM market.price_history WHERE interval = '1d' AND date = %(day)s LIMIT 1
                """,
                {"p": price, "day": day},
            )


@pytest.fixture()
def loaded(clean_db: TestDatabase, tmp_path: Path) -> dict[str, str]:
    env = _env(clean_db, tmp_path)
    for args in (("--select", "market/stocks"), ("--select", "market/price_history",
                                                 "--partition-range", f"{PREVIOUS}...{DAY}")):
        proc = _stockula(env, *args)
        assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    return env


def test_clean_partition_exits_zero(loaded):
    proc = _stockula(loaded, "--select", "market/price_history", "--partition", DAY)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    # A day of 2024 is not "fresh" today: freshness (WARN) fails, which must not fail the job.
    assert "ERROR check failed" not in proc.stdout + proc.stderr


def test_failed_warn_check_exits_zero_and_is_named(loaded, clean_db):
    _stray_bars(clean_db, 100.0, 200.0)
    proc = _stockula(loaded, "--select", "market/price_history", "--partition", DAY)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "WARN check failed: market/price_history:price_jump_without_split" in proc.stdout


def test_failed_non_blocking_error_check_exits_non_zero(loaded, clean_db):
    _stray_bars(clean_db, 600_000.0, 600_000.0)
    # Dagster's own command: the run succeeds because value_bounds does not block.
    plain = _dagster(loaded, "--select", "market/price_history", "--partition", DAY)
    assert plain.returncode == 0, plain.stderr[-3000:]
    proc = _stockula(loaded, "--select", "market/price_history", "--partition", DAY)
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    assert "ERROR check failed: market/price_history:value_bounds" in proc.stderr
    ranged = _stockula(loaded, "--select", "market/price_history", "--partition-range", f"{PREVIOUS}...{DAY}")
    assert ranged.returncode == 1, ranged.stdout + ranged.stderr[-3000:]


def test_failed_run_exits_non_zero(tmp_path: Path):
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path), TMPDIR=str(tmp_path), STOCKULA_USE_PGBOUNCER="false",
               STOCKULA_DATABASE_URL=f"postgresql://nobody:x@127.0.0.1:{free_port()}/none")
    proc = _stockula(env, "--select", "market/stocks")
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    assert "FAILED" in proc.stdout


def test_bad_selection_exits_two(tmp_path: Path):
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path), TMPDIR=str(tmp_path))
    proc = _stockula(env, "--select", "no/such_asset")
    assert proc.returncode == 2
    assert "selects no asset" in proc.stderr or "bad selection" in proc.stderr
