"""Config files rendered from infra/local templates, or copied from the shared infra/config."""

from __future__ import annotations

import os
from pathlib import Path
from string import Template

from .layout import RunAs, infra_dir


def render_template(name: str, **values: object) -> str:
    text = (infra_dir() / "local" / name).read_text()
    return Template(text).substitute({k: str(v) for k, v in values.items()})


def shared_config(name: str) -> str:
    return (infra_dir() / "config" / name).read_text()


def write_config(path: Path, content: str, run_as: RunAs, mode: int = 0o640) -> bool:
    """Write ``content`` owned by the service account; True when the file changed."""
    changed = not path.exists() or path.read_text() != content
    if changed:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
    if run_as.drop:
        os.chown(path, run_as.uid, run_as.gid)
    path.chmod(mode)
    return changed
