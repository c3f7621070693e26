"""The TSL tier's Node: TimescaleDB's full edition runs in-process under PGlite (package.json)."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from node_runner import HERE, NODE_TIMEOUT_S


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
