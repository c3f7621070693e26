"""What CI and operators type: `dagster asset materialize` and the `stockula` command."""

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
DAY = "2024-11-29"  # the early close after Thanksgiving


def _env(db: TestDatabase, home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(STOCKULA_DB_NAME=db.name, STOCKULA_SYNTHETIC_UNIVERSE_SIZE="6", DAGSTER_HOME=str(home),
               TMPDIR=str(home))
    return env


def _materialize(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(BIN / "dagster"), "asset", "materialize", "-m", "stockula_pipelines.definitions", *args],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _table_state(db: TestDatabase) -> tuple[int, str]:
    with db.connect(Role.writer) as conn:
        return conn.execute(
            """
            SELECT count(*), md5(string_agg(concat_ws('|', symbol, interval, time, date, open_price, high_price,
                   low_price, close_price, volume, source), ',' ORDER BY symbol, interval, time))
            FROM market.price_history
            """
        ).fetchone()


def test_materialize_a_partition_twice_gives_identical_contents(clean_db: TestDatabase, tmp_path: Path):
    env = _env(clean_db, tmp_path)
    _materialize(env, "--select", "market/stocks")
    _materialize(env, "--select", "market/price_history", "--partition", DAY)
    first = _table_state(clean_db)
    _materialize(env, "--select", "market/price_history", "--partition", DAY)
    assert _table_state(clean_db) == first
    assert first[0] == 6


def test_partition_range_backfill_from_the_cli(clean_db: TestDatabase, tmp_path: Path):
    env = _env(clean_db, tmp_path)
    _materialize(env, "--select", "market/stocks")
    _materialize(env, "--select", "market/price_history", "--partition-range", "2024-11-27...2024-12-02")
    with clean_db.connect(Role.writer) as conn:
        days = [r[0].isoformat() for r in conn.execute("SELECT DISTINCT date FROM market.price_history ORDER BY 1")]
    assert days == ["2024-11-27", "2024-11-29", "2024-12-02"]  # Thanksgiving and the weekend are no partitions


def test_stockula_db_commands(stack_settings):
    url = subprocess.run([str(BIN / "stockula"), "db", "url", "--role", "analyst"], capture_output=True,
                         text=True, check=True).stdout.strip()
    assert url.startswith("postgresql://stockula_analyst:") and f":{stack_settings.pgbouncer_port}/" in url
    caps = subprocess.run([str(BIN / "stockula"), "db", "capabilities"], capture_output=True, text=True, check=True)
    assert "edition:" in caps.stdout and "continuous aggregates:" in caps.stdout


def test_bad_configuration_gives_a_clear_error(tmp_path: Path):
    env = dict(os.environ, STOCKULA_WRITER_PASSWORD="", STOCKULA_STACK_DIR=str(tmp_path))
    proc = subprocess.run([str(BIN / "stockula"), "db", "url"], capture_output=True, text=True, env=env)
    assert proc.returncode == 2
    assert "STOCKULA_WRITER_PASSWORD" in proc.stderr


def test_dagster_definitions_validate(tmp_path: Path):
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path), TMPDIR=str(tmp_path))
    proc = subprocess.run([str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"],
                          cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Validation successful" in proc.stderr + proc.stdout
