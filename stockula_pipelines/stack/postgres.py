"""PostgreSQL 15 + TimescaleDB: initdb, configuration, start/stop and the idempotent bootstrap of
login roles, databases and extensions. Schema, group roles and grants belong to `stockula db migrate`."""

from __future__ import annotations

import os
import pwd
import subprocess
from collections.abc import Callable
from pathlib import Path

import psycopg
from psycopg import sql

from stockula_pipelines.settings import Role, Settings

from . import scram
from .errors import StackError
from .layout import PG_BIN, RunAs, StackLayout, infra_dir
from .procs import is_alive, read_pid
from .render import render_template, shared_config, write_config
from .tuning import tune

POSTGRES = PG_BIN / "postgres"
# Fixed keywords per role; never user input, so composing them as SQL is safe.
ROLE_OPTIONS: dict[Role, str] = {
    Role.admin: "SUPERUSER CREATEDB CREATEROLE",
    Role.writer: "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION",
    Role.analyst: "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION",
    Role.backup: "NOSUPERUSER NOCREATEDB NOCREATEROLE REPLICATION",
    Role.monitor: "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION",
    Role.dagster: "NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION",
    # The standby's base backup and WAL stream; pg_hba.conf lets it open replication connections only.
    Role.replicator: "NOSUPERUSER NOCREATEDB NOCREATEROLE REPLICATION",
}
MEMBER_OF: dict[Role, tuple[str, ...]] = {Role.monitor: ("pg_monitor",)}
# Which login owns each database: the market data the admin (migrations), Dagster's storage its own role.
DATABASE_OWNER: dict[str, Role] = {"db_name": Role.admin, "dagster_db_name": Role.dagster}

# The bootstrap's statements. None carries a secret: a password travels only as a SCRAM verifier made
# on this side (stack/scram.py), and only when the stored one does not already match.
_ROLE_PASSWORD = "SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = %s"
_CREATE_ROLE = "CREATE ROLE {role} WITH LOGIN {options}"
_ALTER_ROLE = "ALTER ROLE {role} WITH LOGIN {options}"
_SET_VERIFIER = "ALTER ROLE {role} PASSWORD {verifier}"
_GRANT_ROLE = "GRANT {granted} TO {role}"
_DATABASE_EXISTS = "SELECT 1 FROM pg_catalog.pg_database WHERE datname = %s"
_CREATE_DATABASE = "CREATE DATABASE {database} WITH OWNER {owner} ENCODING 'UTF8' TEMPLATE template0"
_DATABASE_OWNER = "ALTER DATABASE {database} OWNER TO {owner}"
_REVOKE_CONNECT = "REVOKE CONNECT, TEMPORARY ON DATABASE {database} FROM PUBLIC"
_EXTENSIONS = ("CREATE EXTENSION IF NOT EXISTS timescaledb", "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
# Objects of Dagster's database made by another role (Dagster's storage once logged in as the admin).
_FOREIGN_OBJECTS = """
SELECT c.relname, CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' ELSE 'TABLE' END
FROM pg_catalog.pg_class AS c JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'S', 'v') AND c.relowner <> %s::regrole
  AND NOT (c.relkind = 'S' AND EXISTS (SELECT 1 FROM pg_catalog.pg_depend AS d  -- owned by a column
           WHERE d.objid = c.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')))
"""
_ALTER_OWNER = "ALTER {kind} {name} OWNER TO {owner}"
# Statements recorded before passwords became verifiers kept them verbatim (pg_stat_statements saves
# its entries across restarts): drop any entry that sets a password from a literal.
_SCRUB_STATEMENTS = """
SELECT count(pg_stat_statements_reset(userid, dbid, queryid))
FROM pg_stat_statements WHERE query ~* %s
"""
PASSWORD_LITERAL = r"\mpassword\M\s*'"


def pid(layout: StackLayout) -> int | None:
    return read_pid(layout.pgdata / "postmaster.pid")


def running(layout: StackLayout) -> bool:
    return is_alive(pid(layout), POSTGRES)


def log_file(layout: StackLayout) -> Path:
    return layout.log / "postgresql.log"


def ensure_timescaledb(log: Callable[[str], None]) -> None:
    pg_config = str(PG_BIN / "pg_config")
    pkglib = subprocess.run([pg_config, "--pkglibdir"], capture_output=True, text=True, check=True).stdout.strip()
    share = subprocess.run([pg_config, "--sharedir"], capture_output=True, text=True, check=True).stdout.strip()
    if (Path(pkglib) / "timescaledb.so").exists() and (Path(share) / "extension/timescaledb.control").exists():
        return
    script = infra_dir() / "local" / "install_timescaledb.sh"
    log(f"postgres: TimescaleDB extension missing, running {script}")
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True)  # noqa: S603, S607
    if proc.returncode != 0:
        raise StackError(f"{script} failed (run it as root to see why):\n{proc.stdout}{proc.stderr}")


