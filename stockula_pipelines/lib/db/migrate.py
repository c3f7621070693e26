"""Forward-only, checksummed SQL migrations.

Files in ``sql/`` are named ``NNNN_name.sql``; a step that differs by TimescaleDB edition has two
files instead, ``NNNN_name.tsl.sql`` and ``NNNN_name.apache.sql``, and the runner applies the one the
server supports. Each applied step is recorded in ``ops.schema_migrations`` with the checksum of the
file it ran; changing an applied file is an error (write a new migration instead). A session advisory
lock serialises concurrent runners, and each step runs in its own transaction, so a failing step
leaves nothing behind and the next run resumes from it.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from stockula_pipelines.lib.db.capabilities import Capabilities, detect
from stockula_pipelines.lib.db.sqlfiles import read_sql_file

_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+?)(?:\.(?P<edition>tsl|apache))?\.sql$")
# Any 64-bit constant works; this one is "stockula" in ASCII.
ADVISORY_LOCK_KEY = 0x73746F636B756C61

_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS ops;
CREATE TABLE IF NOT EXISTS ops.schema_migrations (
  version     text PRIMARY KEY,
  name        text NOT NULL,
  filename    text NOT NULL,
  checksum    text NOT NULL,
  edition     text NOT NULL,
  applied_at  timestamptz NOT NULL DEFAULT now(),
  applied_by  text NOT NULL DEFAULT current_user,
  duration_ms double precision
);
"""


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    path: Path
    checksum: str

    @property
    def text(self) -> str:
        return read_sql_file(self.path)


@dataclass
class MigrateReport:
    edition: str
    applied: list[str] = field(default_factory=list)
    already_applied: list[str] = field(default_factory=list)
    memberships: list[str] = field(default_factory=list)


def discover(sql_dir: Path, edition: str) -> list[Migration]:
    """The migrations to run on a server of ``edition`` ('tsl' or 'apache'), in order."""
    if edition not in ("tsl", "apache"):
        raise MigrationError(f"TimescaleDB is not available on this server (edition {edition!r})")
    by_version: dict[str, dict[str | None, Path]] = {}
    for path in sorted(sql_dir.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path.name}: not a migration name (expected NNNN_name[.tsl|.apache].sql)")
        variants = by_version.setdefault(match["version"], {})
        variants[match["edition"]] = path
    migrations = []
    for version, variants in sorted(by_version.items()):
        if None in variants and len(variants) > 1:
            raise MigrationError(f"migration {version} has both a common file and edition variants")
        if None not in variants and set(variants) != {"tsl", "apache"}:
            raise MigrationError(f"migration {version} needs both a .tsl.sql and an .apache.sql variant")
        path = variants.get(None) or variants[edition]
        name = _NAME.match(path.name)["name"]  # type: ignore[index]
        checksum = hashlib.sha256(path.read_bytes()).hexdigest()
        migrations.append(Migration(version=version, name=name, path=path, checksum=checksum))
    if not migrations:
        raise MigrationError(f"no migrations found in {sql_dir}")
    return migrations


def migrate(
    admin_dsn: str,
    sql_dir: Path,
    *,
    writer_user: str | None = None,
    analyst_user: str | None = None,
    backup_user: str | None = None,
    progress: Callable[[str], None] = lambda _msg: None,
) -> MigrateReport:
    """Apply every pending migration as the admin role; re-running is a no-op."""
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))
        try:
            caps = detect(conn)
            if caps.timescaledb_version is None and caps.timescaledb_available is None:
                raise MigrationError(
                    "the TimescaleDB extension is not installed on this server "
                    "(run `make setup` or use the compose stack's TimescaleDB image)"
                )
            preload = conn.execute("SELECT current_setting('shared_preload_libraries')").fetchone()[0]  # type: ignore[index]
            if "timescaledb" not in preload:
                raise MigrationError("timescaledb is not in shared_preload_libraries on this server")
            if caps.timescaledb_version is None:
                # The edition is only known once the extension is loaded into this database.
                conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
                caps = detect(conn)
            report = MigrateReport(edition=caps.edition)
            conn.execute(_BOOTSTRAP)
            applied = {
                row[0]: (row[1], row[2])
                for row in conn.execute("SELECT version, checksum, filename FROM ops.schema_migrations")
            }
            for migration in discover(sql_dir, caps.edition):
                if migration.version in applied:
                    checksum, filename = applied[migration.version]
                    if checksum != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.version} ({filename}) was changed after it was applied; "
                            "migrations are forward-only: add a new file instead"
                        )
                    report.already_applied.append(migration.path.name)
                    continue
                progress(f"applying {migration.path.name}")
                _apply(conn, migration, caps)
                report.applied.append(migration.path.name)
            report.memberships = _grant_memberships(conn, writer_user, analyst_user, backup_user)
            return report
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))


def _apply(conn: psycopg.Connection, migration: Migration, caps: Capabilities) -> None:
    with conn.transaction():
        started = conn.execute("SELECT clock_timestamp()").fetchone()[0]  # type: ignore[index]
        try:
            conn.execute(migration.text)  # a whole file: no parameters, several statements
        except psycopg.Error as exc:
            raise MigrationError(f"{migration.path.name} failed: {exc}") from exc
        conn.execute("RESET ROLE")  # files may SET LOCAL ROLE stockula_owner; the record is the admin's
        conn.execute(
            """
            INSERT INTO ops.schema_migrations (version, name, filename, checksum, edition, duration_ms)
            VALUES (%s, %s, %s, %s, %s, extract(epoch FROM clock_timestamp() - %s) * 1000)
            """,
            (migration.version, migration.name, migration.path.name, migration.checksum, caps.edition, started),
        )


def _role_exists(conn: psycopg.Connection, role: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None


def _grant_memberships(
    conn: psycopg.Connection, writer: str | None, analyst: str | None, backup: str | None
) -> list[str]:
    """Make the login roles members of the group roles the migrations grant to."""
    done = []
    dbname = conn.info.dbname
    plan = [
        (writer, "stockula_write", "market, aggregates, analytics, curated, quality, ops, staging, public"),
        (analyst, "stockula_read", "market, aggregates, analytics, curated, quality, public"),
        (backup, "pg_read_all_data", None),
    ]
    for login, group, search_path in plan:
        if not login or not _role_exists(conn, login):
            continue
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(login)))
        if search_path:
            conn.execute(
                sql.SQL("ALTER ROLE {} IN DATABASE {} SET search_path TO {}").format(
                    sql.Identifier(login),
                    sql.Identifier(dbname),
                    sql.SQL(", ").join(sql.Identifier(s.strip()) for s in search_path.split(",")),
                )
            )
        done.append(f"{login} -> {group}")
    return done
