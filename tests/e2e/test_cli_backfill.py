"""`stockula backfill` as an operator types it: daily bars from the configured history start, and the
one-line answer to a range outside the partitions."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROJECT_DIR, TestDatabase

from stockula_pipelines.settings import Role

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

BIN = Path(sys.executable).parent
UNIVERSE = 6
# The first two weeks of the default STOCKULA_HISTORY_START (2000-01-03): every weekday is a session.
SESSIONS = ["2000-01-03", "2000-01-04", "2000-01-05", "2000-01-06", "2000-01-07",
            "2000-01-10", "2000-01-11", "2000-01-12", "2000-01-13", "2000-01-14"]


def _env(db: TestDatabase, home: Path) -> dict[str, str]:
    env = dict(os.environ)
    # The defaults a user gets: no STOCKULA_HISTORY_START, so the partitions begin at 2000-01-03.
    env.pop("STOCKULA_HISTORY_START", None)
    env.update(STOCKULA_DB_NAME=db.name, STOCKULA_SYNTHETIC_UNIVERSE_SIZE=str(UNIVERSE), DAGSTER_HOME=str(home),
               TMPDIR=str(home))
    return env


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*args], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=600)


def test_backfill_daily_bars_from_the_history_start(clean_db: TestDatabase, tmp_path: Path):
    env = _env(clean_db, tmp_path)
    stocks = _run(env, str(BIN / "dagster"), "asset", "materialize", "-m", "stockula_pipelines.definitions",
                  "--select", "market/stocks")
    assert stocks.returncode == 0, stocks.stderr[-3000:]
    proc = _run(env, str(BIN / "stockula"), "backfill", "market/price_history", "--from", "2000-01-03",
                "--to", "2000-01-14")
    # Rows are checked first: a failing check step must not hide that the load itself worked or not.
    with clean_db.connect(Role.writer) as conn:
        rows = conn.execute("SELECT date, count(*) FROM market.price_history WHERE interval = '1d' "
                            "GROUP BY date ORDER BY date").fetchall()
        loads = conn.execute("SELECT count(*) FROM ops.ingest_log WHERE table_name = 'price_history'").fetchone()[0]
    assert [(d.isoformat(), n) for d, n in rows] == [(day, UNIVERSE) for day in SESSIONS]
    assert loads == 1  # one run, one window, one transaction
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert f"{len(SESSIONS)} daily partition(s) 2000-01-03..2000-01-14 in one run" in proc.stdout


def test_a_range_before_the_partitions_is_one_line_naming_the_range_and_the_setting(
        clean_db: TestDatabase, tmp_path: Path):
    proc = _run(_env(clean_db, tmp_path), str(BIN / "stockula"), "backfill", "market/price_history",
                "--from", "1999-03-01", "--to", "2000-03-10")
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-3000:]
    assert "1999-03-01" in lines[0] and "the daily partitions run 2000-01-03.." in lines[0]
    assert "STOCKULA_HISTORY_START" in lines[0]
    with clean_db.connect(Role.writer) as conn:
        assert conn.execute("SELECT count(*) FROM ops.ingest_log").fetchone()[0] == 0  # nothing ran
