"""`stockula ui` (what `make ui` runs): `dagster dev` (webserver + daemon), its URL, and a clean stop.

`dagster dev` started straight from make outlives it: make run in the background starts its children
with SIGINT ignored, and a SIGTERM to make reaches only the shell of the recipe. Here the signals are
handled explicitly: SIGINT or SIGTERM ask `dagster dev`'s whole process group (webserver, daemon, code
servers) to stop with SIGINT, Dagster's own graceful path, and whatever is still alive after
``GRACE_SECONDS`` is terminated, then killed, so nothing is left behind.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

GRACE_SECONDS = 20.0


def register(sub: argparse._SubParsersAction) -> None:
    cmd = sub.add_parser("ui", help="run the Dagster UI and daemon (dagster dev) until Ctrl-C or SIGTERM")
    cmd.add_argument("--port", type=int, default=None, help="default STOCKULA_DAGSTER_WEBSERVER_PORT")
    cmd.add_argument("--host", default="127.0.0.1")
    cmd.set_defaults(func=cmd_ui)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def _wait_group(proc: subprocess.Popen, seconds: float) -> bool:
    """True once ``dagster dev`` and every process of its group are gone (waits at most ``seconds``)."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        proc.poll()
        if proc.returncode is not None and not _group_alive(proc.pid):
            return True
        time.sleep(0.2)
    return False


def stop(proc: subprocess.Popen) -> None:
    for sig, grace in ((signal.SIGINT, GRACE_SECONDS), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        _signal_group(proc.pid, sig)
        if _wait_group(proc, grace):
            return


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/server_info", timeout=2):  # noqa: S310 - our own loopback URL
            return True
    except OSError:
        return False


def cmd_ui(args: argparse.Namespace) -> int:
    from stockula_pipelines.settings import get_settings, project_dir

    port = args.port or get_settings().dagster_webserver_port
    url = f"http://{args.host}:{port}"
    stopping: list[int] = []

    def ask_stop(signum, _frame) -> None:
        stopping.append(signum)

    # Handlers, not SIG_IGN: a handler is reset to the default in the child at exec, so `dagster dev`
    # answers SIGINT even when this process was started with it ignored.
    signal.signal(signal.SIGINT, ask_stop)
    signal.signal(signal.SIGTERM, ask_stop)
    dagster = Path(sys.executable).with_name("dagster")
    proc = subprocess.Popen(  # noqa: S603 - the venv's own entry point
        [str(dagster), "dev", "-w", "workspace.yaml", "-h", args.host, "-p", str(port)],
        cwd=project_dir(), start_new_session=True,
    )
    print(f"stockula ui: starting dagster dev (webserver + daemon), DAGSTER_HOME={os.environ.get('DAGSTER_HOME', '')}",
          flush=True)
    announced = False
    try:
        while not stopping and proc.poll() is None:
            if not announced and _ready(url):
                print(f"stockula ui: the Dagster UI is at {url}  (Ctrl-C stops it)", flush=True)
                announced = True
            time.sleep(0.5)
    finally:
        print("stockula ui: stopping dagster dev", flush=True)
        stop(proc)
    if stopping:
        return 0
    return proc.returncode or 0
