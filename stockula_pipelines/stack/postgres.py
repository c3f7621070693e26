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

from .errors import StackError
from .layout import PG_BIN, RunAs, StackLayout, infra_dir
from .procs import is_alive, read_pid
from .render import render_template, shared_config, write_config
from .tuning import tune

POSTGRES = PG_BIN / "postgres"
SQL_DIR = Path(__file__).resolve().parent
# Fixed keywords per role; never user input, so composing them as SQL is safe.
ROLE_OPTIONS: dict[Role, str] = {
    Role.admin: "SUPERUSER CREATEDB CREATEROLE",
    Role.writer: "NOSUPERUSER",
    Role.analyst: "NOSUPERUSER",
    Role.backup: "NOSUPERUSER REPLICATION",
    Role.monitor: "NOSUPERUSER",
}
MEMBER_OF: dict[Role, tuple[str, ...]] = {Role.monitor: ("pg_monitor",)}


def _sql(name: str) -> str:
    return (SQL_DIR / name).read_text().strip()


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
    invoker = pwd.getpwuid(os.geteuid()).pw_name
    hba = render_template("pg_hba.conf.tmpl", superuser=run_as.name)
    ident = render_template("pg_ident.conf.tmpl", superuser=run_as.name, invoker=invoker)
    changed |= write_config(layout.pgdata / "pg_hba.conf", hba, run_as, 0o600)
    changed |= write_config(layout.pgdata / "pg_ident.conf", ident, run_as, 0o600)
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


def bootstrap(settings: Settings, layout: StackLayout, run_as: RunAs, passwords: dict[Role, str]) -> None:
    with superuser_connection(settings, layout, run_as) as conn:
        for role in Role:
            name = sql.Identifier(settings.user_for(role))
            exists = conn.execute(_sql("select_role_exists.sql"), (settings.user_for(role),)).fetchone()
            template = "alter_login_role.sql" if exists else "create_login_role.sql"
            # CREATE/ALTER ROLE take no bind parameters: the password is quoted client-side.
            conn.execute(sql.SQL(_sql(template)).format(
                role=name, options=sql.SQL(ROLE_OPTIONS[role]), password=sql.Literal(passwords[role]),
            ))
            for granted in MEMBER_OF.get(role, ()):
                conn.execute(sql.SQL(_sql("grant_role.sql")).format(granted=sql.Identifier(granted), role=name))
        owner = sql.Identifier(settings.admin_user)
        for dbname in (settings.db_name, settings.dagster_db_name):
            database = sql.Identifier(dbname)
            if conn.execute(_sql("select_database_exists.sql"), (dbname,)).fetchone():
                conn.execute(sql.SQL(_sql("alter_database_owner.sql")).format(database=database, owner=owner))
            else:
                conn.execute(sql.SQL(_sql("create_database.sql")).format(database=database, owner=owner))
    with superuser_connection(settings, layout, run_as, settings.db_name) as conn:
        for statement in _sql("create_extensions.sql").split(";"):
            if statement.strip():
                conn.execute(statement)


def probe(settings: Settings, passwords: dict[Role, str]) -> bool:
    """A SCRAM login as admin over TCP, exactly as clients will connect."""
    with psycopg.connect(host=settings.pg_host, port=settings.pg_port, user=settings.admin_user,
                         password=passwords[Role.admin], dbname=settings.db_name, connect_timeout=3) as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)
