"""The verification drill: restore a backup where it can do no harm, prove it holds what its manifest
says, check every B-tree index with amcheck, record the verdict in ops.backup_verifications, tear down.

Physical sets are first checked file by file (``pgbackrest verify``), then restored into a scratch
cluster to their restore point; logical dumps are checked against their sha256, then restored into a
scratch database on the live server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import psycopg
from psycopg import sql

from stockula_pipelines.lib.db.sqlfiles import SqlFiles
from stockula_pipelines.settings import Role

from . import catalog
from .catalog import Target
from .errors import BackupError, ConnectionLost, VerificationFailed
from .pgbackrest import BackupPaths, PgBackRest
from .restore import DROP_DATABASE, restore_logical, restore_physical

_SQL = SqlFiles(__file__)

Log = Callable[[str], None]


_CHECK_INDEX = "SELECT bt_index_check(%s::regclass, true)"


@dataclass
class DrillResult:
    backup_id: str
    kind: str
    passed: bool
    seconds: float
    restore_seconds: float = 0.0
    tables_checked: int = 0
    mismatches: list[dict] = field(default_factory=list)
    amcheck_indexes: int = 0
    amcheck_errors: list[str] = field(default_factory=list)
    problem: str | None = None
    verification_id: int | None = None

    def as_metadata(self) -> dict[str, object]:
        data = asdict(self)
        data["amcheck_errors"] = len(self.amcheck_errors)
        data["mismatches"] = len(self.mismatches)
        return data


def amcheck(conn: psycopg.Connection) -> tuple[int, list[str]]:
    """bt_index_check on every B-tree index; (indexes checked, errors)."""
    conn.autocommit = True
    conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
    errors: list[str] = []
    indexes = conn.execute(_SQL.text("select_btree_indexes")).fetchall()
    for name, oid in indexes:
        try:
            conn.execute(_CHECK_INDEX, (oid,))
        except psycopg.Error as exc:
            errors.append(f"{name}: {exc}".strip())
    return len(indexes), errors


def latest_backup_id(target: Target) -> str:
    for row in catalog.list_backups(target):
        if row["status"] == "complete":
            return str(row["backup_id"])
    raise BackupError("there is no complete backup to verify: take one with `stockula backup run`")


def _drop_database(target: Target, name: str) -> None:
    with target.connect(Role.admin, dbname="postgres", autocommit=True) as conn:
        conn.execute(sql.SQL(DROP_DATABASE).format(database=sql.Identifier(name)))


def run_drill(target: Target, backup_id: str | None = None, *, run_id: str | None = None,
              log: Log = print) -> DrillResult:
    """Verify one backup (default: the newest complete one); raises VerificationFailed when it fails."""
    backup_id = backup_id or latest_backup_id(target)
    record = catalog.get_backup(target, backup_id)
    kind = record.kind if record else ("logical" if backup_id.startswith("logical-") else "incr")
    started = time.monotonic()
    result = DrillResult(backup_id, kind, passed=False, seconds=0.0)
    try:
        if kind == "logical":
            _drill_logical(target, backup_id, result, log)
        else:
            _drill_physical(target, backup_id, result, log)
        result.passed = not result.mismatches and not result.amcheck_errors and result.tables_checked > 0
        if not result.passed and not result.problem:
            result.problem = (f"{len(result.mismatches)} table(s) differ from the manifest, "
                              f"{len(result.amcheck_errors)} index error(s)")
    except ConnectionLost:
        # Interrupted, not a verdict: recording a failed drill would raise a false alarm and take the
        # retention protection of the last verified backup away. The caller (or the op's retry) runs it again.
        log(f"verify: {backup_id} INTERRUPTED after {time.monotonic() - started:.1f}s; nothing recorded")
        raise
    except BackupError as exc:
        result.problem = str(exc)
    result.seconds = time.monotonic() - started
    result.verification_id = catalog.record_verification(
        target, backup_id=backup_id, method="drill", passed=result.passed, seconds=result.seconds,
        tables_checked=result.tables_checked, mismatches=result.mismatches,
        amcheck_indexes=result.amcheck_indexes, amcheck_errors=len(result.amcheck_errors),
        details={"kind": kind, "restore_seconds": result.restore_seconds, "problem": result.problem,
                 "amcheck": result.amcheck_errors[:20]}, run_id=run_id,
    )
    verdict = "PASSED" if result.passed else "FAILED"
    log(f"verify: {backup_id} {verdict} in {result.seconds:.1f}s ({result.tables_checked} tables, "
        f"{result.amcheck_indexes} indexes checked)" + (f": {result.problem}" if result.problem else ""))
    if not result.passed:
        raise VerificationFailed(f"backup {backup_id} failed verification: {result.problem}")
    return result


def _drill_physical(target: Target, backup_id: str, result: DrillResult, log: Log) -> None:
    ok, report = PgBackRest(BackupPaths.from_settings(target.settings)).verify(backup_id)
    if not ok:
        raise VerificationFailed(f"pgbackrest verify found damaged files in the repository:\n{report}")
    restored = restore_physical(target, backup_id, log=log)
    assert restored.cluster is not None
    try:
        result.restore_seconds = restored.seconds
        result.tables_checked = len(restored.tables)
        result.mismatches = restored.mismatches
        record = catalog.get_backup(target, backup_id)
        if record is None or not record.manifest.get("tables"):
            raise VerificationFailed(f"backup {backup_id} has no manifest in ops.backups to compare with")
        with restored.cluster.connect(target.dbname) as conn:
            result.amcheck_indexes, result.amcheck_errors = amcheck(conn)
    finally:
        restored.cluster.destroy()


def _drill_logical(target: Target, backup_id: str, result: DrillResult, log: Log) -> None:
    scratch_db = f"{target.dbname}_drill"
    try:  # the scratch database goes even when the restore into it fails part-way
        restored = restore_logical(target, backup_id, into=scratch_db, drop_existing=True, log=log)
        result.restore_seconds = restored.seconds
        result.tables_checked = len(restored.tables)
        result.mismatches = restored.mismatches
        with target.connect(Role.admin, dbname=scratch_db) as conn:
            result.amcheck_indexes, result.amcheck_errors = amcheck(conn)
    finally:
        _drop_database(target, scratch_db)
