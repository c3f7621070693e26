"""Logical backups: pg_dump -Fc with a manifest, restore into a new database with pre/post restore,
refusals (TimescaleDB version mismatch, existing target), a damaged dump failing verify, retention, and
a backup that fails part-way leaving the previous one listed and verifiable."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from ops_support import live_checksums, load_day, price_rows
from psycopg import sql

from stockula_pipelines.lib.backup import catalog, logical, restore
from stockula_pipelines.lib.backup.catalog import Target
from stockula_pipelines.lib.backup.drill import run_drill
from stockula_pipelines.lib.backup.errors import BackupError, RestoreRefused
from stockula_pipelines.lib.backup.pgbackrest import BackupPaths
from stockula_pipelines.settings import Role

pytestmark = [pytest.mark.integration, pytest.mark.slow]
QUIET = {"log": lambda _m: None}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "stockula"), *args], capture_output=True, text=True,
                          timeout=600)


def _drop(db, name: str) -> None:
    with db.connect(Role.admin, direct=True, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def test_logical_backup_restores_into_a_new_database_equal_to_the_live_tables(clean_db):
    target = Target(clean_db.settings, clean_db.name)
    load_day(clean_db, 11)
    expected = live_checksums(clean_db)
    backup = logical.run_logical(target, **QUIET)
    load_day(clean_db, 12)  # after the dump: must not be in the restore
    files = logical.LogicalFiles.of(BackupPaths.from_settings(clean_db.settings).logical, backup.backup_id)
    manifest = json.loads(files.manifest.read_text())
    assert manifest["tables"] == expected
    assert manifest["sha256"] == logical.sha256_of(files.dump) and manifest["timescaledb_version"]
    assert not list(files.dump.parent.glob(".*.partial"))
    assert files.dump.stat().st_mode & 0o777 == 0o600 and files.manifest.stat().st_mode & 0o777 == 0o600
    assert files.dump.parent.stat().st_mode & 0o777 == 0o700

    into = f"{clean_db.name}_logical_restore"
    try:
        result = restore.restore_logical(target, backup.backup_id, into=into, drop_existing=True, **QUIET)
        assert result.mismatches == [] and result.tables == expected
        with psycopg.connect(clean_db.settings.dsn(Role.admin, direct=True, dbname=into)) as conn:
            restoring = conn.execute("SELECT current_setting('timescaledb.restoring', true)").fetchone()[0]
            hypertables = conn.execute("SELECT count(*) FROM timescaledb_information.hypertables").fetchone()[0]
            chunks = conn.execute("SELECT count(*) FROM timescaledb_information.chunks "
                                  "WHERE hypertable_name = 'price_history'").fetchone()[0]
        assert restoring in (None, "off") and hypertables >= 5 and chunks >= 1
        # An existing target is refused unless --drop-existing; the live database always is.
        with pytest.raises(RestoreRefused, match="--drop-existing"):
            restore.restore_logical(target, backup.backup_id, into=into, **QUIET)
        with pytest.raises(RestoreRefused, match="live database"):
            restore.restore_logical(target, backup.backup_id, into=clean_db.name, drop_existing=True, **QUIET)
    finally:
        _drop(clean_db, into)
    assert price_rows(clean_db) > expected["market.price_history"]["rows"]


def test_a_timescaledb_version_mismatch_is_refused(clean_db):
    target = Target(clean_db.settings, clean_db.name)
    backup = logical.run_logical(target, **QUIET)
    directory = BackupPaths.from_settings(clean_db.settings).logical
    src = logical.LogicalFiles.of(directory, backup.backup_id)
    alien_id = "logical-19990101T000000000Z"
    alien = logical.LogicalFiles.of(directory, alien_id)
    try:
        shutil.copy(src.dump, alien.dump)
        manifest = json.loads(src.manifest.read_text())
        manifest.update(backup_id=alien_id, timescaledb_version="1.7.5")
        alien.manifest.write_text(json.dumps(manifest))
        proc = _cli("backup", "--database", clean_db.name, "restore", alien_id, "--into", "never_created")
        assert proc.returncode == 3, proc.stderr
        assert "TimescaleDB 1.7.5" in proc.stderr and "install" in proc.stderr
    finally:
        alien.dump.unlink(missing_ok=True)
        alien.manifest.unlink(missing_ok=True)


def test_a_damaged_dump_fails_verify_loudly(clean_db):
    target = Target(clean_db.settings, clean_db.name)
    load_day(clean_db, 13)
    backup = logical.run_logical(target, **QUIET)
    files = logical.LogicalFiles.of(BackupPaths.from_settings(clean_db.settings).logical, backup.backup_id)
    data = bytearray(files.dump.read_bytes())
    data[len(data) // 2] ^= 0xFF
    files.dump.write_bytes(bytes(data))
    proc = _cli("backup", "--database", clean_db.name, "verify", backup.backup_id)
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "damaged" in proc.stderr and "sha256" in proc.stderr
    rows = {r["backup_id"]: r for r in catalog.list_backups(target)}
    assert rows[backup.backup_id]["passed"] is False
    files.dump.unlink()
    files.manifest.unlink()


def test_a_failed_backup_leaves_the_previous_one_listed_and_verifiable(clean_db):
    target = Target(clean_db.settings, clean_db.name)
    load_day(clean_db, 14)
    good = logical.run_logical(target, **QUIET)
    broken = Target(clean_db.settings.model_copy(update={"pg_port": 1}), clean_db.name)  # nothing listens there
    directory = BackupPaths.from_settings(clean_db.settings).logical
    before = sorted(p.name for p in directory.iterdir())
    with pytest.raises((BackupError, psycopg.OperationalError)):
        logical.run_logical(broken, **QUIET)
    assert sorted(p.name for p in directory.iterdir()) == before
    listed = [r["backup_id"] for r in catalog.list_backups(target) if r["status"] == "complete"]
    assert good.backup_id in listed
    assert run_drill(target, good.backup_id, **QUIET).passed


def test_retention_keeps_the_last_verified_dump(clean_db):
    settings = clean_db.settings.model_copy(update={"backup_logical_retention": 1})
    target = Target(settings, clean_db.name)
    verified = logical.run_logical(target, **QUIET)
    run_drill(target, verified.backup_id, **QUIET)
    newer = [logical.run_logical(target, **QUIET) for _ in range(2)]
    directory = BackupPaths.from_settings(settings).logical
    kept = {p.name.removesuffix(".manifest.json") for p in directory.glob("logical-*.manifest.json")}
    assert verified.backup_id in kept and newer[-1].backup_id in kept and newer[0].backup_id not in kept
    statuses = {r["backup_id"]: r["status"] for r in catalog.list_backups(target)}
    assert statuses[newer[0].backup_id] == "expired"
