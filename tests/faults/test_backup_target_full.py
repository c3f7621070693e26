"""The backup target full: a small tmpfs mounted by the test as the backup directory. The dump that
does not fit fails with the disk's own error, leaves no partial file, is recorded as failed, and the
backup taken before it still verifies (restore drill against its manifest) on the full disk."""

from __future__ import annotations

import pytest
from ops_support import load_day
from stack_faults import fill, tmpfs

from stockula_pipelines.lib.backup import catalog, logical
from stockula_pipelines.lib.backup.catalog import Target
from stockula_pipelines.lib.backup.drill import run_drill
from stockula_pipelines.lib.backup.errors import BackupError
from stockula_pipelines.lib.backup.pgbackrest import BackupPaths

pytestmark = [pytest.mark.integration, pytest.mark.faults]
QUIET = {"log": lambda _m: None}


def test_a_full_backup_target_fails_the_dump_and_the_previous_backup_still_verifies(clean_db, tmp_path):
    with tmpfs(tmp_path / "backups", "4m") as root:
        target = Target(clean_db.settings.model_copy(update={"backup_dir": root}), clean_db.name)
        directory = BackupPaths.from_settings(target.settings).logical
        load_day(clean_db, 18, direct=True)
        good = logical.run_logical(target, **QUIET)
        assert good.size_bytes and directory == root / "logical"
        filler = fill(root, leave_bytes=good.size_bytes // 4)  # room for a quarter of a dump
        before = sorted(p.name for p in directory.iterdir())

        load_day(clean_db, 19, direct=True)
        with pytest.raises(BackupError) as failure:
            logical.run_logical(target, **QUIET)
        message = str(failure.value)
        assert message.startswith("pg_dump failed") and "No space left on device" in message, message
        assert sorted(p.name for p in directory.iterdir()) == before  # no .partial left filling the disk
        newest, previous = catalog.list_backups(target)[:2]
        assert newest["status"] == "failed" and (previous["backup_id"], previous["status"]) == (good.backup_id,
                                                                                               "complete")
        assert filler.stat().st_size > 0  # still full while the previous backup is verified
        drill = run_drill(target, good.backup_id, **QUIET)
    assert drill.passed and drill.mismatches == [] and drill.tables_checked == len(good.manifest["tables"])
