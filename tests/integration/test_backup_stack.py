"""pgBackRest on the native stack: an encrypted repository whose passphrase lives only in stack.env and
the private config file, WAL archived through pgBackRest, archive_timeout bounding the archive's lag."""

from __future__ import annotations

import os
import subprocess

import pytest

from stockula_pipelines.lib.backup.pgbackrest import BackupPaths, PgBackRest
from stockula_pipelines.settings import Role, project_dir
from stockula_pipelines.stack.envfile import read_env_file
from stockula_pipelines.stack.layout import RunAs, StackLayout

pytestmark = pytest.mark.integration


def test_the_repository_key_is_generated_private_and_never_in_git(stack_settings):
    layout = StackLayout.from_settings(stack_settings)
    key = read_env_file(layout.env_file)["STOCKULA_BACKUP_CIPHER_PASS"]
    assert len(key) >= 32
    paths = BackupPaths.from_settings(stack_settings)
    assert paths.config.stat().st_mode & 0o777 == 0o600
    assert paths.config.stat().st_uid == RunAs.for_current_process().uid
    assert f"repo1-cipher-pass={key}" in paths.config.read_text()
    tracked = subprocess.run(["git", "grep", "-l", "-F", key], cwd=project_dir(), capture_output=True, text=True)
    assert tracked.stdout == ""
    for conf in ("stockula.conf", "stockula.common.conf", "postgresql.auto.conf"):
        assert key not in (layout.pgdata / conf).read_text()


def test_wal_is_archived_through_pgbackrest_with_a_bounded_timeout(test_db):
    with test_db.connect(Role.admin, direct=True) as conn:
        command = conn.execute("SHOW archive_command").fetchone()[0]
        timeout = conn.execute("SELECT setting::int FROM pg_settings WHERE name = 'archive_timeout'").fetchone()[0]
    assert "pgbackrest" in command and "archive-push" in command and "/bin/true" not in command
    assert 0 < timeout <= 60
    rest = PgBackRest(BackupPaths.from_settings(test_db.settings))
    rest.check()  # switches WAL and waits until the segment is in the repository
    proc = rest.run("info", "--output=json")
    assert '"cipher":"aes-256-cbc"' in proc.stdout.replace(" ", "")


def test_pgbackrest_runs_as_the_service_account(stack_settings):
    paths = BackupPaths.from_settings(stack_settings)
    owner = RunAs.for_current_process().uid
    for path in paths.repo.rglob("*"):
        assert os.lstat(path).st_uid == owner, path
