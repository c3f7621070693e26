"""Physical backups with pgBackRest: full or incremental, a restore point and a manifest per set.

After each backup the code creates a named restore point and, from one snapshot taken just before it,
records every table's row count and checksum: a drill restores to that point and must find the same
rows. When a transaction commits between the snapshot and the restore point, both are taken again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

import psycopg

from stockula_pipelines.lib.db.sqlfiles import SqlFiles
from stockula_pipelines.settings import Role

from . import catalog
from .catalog import Target
from .checksums import table_checksums, versions
from .errors import BackupError
from .pgbackrest import BackupPaths, PgBackRest

_SQL = SqlFiles(__file__)

Log = Callable[[str], None]


_CREATE_RESTORE_POINT = "SELECT pg_create_restore_point(%s)::text"

_SELECT_ARCHIVER = """
SELECT last_archived_wal, last_archived_time, last_failed_wal, last_failed_time, failed_count
FROM pg_stat_archiver
"""

_SELECT_SNAPSHOT = "SELECT pg_current_snapshot()::text"

# Close the current WAL segment so everything written so far reaches the archive (archive_timeout
# would otherwise decide when); returns the segment's file name to wait for.
_SWITCH_WAL = "SELECT pg_walfile_name(pg_switch_wal())"


def _ts(epoch: int | None) -> datetime | None:
    return datetime.fromtimestamp(epoch, UTC) if epoch else None


def switch_wal_and_wait(target: Target, timeout: float = 120.0) -> float:
    """Switch WAL and wait until that segment is archived; returns the seconds it took."""
    started = time.monotonic()
    with target.connect(Role.admin, dbname="postgres", autocommit=True) as conn:
        segment = conn.execute(_SWITCH_WAL).fetchone()[0]  # type: ignore[index]
        while time.monotonic() - started < timeout:
            last = conn.execute(_SELECT_ARCHIVER).fetchone()[0]  # type: ignore[index]
            # Segment names sort in WAL order within a timeline.
            if last and last >= segment:
                return time.monotonic() - started
            time.sleep(0.2)
    raise BackupError(f"WAL segment {segment} was not archived within {timeout:.0f}s: check archive_command "
                      "(the pg_stat_archiver view) and the pgBackRest log")


def capture_manifest(target: Target, restore_point: str, attempts: int = 5) -> dict:
    """Table checksums from one snapshot, and a restore point that holds exactly those rows.

    The restore point is created right after the snapshot; if any transaction committed in between
    (a load running beside the backup), the pair is thrown away and taken again.
    """
    for attempt in range(1, attempts + 1):
        name = restore_point if attempt == 1 else f"{restore_point}-{attempt}"
        with target.connect(Role.backup) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            before = conn.execute(_SELECT_SNAPSHOT).fetchone()[0]  # type: ignore[index]
            with target.connect(Role.admin, autocommit=True) as admin:
                lsn = admin.execute(_CREATE_RESTORE_POINT, (name,)).fetchone()[0]  # type: ignore[index]
                after = admin.execute(_SELECT_SNAPSHOT).fetchone()[0]  # type: ignore[index]
                raced = admin.execute(_SQL.text("count_commits_between"),
                                      {"before": before, "after": after}).fetchone()[0]  # type: ignore[index]
            if raced:
                conn.rollback()
                time.sleep(0.2 * attempt)
                continue
            info = versions(conn)
            sums = table_checksums(conn)
            conn.rollback()
        return {**info, "database": target.dbname, "restore_point": name, "restore_point_lsn": lsn,
                "capture_attempts": attempt, "tables": {n: s.as_dict() for n, s in sums.items()}}
    raise BackupError(f"writes kept committing while the manifest was taken ({attempts} attempts): "
                      "run the backup when no load is running (the Dagster jobs share the loads' pool)")


def run_physical(target: Target, kind: str = "incr", *, force_full: bool = False, run_id: str | None = None,
                 log: Log = print) -> catalog.BackupRecord:
    paths = BackupPaths.from_settings(target.settings)
    rest = PgBackRest(paths)
    before = rest.info()
    if force_full or not any(b["type"] == "full" for b in before):
        if kind != "full":
            log("backup: no full backup in the repository (or --force-full): taking a full one")
        kind = "full"
    started = datetime.now(UTC)
    log(f"backup: pgbackrest {kind} backup of stanza '{paths.stanza}' ...")
    try:
        rest.backup(kind)
    except BackupError as exc:
        # A failed set never appears in pgBackRest's info: the previous ones stay listed and usable.
        catalog.record_backup(
            target, backup_id=f"failed-{started:%Y%m%dT%H%M%SZ}-{kind}", kind=kind, status="failed",
            started_at=started, finished_at=datetime.now(UTC), size_bytes=None, location=str(paths.repo),
            error=str(exc)[:2000], run_id=run_id,
        )
        raise
    known = {b["label"] for b in before}
    new = [b for b in rest.info() if b["label"] not in known]
    if not new:
        raise BackupError("pgbackrest reported success but no new backup set is listed")
    backup = new[-1]
    label = backup["label"]
    log(f"backup: {label} done; recording its restore point and table checksums")
    manifest = capture_manifest(target, f"stockula-{label}")
    lag = switch_wal_and_wait(target)
    manifest.update(label=label, lsn_start=backup["lsn"]["start"], lsn_stop=backup["lsn"]["stop"],
                    wal_archive_seconds=round(lag, 3), reference=backup.get("reference") or [])
    catalog.record_backup(
        target, backup_id=label, kind=backup["type"], status="complete", started_at=_ts(backup["timestamp"]["start"]),
        finished_at=_ts(backup["timestamp"]["stop"]), size_bytes=backup["info"]["size"],
        repo_bytes=backup["info"]["repository"]["delta"], prior_id=backup.get("prior"), location=str(paths.repo),
        restore_point=manifest["restore_point"], manifest=manifest, run_id=run_id,
    )
    expire_catalog(target, rest)
    record = catalog.get_backup(target, label)
    assert record is not None
    return record


def expire_catalog(target: Target, rest: PgBackRest | None = None) -> list[str]:
    """Mark sets pgBackRest's retention removed as expired in ops.backups."""
    rest = rest or PgBackRest(BackupPaths.from_settings(target.settings))
    present = {b["label"] for b in rest.info()}
    gone = [b["backup_id"] for b in catalog.list_backups(target)
            if b["kind"] != "logical" and b["status"] == "complete" and b["backup_id"] not in present]
    catalog.mark(target, gone, "expired")
    return gone


def chain_problem(info: list[dict], label: str) -> str | None:
    """Why ``label`` cannot be restored from the repository, or None when its whole chain is there."""
    labels = {b["label"]: b for b in info}
    if label not in labels:
        return f"backup set {label} is not in the repository (expired or never taken): see `stockula backup list`"
    missing = [ref for ref in labels[label].get("reference") or [] if ref not in labels]
    if labels[label].get("error"):
        return f"backup set {label} has page checksum errors: take a new one with `stockula backup run --force-full`"
    if missing:
        return (f"backup set {label} depends on {', '.join(missing)}, which the repository no longer holds: "
                "the chain is broken; take a new full backup with `stockula backup run --force-full`")
    return None


def archive_status(target: Target) -> dict[str, object]:
    with psycopg.connect(target.dsn(Role.monitor, "postgres")) as conn:
        row = conn.execute(_SELECT_ARCHIVER).fetchone()
    keys = ("last_archived_wal", "last_archived_time", "last_failed_wal", "last_failed_time", "failed_count")
    return dict(zip(keys, row or (None,) * 5, strict=True))
