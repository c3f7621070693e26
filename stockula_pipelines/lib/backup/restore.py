"""Restores, never into the live data: a physical set into a scratch cluster (to a point in time), a
logical dump into a new database (with timescaledb_pre_restore()/post_restore(), one pg_restore job:
parallel restore is unsafe for TimescaleDB's catalog). Unsafe restores are refused with a remedy."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from stockula_pipelines.settings import Role
from stockula_pipelines.stack.layout import PG_BIN

from . import catalog
from .catalog import Target
from .checksums import available_timescaledb, compare, table_checksums
from .errors import BackupError, ConnectionLost, RestoreRefused, lost_connection
from .logical import LogicalFiles, conn_args, pg_env, verify_file
from .pgbackrest import BackupPaths, PgBackRest
from .physical import chain_problem
from .scratch import ScratchCluster

Log = Callable[[str], None]


DROP_DATABASE = "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
_CREATE_DATABASE = "CREATE DATABASE {database} OWNER {owner}"

_CREATE_TIMESCALEDB = "CREATE EXTENSION IF NOT EXISTS timescaledb VERSION {version}"

_SELECT_DATABASE_EXISTS = "SELECT 1 FROM pg_database WHERE datname = %s"


@dataclass
class RestoreResult:
    backup_id: str
    kind: str
    target: str  # database name, or "port N" for a scratch cluster
    seconds: float = 0.0
    tables: dict[str, object] = field(default_factory=dict)
    mismatches: list[dict] = field(default_factory=list)
    cluster: ScratchCluster | None = None
    verified_only: bool = False


def require_timescaledb(target: Target, wanted: str | None) -> None:
    """Refuse a backup whose TimescaleDB version this server cannot create."""
    if not wanted:
        return
    with target.connect(Role.admin, dbname="postgres") as conn:
        available = available_timescaledb(conn)
    if wanted not in available:
        raise RestoreRefused(
            f"the backup was taken with TimescaleDB {wanted}, but this server offers {', '.join(available) or 'none'}: "
            f"install TimescaleDB {wanted} (same edition) to restore it, then `ALTER EXTENSION timescaledb UPDATE` "
            "to move to the newer version"
        )


def find_logical(target: Target, backup_id: str) -> LogicalFiles:
    record = catalog.get_backup(target, backup_id)
    if record is not None and record.location:
        path = Path(record.location)
        return LogicalFiles(path, path.with_name(f"{backup_id}.manifest.json"))
    return LogicalFiles.of(BackupPaths.from_settings(target.settings).logical, backup_id)


def restore_logical(target: Target, backup_id: str, *, into: str | None = None, drop_existing: bool = False,
                    verify_only: bool = False, log: Log = print) -> RestoreResult:
    files = find_logical(target, backup_id)
    manifest = verify_file(files)
    require_timescaledb(target, manifest.get("timescaledb_version"))
    into = into or f"{manifest['database']}_restore"
    protected = {target.dbname, target.settings.db_name, target.settings.dagster_db_name, "postgres",
                 "template0", "template1"}
    if into in protected:
        raise RestoreRefused(f"refusing to restore over {into}, a live database: restore into a new name "
                             "(--into), check it, then swap names with ALTER DATABASE ... RENAME TO")
    result = RestoreResult(backup_id, "logical", into, verified_only=verify_only)
    admin_db = target.connect(Role.admin, dbname="postgres", autocommit=True)
    with admin_db as conn:
        exists = conn.execute(_SELECT_DATABASE_EXISTS, (into,)).fetchone() is not None
        if exists and not drop_existing:
            raise RestoreRefused(f"database {into} already exists: pass --drop-existing to replace it, "
                                 "or --into another name")
        if verify_only:
            log(f"restore: {backup_id} verified (sha256, TimescaleDB {manifest.get('timescaledb_version')}); "
                f"would restore into {into}")
            return result
        database = sql.Identifier(into)
        if exists:
            log(f"restore: dropping existing database {into}")
            conn.execute(sql.SQL(DROP_DATABASE).format(database=database))
        conn.execute(sql.SQL(_CREATE_DATABASE).format(
            database=database, owner=sql.Identifier(target.settings.admin_user)))
    started = time.monotonic()
    with target.connect(Role.admin, dbname=into, autocommit=True) as conn:
        conn.execute(sql.SQL(_CREATE_TIMESCALEDB).format(
            version=sql.Literal(manifest["timescaledb_version"])))
        conn.execute("SELECT timescaledb_pre_restore()")
    log(f"restore: pg_restore {files.dump.name} into {into} (one job)")
    proc = subprocess.run(  # noqa: S603 - fixed binary, arguments built here
        [str(PG_BIN / "pg_restore"), "--exit-on-error", *conn_args(target, Role.admin, into), str(files.dump)],
        env=pg_env(target, Role.admin), capture_output=True, text=True, timeout=6 * 3600,
    )
    with target.connect(Role.admin, dbname=into, autocommit=True) as conn:
        conn.execute("SELECT timescaledb_post_restore()")
    if proc.returncode != 0:
        error = ConnectionLost if lost_connection(proc.stderr) else BackupError
        raise error(f"pg_restore into {into} failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}; "
                    f"the partial database {into} was left for inspection (drop it with --drop-existing)")
    with target.connect(Role.admin, dbname=into) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        sums = table_checksums(conn)
    result.seconds = time.monotonic() - started
    result.tables = {name: s.as_dict() for name, s in sums.items()}
    result.mismatches = compare(manifest["tables"], sums)
    return result


def restore_physical(target: Target, backup_id: str, *, to: str | None = None, port: int | None = None,
                     verify_only: bool = False, log: Log = print) -> RestoreResult:
    """Restore a set into a scratch cluster, to ``to`` or else to the set's restore point.

    The cluster is left running (``result.cluster``) unless ``verify_only``; the caller tears it down.
    """
    rest = PgBackRest(BackupPaths.from_settings(target.settings))
    problem = chain_problem(rest.info(), backup_id)
    if problem:
        raise RestoreRefused(problem)
    record = catalog.get_backup(target, backup_id)
    manifest = record.manifest if record else {}
    require_timescaledb(target, manifest.get("timescaledb_version"))
    cluster = ScratchCluster.create(target.settings, port)
    result = RestoreResult(backup_id, "physical", f"port {cluster.port}", verified_only=verify_only)
    started = time.monotonic()
    try:
        log(f"restore: pgbackrest restore {backup_id} into {cluster.pgdata} "
            f"(target: {to or (record.restore_point if record and record.restore_point else 'end of backup')})")
        rest.restore(backup_id, cluster.pgdata, target_time=to,
                     target_name=None if to else (record.restore_point if record else None))
        cluster.configure()
        cluster.start()
        result.seconds = time.monotonic() - started
        with cluster.connect(manifest.get("database") or target.dbname) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            sums = table_checksums(conn)
        result.tables = {name: s.as_dict() for name, s in sums.items()}
        if manifest.get("tables") and not to:
            result.mismatches = compare(manifest["tables"], sums)
        log(f"restore: {backup_id} restored and promoted on port {cluster.port} in {result.seconds:.1f}s")
    except Exception:
        cluster.destroy()
        raise
    if verify_only:
        cluster.destroy()
    else:
        result.cluster = cluster
    return result
