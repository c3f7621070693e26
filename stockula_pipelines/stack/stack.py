"""`stack up | down | status`: the whole local stack, idempotently."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from stockula_pipelines.settings import Role, Settings, get_settings

from . import postgres, replica
from .envfile import (
    render_env,
    resolve_cipher_pass,
    resolve_passwords,
    resolve_service_secrets,
    write_env_file,
)
from .errors import PortInUseError, StackError
from .layout import RunAs, StackLayout
from .procs import is_alive, pids_mentioning, port_answers, port_is_free, terminate, wait_for
from .services import SERVICES

Log = Callable[[str], None]
READY_TIMEOUT = 90.0


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    port: int
    pid: int | None
    up: bool


@dataclass(frozen=True)
class StackInfo:
    settings: Settings  # a copy carrying the generated passwords
    env_file: Path
    services: list[ServiceStatus] = field(default_factory=list)


def _pg_status(settings: Settings, layout: StackLayout) -> ServiceStatus:
    pid = postgres.pid(layout)
    up = is_alive(pid, postgres.POSTGRES) and port_answers(settings.pg_port)
    return ServiceStatus("postgres", settings.pg_port, pid if up else None, up)


def stack_status(settings: Settings | None = None) -> list[ServiceStatus]:
    settings = settings or get_settings()
    layout = StackLayout.from_settings(settings)
    statuses = [_pg_status(settings, layout)]
    for service in SERVICES:
        pid = service.pid(layout)
        port = service.port(settings)
        up = is_alive(pid, service.binary) and port_answers(port)
        statuses.append(ServiceStatus(service.name, port, pid if up else None, up))
    if replica.wanted(settings, layout):  # read replica (issue 15): shown when enabled or running
        pid = replica.pid(layout)
        up = replica.running(layout) and port_answers(settings.replica_port)
        statuses.append(ServiceStatus(replica.NAME, settings.replica_port, pid if up else None, up))
    return statuses


def _check_ports(settings: Settings, layout: StackLayout) -> None:
    """Fail before starting anything if a port is held by something other than our own service."""
    if not postgres.running(layout) and not port_is_free(settings.pg_port):
        raise PortInUseError("postgres", settings.pg_port, "STOCKULA_PG_PORT")
    for service in SERVICES:
        port = service.port(settings)
        if not is_alive(service.pid(layout), service.binary) and not port_is_free(port):
            raise PortInUseError(service.name, port, service.env_var)
    ports = [settings.pg_port] + [s.port(settings) for s in SERVICES]
    if settings.replica:  # read replica (issue 15)
        replica.check_port(settings, layout)
        ports.append(settings.replica_port)
    if len(set(ports)) != len(ports):
        raise StackError(f"two services of the stack share a port: {ports}; check the STOCKULA_*_PORT variables")


def _with_passwords(settings: Settings, passwords: dict[Role, str], service_secrets: dict[str, str]) -> Settings:
    update = {f"{r.value}_password": SecretStr(passwords[r]) for r in Role}
    update |= {field: SecretStr(value) for field, value in service_secrets.items()}
    return settings.model_copy(update=update)


def stack_up(settings: Settings | None = None, *, log: Log = print) -> StackInfo:
    settings = settings or get_settings()
    layout = StackLayout.from_settings(settings)
    run_as = RunAs.for_current_process()
    _check_ports(settings, layout)
    postgres.ensure_timescaledb(log)
    layout = layout.relocated(run_as, log)
    layout.prepare(run_as)

    passwords = resolve_passwords(settings, layout.env_file)
    cipher_pass = resolve_cipher_pass(settings, layout.env_file)
    service_secrets = resolve_service_secrets(settings, layout.env_file)
    if write_env_file(layout.env_file, render_env(settings, passwords, cipher_pass, service_secrets)):
        log(f"stack: wrote {layout.env_file}")
        # settings.py reads stack.env when Settings are built: make the next get_settings() see it.
        get_settings.cache_clear()
    settings = _with_passwords(settings, passwords, service_secrets)

    postgres.init_cluster(layout, run_as, log)
    # Before PostgreSQL (re)reads archive_command, the config that command names must exist.
    # (Imported here: lib/backup uses this package's layout, so a top-level import would be circular.)
    from stockula_pipelines.lib.backup import pgbackrest

    backup_paths = pgbackrest.BackupPaths.from_settings(settings)
    pgbackrest.write_config(settings, backup_paths, run_as, cipher_pass)
    conf_changed = postgres.write_configs(settings, layout, run_as)
    if postgres.running(layout):
        if conf_changed:
            postgres.reload(layout, run_as)
            log("postgres: configuration changed and reloaded (settings such as shared_buffers need "
                "`stockula stack down && stockula stack up`)")
        log(f"postgres: already running (pid {postgres.pid(layout)})")
    else:
        log(f"postgres: starting on 127.0.0.1:{settings.pg_port}")
        postgres.start(layout, run_as)
    postgres.bootstrap(settings, layout, run_as, passwords)
    wait_for("PostgreSQL (SCRAM login as admin)", lambda: postgres.probe(settings, passwords),
             timeout=READY_TIMEOUT, log_file=postgres.log_file(layout))
    log(f"postgres: ready on 127.0.0.1:{settings.pg_port}")
    pgbackrest.PgBackRest(backup_paths, run_as).stanza_create()  # idempotent; WAL archiving works from here on
    log(f"pgbackrest: stanza '{backup_paths.stanza}' ready ({backup_paths.repo})")

    for service in SERVICES:
        port = service.port(settings)
        changed = service.configure(settings, layout, run_as, passwords)
        if changed and service.restarts_on_change and is_alive(service.pid(layout), service.binary):
            log(f"{service.name}: configuration changed, restarting")
            terminate(service.pid(layout), service.binary)  # type: ignore[arg-type]
            service.pid_file(layout).unlink(missing_ok=True)
        if is_alive(service.pid(layout), service.binary):
            if changed and service.reloads_on_hup:
                service.reload(layout)
                log(f"{service.name}: configuration changed and reloaded")
            log(f"{service.name}: already running (pid {service.pid(layout)})")
        else:
            log(f"{service.name}: starting on 127.0.0.1:{port}")
            service.launch(settings, layout, run_as, passwords)
        wait_for(service.name, lambda s=service: s.probe(settings, passwords),
                 timeout=READY_TIMEOUT, log_file=service.log_file(layout))
        log(f"{service.name}: ready on 127.0.0.1:{port}")
    # --- read replica (issue 15): after the primary's clients, so a slow clone holds nothing up ---
    if settings.replica:
        replica.ensure(settings, layout, run_as, passwords, log)
    else:
        replica.warn_if_left_behind(settings, layout, run_as, log)
    return StackInfo(settings, layout.env_file, stack_status(settings))


def stack_down(settings: Settings | None = None, *, log: Log = print) -> None:
    settings = settings or get_settings()
    layout = StackLayout.from_settings(settings)
    run_as = RunAs.for_current_process()
    if replica.running(layout):  # read replica (issue 15): the standby is the primary's client too
        log(f"{replica.NAME}: stopping (pid {replica.pid(layout)})")
        replica.stop(layout, run_as)
    # Reverse start order: clients of PostgreSQL go first.
    for service in reversed(SERVICES):
        pid = service.pid(layout)
        if is_alive(pid, service.binary):
            log(f"{service.name}: stopping (pid {pid})")
            terminate(pid, service.binary)  # type: ignore[arg-type]
        service.pid_file(layout).unlink(missing_ok=True)
    if postgres.running(layout):
        log(f"postgres: stopping (pid {postgres.pid(layout)})")
        postgres.stop(layout, run_as)
    binaries = [postgres.POSTGRES] + [s.binary for s in SERVICES]
    # A lost pid file must not leave a process behind.
    for pid, binary in pids_mentioning(layout.root, binaries):
        log(f"{binary.name}: stopping stray process {pid}")
        terminate(pid, binary)
    log("stack: down")


def drop_replica(settings: Settings | None = None, *, log: Log = print) -> None:
    """Stop the read replica, drop its replication slot on the primary, delete its data (issue 15)."""
    settings = settings or get_settings()
    replica.drop(settings, StackLayout.from_settings(settings), RunAs.for_current_process(), log)
