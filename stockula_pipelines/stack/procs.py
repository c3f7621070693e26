"""Process plumbing: pid files, liveness, ports, waiting, stopping."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from .errors import StackError
from .layout import RunAs


def read_pid(pid_file: Path) -> int | None:
    try:
        first = pid_file.read_text().split("\n", 1)[0].strip()
    except (FileNotFoundError, PermissionError):
        return None
    return int(first) if first.isdigit() else None


def _state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may hold spaces or parentheses; the state follows the last ')'.
    return stat.rsplit(")", 1)[1].split()[0]


def _reap(pid: int) -> None:
    # Services started by this process are its children until it exits; reap them so they
    # do not linger as zombies that still look alive to kill(pid, 0).
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def is_alive(pid: int | None, binary: Path) -> bool:
    """True when ``pid`` runs ``binary`` (guards against a stale pid file and a recycled pid)."""
    if not pid:
        return False
    _reap(pid)
    state = _state(pid)
    if state is None or state in ("Z", "X"):
        return False
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    return Path(exe.removesuffix(" (deleted)")).resolve() == binary.resolve()


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option the services use, so a port in TIME_WAIT does not count as taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def port_answers(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for(what: str, probe: Callable[[], bool], *, timeout: float, log_file: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except Exception as exc:  # noqa: BLE001 - the probe's failure is reported if it never succeeds
            last_error = exc
        time.sleep(0.2)
    hint = f"; see {log_file}" if log_file else ""
    detail = f" (last error: {last_error})" if last_error else ""
    raise StackError(f"{what} did not become ready within {timeout:.0f}s{detail}{hint}")


def spawn(args: list[str], run_as: RunAs, *, env: dict[str, str], log_file: Path, pid_file: Path) -> int:
    """Start a foreground-only service in its own session, logging to ``log_file``; write its pid."""
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - fixed binaries, arguments built by this package
            args, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd="/", start_new_session=True, **run_as.popen_kwargs(),  # type: ignore[arg-type]
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def terminate(pid: int, binary: Path, *, timeout: float = 20.0) -> None:
    """SIGTERM, wait, then SIGKILL; returns once the process is gone."""
    if not is_alive(pid, binary):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_alive(pid, binary):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not is_alive(pid, binary):
            return
        time.sleep(0.1)
    raise StackError(f"process {pid} ({binary.name}) did not stop")


def pids_mentioning(root: Path, binaries: list[Path]) -> list[tuple[int, Path]]:
    """Processes of ``binaries`` whose command line names a path under ``root`` (a lost pid file)."""
    found: list[tuple[int, Path]] = []
    needle = str(root).encode()
    wanted = {b.resolve(): b for b in binaries}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            exe = Path(os.readlink(entry / "exe")).resolve()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if exe in wanted and needle in cmdline:
            found.append((int(entry.name), wanted[exe]))
    return found