def init_cluster(layout: StackLayout, run_as: RunAs, log: Callable[[str], None]) -> None:
    if (layout.pgdata / "PG_VERSION").exists():
        return
    log(f"postgres: initdb {layout.pgdata}")
    layout.pgdata.mkdir(mode=0o700, exist_ok=True)
    layout.chown_to(layout.pgdata, run_as, 0o700)
    run_as.run([
        str(PG_BIN / "initdb"), "-D", str(layout.pgdata), "--username", run_as.name,
        "--encoding", "UTF8", "--locale", "C.UTF-8", "--auth-local", "peer",
        "--auth-host", "scram-sha-256", "--data-checksums",
    ])
    conf = layout.pgdata / "postgresql.conf"
    # Everything of ours lives in stockula.conf, re-rendered on each start; initdb's file stays stock.
    conf.write_text(conf.read_text() + "\ninclude 'stockula.conf'\n")


def write_configs(settings: Settings, layout: StackLayout, run_as: RunAs) -> bool:
    """Render stockula.conf, pg_hba.conf and pg_ident.conf; True when any changed."""
    from stockula_pipelines.lib.backup.pgbackrest import BackupPaths  # lib/backup imports this package

    tuning = tune(settings.tune_memory, settings.tune_num_cpus, settings.tune_max_conns)
    common = layout.pgdata / "stockula.common.conf"
    changed = write_config(common, shared_config("postgresql.common.conf"), run_as, 0o600)
    local = render_template(
        "postgresql.local.conf.tmpl", common_conf=common, port=settings.pg_port, socket_dir=layout.run,
        max_connections=tuning.max_connections, tuning=tuning.conf_lines(),
        archive_command=BackupPaths.from_settings(settings).archive_command().replace("'", "''"),
    )
    changed |= write_config(layout.pgdata / "stockula.conf", local, run_as, 0o600)
    return write_access_files(settings, layout.pgdata, run_as) or changed


def write_access_files(settings: Settings, pgdata: Path, run_as: RunAs) -> bool:
    """pg_hba.conf and pg_ident.conf of a cluster of the stack (the primary, or the standby's copy)."""
    invoker = pwd.getpwuid(os.geteuid()).pw_name
    hba = render_template("pg_hba.conf.tmpl", superuser=run_as.name, replicator=settings.replicator_user)
    ident = render_template("pg_ident.conf.tmpl", superuser=run_as.name, invoker=invoker)
    changed = write_config(pgdata / "pg_hba.conf", hba, run_as, 0o600)
    changed |= write_config(pgdata / "pg_ident.conf", ident, run_as, 0o600)
    return changed


def start(layout: StackLayout, run_as: RunAs) -> None:
    proc = run_as.run([
        str(PG_BIN / "pg_ctl"), "-D", str(layout.pgdata), "-l", str(log_file(layout)),
        "-w", "-t", "90", "-s", "start",
    ], check=False, timeout=120)
    if proc.returncode != 0:
        tail = "\n".join(log_file(layout).read_text(errors="replace").splitlines()[-15:])
        raise StackError(f"PostgreSQL failed to start (see {log_file(layout)}):\n{tail}")


