"""`make ui` started in the background prints its URL and, on SIGTERM, leaves no Dagster process behind.

Runs against this checkout's instance (DAGSTER_HOME = the project, as make sets it) on a port of the
tests' range; TMPDIR is the test's own directory, which marks every process this `make ui` started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from conftest import PROJECT_DIR
from dagster_ui import free_port

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def _processes_marked(marker: str) -> list[str]:
    """Command lines of the live processes whose environment has TMPDIR=marker."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = (entry / "environ").read_bytes().split(b"\0")
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if f"TMPDIR={marker}".encode() in env and (entry / "stat").read_text().split()[2] != "Z":
            found.append(f"{entry.name}: {cmd}")
    return found


def test_make_ui_prints_its_url_and_stops_cleanly_on_sigterm(stack_settings, tmp_path: Path):
    port = free_port()
    env = dict(os.environ, STOCKULA_DAGSTER_WEBSERVER_PORT=str(port), TMPDIR=str(tmp_path))
    log = tmp_path / "make-ui.log"
    # Started the way a shell starts a background job: SIGINT ignored, which `dagster dev` inherited before.
    make = subprocess.Popen(["make", "--no-print-directory", "ui"], cwd=PROJECT_DIR, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))  # noqa: PLW1509
    url = f"http://127.0.0.1:{port}"
    while f"the Dagster UI is at {url}" not in log.read_text():
        assert make.poll() is None, log.read_text()[-3000:]
        time.sleep(0.5)
    assert any("dagster-daemon" in p or "dagster dev" in p for p in _processes_marked(str(tmp_path)))
    make.send_signal(signal.SIGTERM)
    make.wait(timeout=120)
    assert _processes_marked(str(tmp_path)) == [], log.read_text()[-3000:]
    assert "stopping dagster dev" in log.read_text()
