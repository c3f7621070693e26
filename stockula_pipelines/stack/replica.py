"""The read replica of the local stack: a streaming hot standby of the primary (docs/replica.md).

Optional (``STOCKULA_REPLICA=true`` or ``stockula stack up --replica``). The standby is cloned once with
``pg_basebackup`` as the replication role, which can open replication connections and nothing else, and
then streams WAL through a physical replication slot of its own on the primary. It answers read-only
queries on ``STOCKULA_REPLICA_PORT``. Its password sits in a passfile (mode 0600) that the standby's
``primary_conninfo`` names, so no setting, command line or log line carries it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import make_conninfo

from stockula_pipelines.settings import Role, Settings

from . import postgres
from .errors import PortInUseError, StackError
from .layout import PG_BIN, RunAs, StackLayout
from .procs import is_alive, port_is_free, read_pid, wait_for
from .render import render_template, shared_config, write_config
from .tuning import tune

Log = Callable[[str], None]
NAME = "replica"
SLOT = "stockula_replica"
APPLICATION_NAME = "stockula_replica"  # how the primary's pg_stat_replication (and the metrics) name it
BASEBACKUP_TIMEOUT = 6 * 3600.0
READY_TIMEOUT = 90.0

_SLOT_STATE = "SELECT active FROM pg_catalog.pg_replication_slots WHERE slot_name = %s"
_CREATE_SLOT = "SELECT pg_catalog.pg_create_physical_replication_slot(%s, true)"
_DROP_SLOT = "SELECT pg_catalog.pg_drop_replication_slot(%s)"
_STANDBY_STATE = "SELECT pg_catalog.pg_is_in_recovery(), (SELECT status FROM pg_catalog.pg_stat_wal_receiver)"


def data_dir(layout: StackLayout) -> Path:
    return layout.root / "replica"


def passfile(layout: StackLayout) -> Path:
    return layout.conf / "replica.pgpass"


def log_file(layout: StackLayout) -> Path:
    return layout.log / "replica.log"


def pid(layout: StackLayout) -> int | None:
    return read_pid(data_dir(layout) / "postmaster.pid")


def running(layout: StackLayout) -> bool:
    return is_alive(pid(layout), postgres.POSTGRES)


def cloned(layout: StackLayout) -> bool:
    return (data_dir(layout) / "PG_VERSION").exists() and (data_dir(layout) / "standby.signal").exists()


def wanted(settings: Settings, layout: StackLayout) -> bool:
    """Whether `stack up` and `stack status` deal with the standby: enabled, or running anyway."""
    return settings.replica or running(layout)


def check_port(settings: Settings, layout: StackLayout) -> None:
    if not running(layout) and not port_is_free(settings.replica_port):
        raise PortInUseError(NAME, settings.replica_port, "STOCKULA_REPLICA_PORT")


def _pgpass_field(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def _write_passfile(settings: Settings, layout: StackLayout, run_as: RunAs, password: str) -> bool:
    fields = [settings.pg_host, str(settings.pg_port), "*", settings.replicator_user, password]
    return write_config(passfile(layout), ":".join(map(_pgpass_field, fields)) + "\n", run_as, 0o600)


def primary_conninfo(settings: Settings, layout: StackLayout) -> str:
    """The standby's connection to the primary: names the passfile, never the password."""
    return make_conninfo(host=settings.pg_host, port=settings.pg_port, user=settings.replicator_user,
                         passfile=str(passfile(layout)), application_name=APPLICATION_NAME,
                         sslmode="disable", connect_timeout=10)


def _slot_active(settings: Settings, layout: StackLayout, run_as: RunAs) -> bool | None:
    """None when the slot does not exist."""
    with postgres.superuser_connection(settings, layout, run_as) as conn:
        row = conn.execute(_SLOT_STATE, (SLOT,)).fetchone()
    return None if row is None else bool(row[0])


def _create_slot(settings: Settings, layout: StackLayout, run_as: RunAs) -> None:
    # Reserved at once: the primary keeps every WAL segment from here until the standby has it.
    with postgres.superuser_connection(settings, layout, run_as) as conn:
        conn.execute(_CREATE_SLOT, (SLOT,))


