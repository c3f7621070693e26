"""Scratch clusters: a restored data directory started on a spare port, reachable only by its socket
owner, and removed afterwards. Restores and drills never touch the live cluster's data directory."""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from stockula_pipelines.settings import Settings
from stockula_pipelines.stack.layout import PG_BIN, RunAs
from stockula_pipelines.stack.procs import port_is_free

from .errors import BackupError
from .pgbackrest import BackupPaths

# Appended to the restored postgresql.auto.conf, which PostgreSQL reads last: the restored copy
# must not listen on the live port or socket, nor archive into the live repository.
OVERRIDES = """
# stockula scratch cluster (restore/drill): these override the live cluster's settings.
port = {port}
listen_addresses = '127.0.0.1'
unix_socket_directories = '{socket_dir}'
archive_mode = off
hot_standby = off
shared_buffers = '128MB'
cluster_name = 'stockula-scratch-{port}'
"""


def port_range(settings: Settings) -> range:
    low, high = (int(p) for p in settings.backup_scratch_ports.split("-", 1))
    return range(low, high + 1)


def pick_port(settings: Settings) -> int:
    for port in port_range(settings):
        if port_is_free(port):
            return port
    raise BackupError(f"no free port in STOCKULA_BACKUP_SCRATCH_PORTS={settings.backup_scratch_ports}")


@dataclass
class ScratchCluster:
    root: Path
    port: int
    run_as: RunAs

    @classmethod
    def create(cls, settings: Settings, port: int | None = None, run_as: RunAs | None = None) -> ScratchCluster:
        port = port or pick_port(settings)
        if port not in port_range(settings):
            raise BackupError(f"port {port} is outside STOCKULA_BACKUP_SCRATCH_PORTS={settings.backup_scratch_ports}")
        if not port_is_free(port):
            raise BackupError(f"port {port} is in use: pick another with --port")
        paths = BackupPaths.from_settings(settings)
        cluster = cls(paths.scratch / f"restore-{port}", port, run_as or RunAs.for_current_process())
        cluster._prepare()
        return cluster

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        return self.root / "postgresql.log"

    def _own(self, path: Path, mode: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if self.run_as.drop:
            os.chown(path, self.run_as.uid, self.run_as.gid)
        path.chmod(mode)

    def _prepare(self) -> None:
        if self.root.exists():
            self.stop()
            shutil.rmtree(self.root)
        self._own(self.root.parent, 0o750)
        self._own(self.root, 0o750)
        self._own(self.pgdata, 0o700)
        self._own(self.socket_dir, 0o750)

    def configure(self) -> None:
        auto = self.pgdata / "postgresql.auto.conf"
        text = auto.read_text() if auto.exists() else ""
        text += OVERRIDES.format(port=self.port, socket_dir=self.socket_dir)
        auto.write_text(text)
        if self.run_as.drop:
            os.chown(auto, self.run_as.uid, self.run_as.gid)
        (self.pgdata / "postmaster.pid").unlink(missing_ok=True)

    def start(self, timeout: float = 600.0) -> float:
        """Start, wait for recovery to finish (pg_ctl -w returns before promotion); returns seconds."""
        started = time.monotonic()
        proc = self.run_as.run([str(PG_BIN / "pg_ctl"), "-D", str(self.pgdata), "-l", str(self.log_file),
                                "-w", "-t", str(int(timeout)), "-s", "start"], check=False, timeout=timeout + 30)
        if proc.returncode != 0:
            raise BackupError(f"the restored cluster did not start: {self.log_tail()}")
        while time.monotonic() - started < timeout:
            try:
                with self.connect() as conn:
                    if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:  # type: ignore[index]
                        return time.monotonic() - started
            except psycopg.OperationalError:
                pass
            if "FATAL" in self.log_tail() and not self.running():
                raise BackupError(f"recovery failed: {self.log_tail()}")
            time.sleep(0.3)
        raise BackupError(f"recovery did not finish within {timeout:.0f}s: {self.log_tail()}")

    def connect(self, dbname: str = "postgres", **kwargs) -> psycopg.Connection:
        return psycopg.connect(host=str(self.socket_dir), port=self.port, user=self.run_as.name, dbname=dbname,
                               connect_timeout=5, **kwargs)

    def running(self) -> bool:
        return (self.pgdata / "postmaster.pid").exists()

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no log)"

    def stop(self) -> None:
        if self.running():
            self.run_as.run([str(PG_BIN / "pg_ctl"), "-D", str(self.pgdata), "-m", "immediate", "-w", "-s", "stop"],
                            check=False, timeout=120)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> ScratchCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.destroy()
