"""pgBackRest on the native stack: its configuration, the stanza, and the commands the backup code runs.

Every command runs as the cluster's OS account (``postgres`` when called by root): a root-run backup
leaves root-owned files in the repository and the next one fails. The repository passphrase lives
only in the rendered config file (mode 0600, owned by that account) and in ``stack.env``; it never
appears on a command line.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from string import Template

from stockula_pipelines.settings import Settings
from stockula_pipelines.stack.layout import RunAs, StackLayout, infra_dir

from .errors import BackupError

PGBACKREST = "/usr/bin/pgbackrest"


@dataclass(frozen=True)
class BackupPaths:
    """Where the native stack keeps its backups, and the pgBackRest config that names them."""

    layout: StackLayout
    root: Path
    stanza: str

    @classmethod
    def from_settings(cls, settings: Settings) -> BackupPaths:
        return cls(StackLayout.from_settings(settings), Path(settings.backup_root).resolve(), settings.backup_stanza)

    @property
    def config(self) -> Path:
        return self.layout.conf / "pgbackrest.conf"

    @property
    def repo(self) -> Path:
        return self.root / "pgbackrest"

    @property
    def logical(self) -> Path:
        return self.root / "logical"

    @property
    def scratch(self) -> Path:
        return self.layout.root / "scratch"

    @property
    def lock(self) -> Path:
        return self.layout.run / "pgbackrest"

    @property
    def log(self) -> Path:
        return self.layout.log / "pgbackrest"

    @property
    def spool(self) -> Path:
        return self.root / "spool"

    def archive_command(self) -> str:
        return f"{PGBACKREST} --config={self.config} --stanza={self.stanza} archive-push %p"

    def service_dirs(self) -> list[Path]:
        return [self.root, self.repo, self.spool, self.lock, self.log, self.scratch]


def render_config(settings: Settings, paths: BackupPaths, run_as: RunAs, cipher_pass: str) -> str:
    text = (infra_dir() / "config" / "pgbackrest.conf.tmpl").read_text()
    return Template(text).substitute(
        repo_path=paths.repo, retention_full=settings.backup_retention_full, cipher_pass=cipher_pass,
        lock_path=paths.lock, log_path=paths.log, spool_path=paths.spool, stanza=paths.stanza,
        pgdata=paths.layout.pgdata, pg_port=settings.pg_port, socket_dir=paths.layout.run, pg_user=run_as.name,
    )


def write_config(settings: Settings, paths: BackupPaths, run_as: RunAs, cipher_pass: str) -> bool:
    """Create the backup directories and the config file (0600, service account); True if it changed."""
    for path in paths.service_dirs():
        path.mkdir(parents=True, exist_ok=True)
        if run_as.drop:
            os.chown(path, run_as.uid, run_as.gid)
        path.chmod(0o750)
    content = render_config(settings, paths, run_as, cipher_pass)
    changed = not paths.config.exists() or paths.config.read_text() != content
    if changed:
        fd = os.open(paths.config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(content)
    if run_as.drop:
        os.chown(paths.config, run_as.uid, run_as.gid)
    paths.config.chmod(0o600)
    return changed


class PgBackRest:
    """The pgBackRest commands of one stanza, run as the cluster's OS account."""

    def __init__(self, paths: BackupPaths, run_as: RunAs | None = None) -> None:
        self.paths = paths
        self.run_as = run_as or RunAs.for_current_process()

    def run(self, command: str, *options: str, timeout: float = 3600, check: bool = True):
        if not self.paths.config.exists():
            raise BackupError(
                f"pgBackRest is not configured here ({self.paths.config} is missing): on the native stack run "
                "`stockula stack up`; in the compose stack physical backups run inside the database container: "
                "`docker compose exec -u postgres timescaledb pgbackrest --stanza=stockula --type=incr backup`")
        args = [PGBACKREST, f"--config={self.paths.config}", f"--stanza={self.paths.stanza}", *options, command]
        proc = self.run_as.run(args, check=False, timeout=timeout)
        if check and proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip()
            raise BackupError(f"pgbackrest {command} failed (exit {proc.returncode}): {detail}",
                              exit_code=proc.returncode)
        return proc

    def stanza_create(self) -> None:
        self.run("stanza-create", timeout=300)

    def check(self) -> None:
        """Also forces a WAL switch and waits until that segment is archived."""
        self.run("check", timeout=300)

    def backup(self, kind: str) -> None:
        if kind not in ("full", "incr", "diff"):
            raise BackupError(f"unknown physical backup kind {kind!r}")
        self.run("backup", f"--type={kind}")

    def info(self) -> list[dict]:
        """pgBackRest's backup sets of the stanza, oldest first."""
        proc = self.run("info", "--output=json", timeout=120)
        stanzas = json.loads(proc.stdout or "[]")
        for stanza in stanzas:
            if stanza.get("name") == self.paths.stanza:
                return list(stanza.get("backup", []))
        return []

    def verify(self, label: str | None = None) -> tuple[bool, str]:
        """Checks the repository's files against their checksums; (ok, report).

        2.45 exits 0 even when it finds damaged files: the summary ("status: error", "invalid
        checksum") is what tells. With ``label``, only that set, the sets it references (an
        incremental's full and earlier incrementals) and the WAL count.
        """
        proc = self.run("verify", "--log-level-console=info", timeout=1800, check=False)
        report = (proc.stdout + proc.stderr).strip()
        lines = [line for line in report.splitlines() if "redacted" not in line]
        if label is None:
            bad = proc.returncode != 0 or any("status: error" in line for line in lines)
            return not bad, "\n".join(lines)
        sets = {b["label"]: b for b in self.info()}
        chain = [label, *(sets.get(label, {}).get("reference") or [])]
        bad = proc.returncode != 0 or any(
            (f"{name}/" in line and "invalid" in line) or (f"backup: {name}," in line and "status: valid" not in line)
            for name in chain for line in lines
        ) or any("archiveId" in line and "invalid" in line for line in lines)
        return not bad, "\n".join(lines)

    def restore(self, label: str, pgdata: Path, *, target_time: str | None = None,
                target_name: str | None = None) -> None:
        options = [f"--set={label}", f"--pg1-path={pgdata}", "--archive-mode=off", "--target-action=promote"]
        if target_time:
            options += ["--type=time", f"--target={target_time}"]
        elif target_name:
            options += ["--type=name", f"--target={target_name}"]
        else:
            options += ["--type=immediate"]
        self.run("restore", *options)

    def expire(self) -> None:
        self.run("expire", timeout=600)
