"""Running one of the TSL tier's Node scripts on a JSON request and reading its JSON answer."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

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