def _drop_slot(settings: Settings, layout: StackLayout, run_as: RunAs, log: Log) -> None:
    deadline = time.monotonic() + 30
    while (state := _slot_active(settings, layout, run_as)) is not None:
        if not state:
            with postgres.superuser_connection(settings, layout, run_as) as conn:
                conn.execute(_DROP_SLOT, (SLOT,))
            log(f"{NAME}: dropped the replication slot '{SLOT}' on the primary")
            return
        if time.monotonic() > deadline:
            raise StackError(f"replication slot '{SLOT}' is still in use on the primary; is another standby "
                             f"streaming from it? (see pg_stat_replication)")
        time.sleep(0.2)  # the walsender of a standby that just stopped is on its way out


def _remove_data_dir(layout: StackLayout) -> None:
    if data_dir(layout).exists():
        shutil.rmtree(data_dir(layout))


@dataclass(frozen=True)
class Clone:
    """What a fresh base backup took (bench/bench_replica.py reports it)."""

    seconds: float
    bytes: int


def _base_backup(settings: Settings, layout: StackLayout, run_as: RunAs, log: Log) -> Clone:
    target = data_dir(layout)
    _remove_data_dir(layout)
    target.mkdir(mode=0o700)
    layout.chown_to(target, run_as, 0o700)
    log(f"{NAME}: pg_basebackup from 127.0.0.1:{settings.pg_port} into {target}")
    started = time.monotonic()
    # -w: never prompt; the password comes from the passfile only. -X stream: the WAL of the copy arrives
    # through the slot while it runs, so the clone is consistent without the archive.
    run_as.run([
        str(PG_BIN / "pg_basebackup"), "-D", str(target), "-h", settings.pg_host, "-p", str(settings.pg_port),
        "-U", settings.replicator_user, "-X", "stream", "-S", SLOT, "-c", "fast", "-w",
    ], env=run_as.env(PGPASSFILE=str(passfile(layout)), PGAPPNAME=f"{APPLICATION_NAME}_basebackup"),
        timeout=BASEBACKUP_TIMEOUT)
    (target / "standby.signal").touch()
    layout.chown_to(target / "standby.signal", run_as, 0o600)
    clone = Clone(time.monotonic() - started, sum(p.stat().st_size for p in target.rglob("*") if p.is_file()))
    log(f"{NAME}: base backup of {clone.bytes / 2**20:.0f} MB in {clone.seconds:.1f} s")
    return clone


def write_configs(settings: Settings, layout: StackLayout, run_as: RunAs) -> bool:
    """The standby's own stockula.conf (its port, its socket, the stream) and access files."""
    target = data_dir(layout)
    tuning = tune(settings.tune_memory, settings.tune_num_cpus, settings.tune_max_conns)
    common = target / "stockula.common.conf"
    changed = write_config(common, shared_config("postgresql.common.conf"), run_as, 0o600)
    conf = render_template(
        "postgresql.replica.conf.tmpl", common_conf=common, port=settings.replica_port, socket_dir=layout.run,
        max_connections=tuning.max_connections, tuning=tuning.conf_lines(),
        primary_conninfo=primary_conninfo(settings, layout).replace("'", "''"), slot=SLOT,
    )
    changed |= write_config(target / "stockula.conf", conf, run_as, 0o600)
    return postgres.write_access_files(settings, target, run_as) or changed


def _pg_ctl(layout: StackLayout, run_as: RunAs, *args: str, timeout: float = 120):
    return run_as.run([str(PG_BIN / "pg_ctl"), "-D", str(data_dir(layout)), *args], check=False, timeout=timeout)


def start(layout: StackLayout, run_as: RunAs) -> None:
    proc = _pg_ctl(layout, run_as, "-l", str(log_file(layout)), "-w", "-t", "90", "-s", "start")
    if proc.returncode != 0:
        tail = "\n".join(log_file(layout).read_text(errors="replace").splitlines()[-15:])
        raise StackError(f"the read replica failed to start (see {log_file(layout)}; `stockula stack "
                         f"drop-replica` removes it for a fresh clone):\n{tail}")


