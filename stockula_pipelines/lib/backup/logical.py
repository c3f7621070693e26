"""Logical backups: ``pg_dump -Fc`` of one database with a JSON manifest beside it.

The dump and the manifest's checksums come from the same exported snapshot, so the manifest
describes exactly the rows in the file. Both are written under temporary names and renamed once
complete: a dump that fails part-way leaves only a ``.partial`` file, never a listed backup.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from stockula_pipelines.settings import Role
from stockula_pipelines.stack.layout import PG_BIN

from . import catalog
from .catalog import Target
from .checksums import table_checksums, versions
from .errors import BackupError, VerificationFailed
from .pgbackrest import BackupPaths

Log = Callable[[str], None]
CHUNK = 1 << 20


_EXPORT_SNAPSHOT = "SELECT pg_export_snapshot()"


@dataclass(frozen=True)
class LogicalFiles:
    dump: Path
    manifest: Path

    @classmethod
    def of(cls, directory: Path, backup_id: str) -> LogicalFiles:
        return cls(directory / f"{backup_id}.dump", directory / f"{backup_id}.manifest.json")

    def read_manifest(self) -> dict:
        if not self.manifest.exists():
            raise BackupError(f"{self.manifest} is missing: the backup is incomplete or was removed")
        return json.loads(self.manifest.read_text())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def pg_env(target: Target, role: Role) -> dict[str, str]:
    # The password travels in the environment of our own child process, never on its command line.
    settings = target.settings
    return {**{k: v for k, v in os.environ.items() if not k.startswith(("STOCKULA_", "PG", "DAGSTER_PG"))},
            "PGPASSWORD": settings.password_for(role), "PGCONNECT_TIMEOUT": "10"}


def conn_args(target: Target, role: Role, dbname: str) -> list[str]:
    s = target.settings
    return ["-h", s.pg_host, "-p", str(s.pg_port), "-U", s.user_for(role), "-d", dbname, "--no-password"]


def new_backup_id(now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"logical-{now:%Y%m%dT%H%M%S}{now.microsecond // 1000:03d}Z"


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def run_logical(target: Target, *, run_id: str | None = None, log: Log = print) -> catalog.BackupRecord:
    paths = BackupPaths.from_settings(target.settings)
    # A dump holds every row: private to the account that takes it.
    paths.logical.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths.logical.chmod(0o700)
    started = datetime.now(UTC)
    backup_id = new_backup_id(started)
    files = LogicalFiles.of(paths.logical, backup_id)
    partial = files.dump.with_name(f".{files.dump.name}.partial")
    log(f"backup: pg_dump -Fc of {target.dbname} -> {files.dump}")
    try:
        with target.connect(Role.backup) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            snapshot = conn.execute(_EXPORT_SNAPSHOT).fetchone()[0]  # type: ignore[index]
            info = versions(conn)
            sums = table_checksums(conn)
            # pg_dump reads the same snapshot while this transaction holds it open.
            proc = subprocess.run(  # noqa: S603 - fixed binary, arguments built here
                [str(PG_BIN / "pg_dump"), "-Fc", f"--snapshot={snapshot}", "-f", str(partial),
                 *conn_args(target, Role.backup, target.dbname)],
                env=pg_env(target, Role.backup), capture_output=True, text=True, timeout=6 * 3600,
            )
            conn.rollback()
        if proc.returncode != 0:
            raise BackupError(f"pg_dump failed (exit {proc.returncode}): {proc.stderr.strip()}")
        manifest = {
            "backup_id": backup_id, "kind": "logical", "format": "pg_dump -Fc", "database": target.dbname,
            "created_at": started.isoformat(), "finished_at": datetime.now(UTC).isoformat(), **info,
            "file": files.dump.name, "size_bytes": partial.stat().st_size, "sha256": sha256_of(partial),
            "tables": {name: s.as_dict() for name, s in sums.items()},
        }
        partial.chmod(0o600)
        os.replace(partial, files.dump)
        # The manifest is renamed last: its presence is what makes the backup complete.
        _write_atomically(files.manifest, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    except Exception as exc:
        partial.unlink(missing_ok=True)
        catalog.record_backup(target, backup_id=backup_id, kind="logical", status="failed", started_at=started,
                              finished_at=datetime.now(UTC), size_bytes=None, location=str(files.dump),
                              error=str(exc)[:2000], run_id=run_id)
        raise
    catalog.record_backup(
        target, backup_id=backup_id, kind="logical", status="complete", started_at=started,
        finished_at=datetime.fromisoformat(manifest["finished_at"]), size_bytes=manifest["size_bytes"],
        location=str(files.dump), manifest=manifest, run_id=run_id,
    )
    log(f"backup: {backup_id} complete ({manifest['size_bytes']:,} bytes, {len(sums)} tables)")
    apply_retention(target, log=log)
    record = catalog.get_backup(target, backup_id)
    assert record is not None
    return record


def verify_file(files: LogicalFiles) -> dict:
    """The manifest, once the dump's size and sha256 match it; raises VerificationFailed otherwise."""
    manifest = files.read_manifest()
    if not files.dump.exists():
        raise VerificationFailed(f"{files.dump} is missing although its manifest exists")
    size = files.dump.stat().st_size
    digest = sha256_of(files.dump)
    if size != manifest["size_bytes"] or digest != manifest["sha256"]:
        raise VerificationFailed(
            f"{files.dump} is damaged: sha256 {digest} (size {size:,}) but the manifest says "
            f"{manifest['sha256']} (size {manifest['size_bytes']:,}); restore another backup "
            "(`stockula backup list`) and take a new one"
        )
    return manifest


def apply_retention(target: Target, *, log: Log = print) -> list[str]:
    """Keep the newest ``backup_logical_retention`` dumps, and always the last verified one."""
    paths = BackupPaths.from_settings(target.settings)
    keep_n = max(1, target.settings.backup_logical_retention)
    ids = sorted((p.name.removesuffix(".manifest.json") for p in paths.logical.glob("logical-*.manifest.json")),
                 reverse=True)
    protected = catalog.last_verified(target, ["logical"])
    removed = []
    for backup_id in ids[keep_n:]:
        if backup_id == protected:
            continue
        files = LogicalFiles.of(paths.logical, backup_id)
        # Manifest first: a dump without a manifest is never listed as a backup.
        files.manifest.unlink(missing_ok=True)
        files.dump.unlink(missing_ok=True)
        removed.append(backup_id)
    catalog.mark(target, removed, "expired")
    if removed:
        log(f"backup: retention removed {', '.join(removed)}")
    return removed
