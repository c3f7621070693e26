"""The backup catalogue in ``ops.backups`` / ``ops.backup_verifications``, written as the writer role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from stockula_pipelines.lib.db.sqlfiles import SqlFiles
from stockula_pipelines.settings import Role, Settings

_SQL = SqlFiles(__file__)


# Age of the newest good backup and of the newest passed drill (NULL when there is none).
_SELECT_LAST_SUCCESS = """
SELECT (SELECT max(finished_at) FROM ops.backups WHERE status = 'complete') AS last_backup,
       (SELECT max(verified_at) FROM ops.backup_verifications WHERE method = 'drill' AND passed) AS last_drill,
       now() AS checked_at
"""

_UPDATE_BACKUP_STATUS = "UPDATE ops.backups SET status = %(status)s WHERE backup_id = ANY(%(backup_ids)s) AND status = 'complete'"


@dataclass(frozen=True)
class Target:
    """The database a backup describes, and how to reach it as each role (always straight to PostgreSQL)."""

    settings: Settings
    dbname: str

    @classmethod
    def default(cls, settings: Settings) -> Target:
        return cls(settings, settings.db_name)

    def dsn(self, role: Role = Role.writer, dbname: str | None = None) -> str:
        return self.settings.dsn(role, direct=True, dbname=dbname or self.dbname)

    def connect(self, role: Role = Role.writer, dbname: str | None = None, **kwargs: Any) -> psycopg.Connection:
        kwargs.setdefault("prepare_threshold", None)
        return psycopg.connect(self.dsn(role, dbname), connect_timeout=10, **kwargs)


@dataclass(frozen=True)
class BackupRecord:
    backup_id: str
    kind: str
    status: str
    database_name: str
    started_at: datetime
    finished_at: datetime
    size_bytes: int | None
    repo_bytes: int | None
    prior_id: str | None
    location: str | None
    restore_point: str | None
    manifest: dict

    @property
    def physical(self) -> bool:
        return self.kind != "logical"


def record_backup(target: Target, **values: Any) -> None:
    values.setdefault("repo_bytes", None)
    values.setdefault("prior_id", None)
    values.setdefault("restore_point", None)
    values.setdefault("error", None)
    values.setdefault("run_id", None)
    values["manifest"] = Jsonb(values.get("manifest") or {})
    with target.connect() as conn:
        conn.execute(_SQL.text("insert_backup"), {"database_name": target.dbname, **values})


def record_verification(target: Target, **values: Any) -> int:
    values.setdefault("run_id", None)
    values["mismatches"] = Jsonb(values.get("mismatches") or [])
    values["details"] = Jsonb(values.get("details") or {})
    with target.connect() as conn:
        return int(conn.execute(_SQL.text("insert_verification"), values).fetchone()[0])  # type: ignore[index]


def get_backup(target: Target, backup_id: str) -> BackupRecord | None:
    with target.connect() as conn:
        row = conn.execute(_SQL.text("select_backup"), (backup_id,)).fetchone()
    return BackupRecord(*row) if row else None


def list_backups(target: Target) -> list[dict[str, Any]]:
    with target.connect() as conn:
        cur = conn.execute(_SQL.text("select_backups"))
        names = [c.name for c in cur.description or []]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def last_verified(target: Target, kinds: list[str]) -> str | None:
    with target.connect() as conn:
        row = conn.execute(_SQL.text("select_last_verified"), {"kinds": kinds}).fetchone()
    return row[0] if row else None


def mark(target: Target, backup_ids: list[str], status: str) -> None:
    if backup_ids:
        with target.connect() as conn:
            conn.execute(_UPDATE_BACKUP_STATUS, {"status": status, "backup_ids": backup_ids})


def last_success(target: Target) -> tuple[datetime | None, datetime | None, datetime]:
    with target.connect() as conn:
        return conn.execute(_SELECT_LAST_SUCCESS).fetchone()  # type: ignore[return-value]
