"""The TSL tier's Node (TimescaleDB's full edition in-process under PGlite, package.json): the ``node``
fixture, and running one of the tier's scripts on a JSON request and reading its JSON answer.

Test modules import the fixture by name (a conftest.py here would shadow tests/conftest.py for the
modules that import helpers from it)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
NODE_TIMEOUT_S = 600


def run_script(node: str, script: str, request: dict, workdir: Path) -> dict:
    """``node <script> <request.json>``; fails the test with the script's stderr when it fails."""
    path = workdir / f"{Path(script).stem}-input.json"
    path.write_text(json.dumps(request))
    proc = subprocess.run([node, str(HERE / script), str(path)], cwd=HERE, capture_output=True, text=True,
                          timeout=NODE_TIMEOUT_S)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stderr[-4000:]}"
    return json.loads(proc.stdout)


@pytest.fixture(scope="session")
def node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the TSL tier runs TimescaleDB's full edition under Node (PGlite)")
    if not (HERE / "node_modules" / "@unni-craftsman" / "pglite").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("node_modules is missing and npm is not installed to run `npm ci` in tests/tsl")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=NODE_TIMEOUT_S)
    return node
