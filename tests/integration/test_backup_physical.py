"""Physical backups on the local stack: full + incremental with pgBackRest, point-in-time restore into a
scratch cluster, the drill, and a damaged repository file failing `stockula backup verify`."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from ops_support import live_checksums, load_day, price_rows

from stockula_pipelines.lib.backup import catalog, physical, restore
from stockula_pipelines.lib.backup.catalog import Target
from stockula_pipelines.lib.backup.drill import run_drill
from stockula_pipelines.lib.backup.errors import RestoreRefused
from stockula_pipelines.lib.backup.pgbackrest import BackupPaths, PgBackRest
from stockula_pipelines.settings import Role, get_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _db_now(db) -> str:
    with db.connect(Role.admin, direct=True) as conn:
        return conn.execute("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', "
                            "'YYYY-MM-DD HH24:MI:SS.US') || '+00'").fetchone()[0]


def test_point_in_time_restore_equals_the_live_tables_at_that_time(clean_db):
    target = Target(clean_db.settings, clean_db.name)
    assert load_day(clean_db, 4) > 0
    full = physical.run_physical(target, "full", force_full=True, log=lambda _m: None)
    assert full.kind == "full" and full.manifest["tables"]["market.price_history"]["rows"] == 360
    load_day(clean_db, 5)
    incr = physical.run_physical(target, "incr", log=lambda _m: None)
    assert incr.kind == "incr" and incr.prior_id == full.backup_id

    expected = live_checksums(clean_db)
    rows_at_target = price_rows(clean_db)
    time.sleep(0.2)
    target_time = _db_now(clean_db)
    time.sleep(1.1)  # recovery targets are compared to commit times: keep the next load clearly after
    load_day(clean_db, 6)
    assert price_rows(clean_db) > rows_at_target
    physical.switch_wal_and_wait(target)  # the later load's WAL must be in the archive too

    result = restore.restore_physical(target, incr.backup_id, to=target_time, log=lambda _m: None)
    try:
        lo, hi = (int(p) for p in get_settings().backup_scratch_ports.split("-"))
        assert result.cluster is not None and lo <= result.cluster.port <= hi
        assert result.tables == expected
        assert result.tables["market.price_history"]["rows"] == rows_at_target
        with result.cluster.connect(clean_db.name) as conn:
            assert not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
            hypertables = conn.execute("SELECT count(*) FROM timescaledb_information.hypertables").fetchone()[0]
        assert hypertables >= 5
    finally:
        if result.cluster is not None:
            result.cluster.destroy()
    assert not result.cluster.root.exists()


def test_drill_passes_and_is_recorded(clean_db):
    target = Target(clean_db.settings, clean_db.name)
    load_day(clean_db, 7)
    backup = physical.run_physical(target, "incr", log=lambda _m: None)
    drill = run_drill(target, backup.backup_id, log=lambda _m: None)
    assert drill.passed and drill.tables_checked > 10 and drill.amcheck_indexes > 0 and not drill.mismatches
    rows = {r["backup_id"]: r for r in catalog.list_backups(target)}
    assert rows[backup.backup_id]["passed"] is True


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "stockula"), *args], capture_output=True, text=True,
                          timeout=600)


def test_a_damaged_repository_file_fails_verify_loudly(clean_db):
    target = Target(clean_db.settings, clean_db.name)
    load_day(clean_db, 8)
    backup = physical.run_physical(target, "full", force_full=True, log=lambda _m: None)
    paths = BackupPaths.from_settings(clean_db.settings)
    files = sorted((paths.repo / "backup" / paths.stanza / backup.backup_id / "pg_data" / "base").rglob("*.lz4"),
                   key=lambda p: p.stat().st_size)
    victim: Path = files[-1]
    original = victim.read_bytes()
    try:
        victim.write_bytes(original[:64] + bytes(b ^ 0xFF for b in original[64:128]) + original[128:])
        proc = _cli("backup", "--database", clean_db.name, "verify", backup.backup_id)
        assert proc.returncode == 4, proc.stdout + proc.stderr
        assert "damaged" in proc.stderr and backup.backup_id in proc.stderr
        failed = [r for r in catalog.list_backups(target) if r["backup_id"] == backup.backup_id][0]
        assert failed["passed"] is False
        # An incremental whose full backup is damaged is damaged too.
        load_day(clean_db, 10)
        incr = physical.run_physical(target, "incr", log=lambda _m: None)
        assert incr.prior_id == backup.backup_id
        proc = _cli("backup", "--database", clean_db.name, "verify", incr.backup_id)
        assert proc.returncode == 4 and "damaged" in proc.stderr, proc.stdout + proc.stderr
    finally:
        victim.write_bytes(original)
    ok, _report = PgBackRest(paths).verify(backup.backup_id)
    assert ok


def test_restoring_a_set_that_is_not_in_the_repository_is_refused(clean_db):
    target = Target(clean_db.settings, clean_db.name)
    with pytest.raises(RestoreRefused, match="stockula backup list"):
        restore.restore_physical(target, "19990101-000000F", log=lambda _m: None)


def test_cli_run_list_and_verify_only_restore(clean_db):
    load_day(clean_db, 9)
    run = _cli("backup", "--database", clean_db.name, "run", "--kind", "incr")
    assert run.returncode == 0, run.stderr
    backup_id = run.stdout.strip().splitlines()[-1].split()[1]
    listed = _cli("backup", "--database", clean_db.name, "list", "--json")
    assert listed.returncode == 0 and backup_id in listed.stdout
    check = _cli("backup", "--database", clean_db.name, "restore", backup_id, "--verify-only")
    assert check.returncode == 0, check.stderr
    assert "restored and promoted" in check.stdout
    assert _cli("backup", "--database", clean_db.name, "restore", backup_id, "--into", "x").returncode == 2
    assert _cli("backup", "--database", clean_db.name, "restore", backup_id, "--to", "yesterday").returncode == 2
    scratch = BackupPaths.from_settings(clean_db.settings).scratch
    assert not any(scratch.glob("restore-*"))


def test_retention_keeps_the_configured_number_of_full_backups(clean_db):
    target = Target(clean_db.settings, clean_db.name)
    keep = clean_db.settings.backup_retention_full
    fulls = [physical.run_physical(target, "full", force_full=True, log=lambda _m: None).backup_id
             for _ in range(keep + 1)]
    present = {b["label"] for b in PgBackRest(BackupPaths.from_settings(clean_db.settings)).info()}
    assert fulls[0] not in present and set(fulls[1:]) <= present
    assert not any(label < fulls[1] for label in present), "older sets outlived the retention"
    statuses = {r["backup_id"]: r["status"] for r in catalog.list_backups(target)}
    assert statuses[fulls[0]] == "expired" and statuses[fulls[-1]] == "complete"


def test_a_backup_taken_while_loads_run_fails_no_load_and_passes_its_drill(clean_db):
    import threading

    target = Target(clean_db.settings, clean_db.name)
    load_day(clean_db, 22)
    failures: list[BaseException] = []
    loads = 0
    stop = threading.Event()

    def keep_loading() -> None:
        nonlocal loads
        day = 1
        while not stop.is_set():
            try:
                load_day(clean_db, 1 + day % 28)  # re-loading windows: deletes and COPYs, like nightly reruns
                loads += 1
            except BaseException as exc:  # noqa: BLE001 - every failure is the finding
                failures.append(exc)
            day += 1

    thread = threading.Thread(target=keep_loading)
    thread.start()
    try:
        backup = physical.run_physical(target, "full", force_full=True, log=lambda _m: None)
    finally:
        stop.set()
        thread.join()
    assert failures == [] and loads > 0
    drill = run_drill(target, backup.backup_id, log=lambda _m: None)
    assert drill.passed and not drill.mismatches
