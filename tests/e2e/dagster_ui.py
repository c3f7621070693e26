"""A Dagster webserver of its own for a test module, and the GraphQL calls the browser tests wait with.

The instance lives in the module's directory (SQLite storage, its own DAGSTER_HOME and TMPDIR, where
Dagster puts its gRPC sockets), so a test's runs never mix with the demo's or another engineer's. No
daemon runs: the default run coordinator launches a run at once, where the queued one would wait for a
daemon forever.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

BIN = Path(sys.executable).parent
PORTS = range(53371, 53400)  # this worktree's share of the machine's ports

INSTANCE_YAML = """\
run_coordinator:
  module: dagster._core.run_coordinator
  class: DefaultRunCoordinator
telemetry:
  enabled: false
nux:
  enabled: false
"""

CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--disable-sync"]


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {PORTS.start}..{PORTS.stop - 1}")


def write_instance(home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(INSTANCE_YAML)


@dataclass
class Webserver:
    url: str
    proc: subprocess.Popen
    log: Path

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        req = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310 - our own loopback server
                answer = json.load(resp)
        except urllib.error.HTTPError as exc:  # a bad query answers 400 with the reason in the body
            raise AssertionError(f"GraphQL {exc.code}: {exc.read().decode()[:2000]}") from exc
        assert "errors" not in answer, answer["errors"]
        return answer["data"]

    def stop(self) -> None:
        """SIGTERM to the webserver's process group (its code server too), then wait for it."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


LOAD_STATUS = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"


def start_webserver(home: Path, env: dict[str, str]) -> Webserver:
    port = free_port()
    log = home / "webserver.log"
    proc = subprocess.Popen(  # noqa: S603 - the venv's own entry point
        [str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=Path(__file__).resolve().parents[2], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server = Webserver(f"http://127.0.0.1:{port}", proc, log)
    # No deadline: a loaded machine may take long; a dead process or a failed load ends the wait.
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"dagster-webserver exited ({proc.returncode}): {log.read_text()[-3000:]}")
        try:
            entries = server.graphql(LOAD_STATUS)["workspaceOrError"]["locationEntries"]
        except OSError:
            entries = []
        if entries and all(e["loadStatus"] == "LOADED" for e in entries):
            return server
        time.sleep(0.5)


RUN_STATUS = "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def wait_for_run(server: Webserver, run_id: str) -> str:
    while True:
        status = server.graphql(RUN_STATUS, {"id": run_id})["runOrError"].get("status")
        if status in FINISHED:
            return status
        time.sleep(1)