def reload(layout: StackLayout, run_as: RunAs) -> None:
    run_as.run([str(PG_BIN / "pg_ctl"), "-D", str(layout.pgdata), "-s", "reload"])


def stop(layout: StackLayout, run_as: RunAs) -> None:
    if not running(layout):
        return
    run_as.run([str(PG_BIN / "pg_ctl"), "-D", str(layout.pgdata), "-m", "fast", "-w", "-t", "60", "-s", "stop"],
               timeout=90)


def superuser_connection(settings: Settings, layout: StackLayout, run_as: RunAs,
                         dbname: str = "postgres") -> psycopg.Connection:
    """Over the unix socket, peer-authenticated through the ident map: no password exists for it."""
    return psycopg.connect(host=str(layout.run), port=settings.pg_port, user=run_as.name,
                           dbname=dbname, autocommit=True, connect_timeout=10)


def _ensure_role(conn: psycopg.Connection, settings: Settings, role: Role, password: str) -> None:
    user = settings.user_for(role)
    name = sql.Identifier(user)
    row = conn.execute(_ROLE_PASSWORD, (user,)).fetchone()
    template = _ALTER_ROLE if row else _CREATE_ROLE
    conn.execute(sql.SQL(template).format(role=name, options=sql.SQL(ROLE_OPTIONS[role])))
    if row is None or not scram.matches(row[0], password):
        verifier = scram.make_verifier(conn, user, password)
        conn.execute(sql.SQL(_SET_VERIFIER).format(role=name, verifier=sql.Literal(verifier)))
    for granted in MEMBER_OF.get(role, ()):
        conn.execute(sql.SQL(_GRANT_ROLE).format(granted=sql.Identifier(granted), role=name))


def _ensure_database(conn: psycopg.Connection, dbname: str, owner: str) -> None:
    database, owner_id = sql.Identifier(dbname), sql.Identifier(owner)
    if conn.execute(_DATABASE_EXISTS, (dbname,)).fetchone():
        conn.execute(sql.SQL(_DATABASE_OWNER).format(database=database, owner=owner_id))
    else:
        conn.execute(sql.SQL(_CREATE_DATABASE).format(database=database, owner=owner_id))


def _hand_over_dagster_storage(settings: Settings, layout: StackLayout, run_as: RunAs) -> None:
    """Dagster's database is its role's alone: nobody else may connect, and what an earlier storage
    login created there now belongs to the Dagster role."""
    owner = settings.user_for(Role.dagster)
    with superuser_connection(settings, layout, run_as) as conn:
        conn.execute(sql.SQL(_REVOKE_CONNECT).format(database=sql.Identifier(settings.dagster_db_name)))
    with superuser_connection(settings, layout, run_as, settings.dagster_db_name) as conn:
        for relname, kind in conn.execute(_FOREIGN_OBJECTS, (owner,)).fetchall():
            conn.execute(sql.SQL(_ALTER_OWNER).format(kind=sql.SQL(kind), name=sql.Identifier("public", relname),
                                                      owner=sql.Identifier(owner)))


def bootstrap(settings: Settings, layout: StackLayout, run_as: RunAs, passwords: dict[Role, str]) -> None:
    with superuser_connection(settings, layout, run_as) as conn:
        for role in Role:
            _ensure_role(conn, settings, role, passwords[role])
        for field, role in DATABASE_OWNER.items():
            _ensure_database(conn, getattr(settings, field), settings.user_for(role))
    _hand_over_dagster_storage(settings, layout, run_as)
    with superuser_connection(settings, layout, run_as, settings.db_name) as conn:
        for statement in _EXTENSIONS:
            conn.execute(statement)
        conn.execute(_SCRUB_STATEMENTS, (PASSWORD_LITERAL,))


def probe(settings: Settings, passwords: dict[Role, str]) -> bool:
    """A SCRAM login as admin over TCP, exactly as clients will connect."""
    with psycopg.connect(host=settings.pg_host, port=settings.pg_port, user=settings.admin_user,
                         password=passwords[Role.admin], dbname=settings.db_name, connect_timeout=3) as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)