def stop(layout: StackLayout, run_as: RunAs) -> None:
    if running(layout):
        _pg_ctl(layout, run_as, "-m", "fast", "-w", "-t", "60", "-s", "stop", timeout=90)


def probe(settings: Settings, passwords: dict[Role, str]) -> bool:
    """A SCRAM login as admin on the standby's port: in recovery, and streaming from the primary."""
    with psycopg.connect(host=settings.replica_host, port=settings.replica_port, user=settings.admin_user,
                         password=passwords[Role.admin], dbname=settings.db_name, connect_timeout=3) as conn:
        in_recovery, receiver = conn.execute(_STANDBY_STATE).fetchone()
    return bool(in_recovery) and receiver == "streaming"


def ensure(settings: Settings, layout: StackLayout, run_as: RunAs, passwords: dict[Role, str],
           log: Log) -> Clone | None:
    """Clone (once), configure and start the standby; a second call keeps the one that runs. Returns the
    clone made, if any."""
    _write_passfile(settings, layout, run_as, passwords[Role.replicator])
    slot = _slot_active(settings, layout, run_as)
    if slot is None:
        if cloned(layout):
            # Without its slot the primary may have recycled WAL the standby still needs: clone afresh.
            log(f"{NAME}: the replication slot '{SLOT}' is gone; cloning the standby again")
            stop(layout, run_as)
        _create_slot(settings, layout, run_as)
    clone = None
    if slot is None or not cloned(layout):
        clone = _base_backup(settings, layout, run_as, log)
    changed = write_configs(settings, layout, run_as)
    if running(layout) and changed:
        # A restart, not a reload: the port and the memory settings only change that way, and a standby
        # resumes its stream where it stopped.
        log(f"{NAME}: configuration changed, restarting")
        stop(layout, run_as)
    if running(layout):
        log(f"{NAME}: already running (pid {pid(layout)})")
    else:
        log(f"{NAME}: starting on 127.0.0.1:{settings.replica_port} (standby of 127.0.0.1:{settings.pg_port})")
        start(layout, run_as)
    wait_for("the read replica (streaming, SCRAM login as admin)", lambda: probe(settings, passwords),
             timeout=READY_TIMEOUT, log_file=log_file(layout))
    log(f"{NAME}: ready on 127.0.0.1:{settings.replica_port}, streaming through slot '{SLOT}'")
    return clone


def warn_if_left_behind(settings: Settings, layout: StackLayout, run_as: RunAs, log: Log) -> None:
    """With the replica off, a slot nobody streams from makes the primary keep WAL for ever: say so."""
    if settings.replica or running(layout):
        return
    if _slot_active(settings, layout, run_as) is False:
        log(f"{NAME}: warning: the replication slot '{SLOT}' has no standby and keeps WAL on the primary; "
            f"`stockula stack up --replica` resumes the standby, `stockula stack drop-replica` removes both")


def drop(settings: Settings, layout: StackLayout, run_as: RunAs, log: Log) -> None:
    """Stop the standby, drop its slot on the primary (when the primary runs) and delete its files."""
    if running(layout):
        log(f"{NAME}: stopping (pid {pid(layout)})")
        stop(layout, run_as)
    if postgres.running(layout):
        _drop_slot(settings, layout, run_as, log)
    elif _slot_may_exist(layout):
        log(f"{NAME}: the primary is down; its slot '{SLOT}' is dropped at the next `stockula stack drop-replica`")
    existed = data_dir(layout).exists()
    _remove_data_dir(layout)
    passfile(layout).unlink(missing_ok=True)
    log(f"{NAME}: removed {data_dir(layout)}" if existed else f"{NAME}: no standby data to remove")


def _slot_may_exist(layout: StackLayout) -> bool:
    return (layout.pgdata / "pg_replslot" / SLOT).exists()
