"""Where the local stack keeps its files, and which OS account runs its services."""

from __future__ import annotations

import hashlib
import os
import pwd
import subprocess
from dataclasses import dataclass
from pathlib import Path

from stockula_pipelines.settings import Settings, project_dir

from .errors import StackError

PG_BIN = Path("/usr/lib/postgresql/15/bin")
# PostgreSQL and PgBouncer refuse to run as root, so a root caller hands every service to this account.
SERVICE_USER_WHEN_ROOT = "postgres"
# Where the stack lives when the service account cannot reach the checkout (a clone under /root, mode 700):
# one directory per checkout, named by a hash of its path, linked from <checkout>/.stack.
SHARED_STACK_ROOT = Path("/var/lib/stockula")


def infra_dir() -> Path:
    return project_dir() / "infra"


@dataclass(frozen=True)
class RunAs:
    """The account the services run as; ``drop`` is False when the caller already is that account."""

    name: str
    uid: int
    gid: int
    home: str
    drop: bool

    @classmethod
    def for_current_process(cls) -> RunAs:
        if os.geteuid() == 0:
            try:
                entry = pwd.getpwnam(SERVICE_USER_WHEN_ROOT)
            except KeyError as exc:
                raise StackError(
                    f"running as root needs the '{SERVICE_USER_WHEN_ROOT}' OS user (installed with "
                    "the postgresql package) to own the stack's services"
                ) from exc
            return cls(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir, True)
        entry = pwd.getpwuid(os.geteuid())
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir, False)

    def popen_kwargs(self) -> dict[str, object]:
        if not self.drop:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def env(self, **extra: str) -> dict[str, str]:
        """A clean environment: the caller's secrets (STOCKULA_*) never leak into services."""
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": self.home,
            "USER": self.name,
            "LOGNAME": self.name,
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
        }
        env.update(extra)
        return env

    def run(self, args: list[str], *, env: dict[str, str] | None = None, check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(  # noqa: S603 - fixed binaries, arguments built by this package
            args, env=env or self.env(), capture_output=True, text=True, timeout=timeout,
            cwd="/", **self.popen_kwargs(),  # type: ignore[arg-type]
        )
        if check and proc.returncode != 0:
            raise StackError(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr or proc.stdout}")
        return proc


@dataclass(frozen=True)
class StackLayout:
    root: Path

    @classmethod
    def from_settings(cls, settings: Settings) -> StackLayout:
        return cls(Path(settings.stack_dir).resolve())

    @property
    def env_file(self) -> Path:
        return self.root / "stack.env"

    @property
    def pgdata(self) -> Path:
        return self.root / "pgdata"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def log(self) -> Path:
        return self.root / "log"

    @property
    def conf(self) -> Path:
        return self.root / "conf"

    @property
    def redis_data(self) -> Path:
        return self.root / "redis"

    @property
    def prometheus_data(self) -> Path:
        return self.root / "prometheus"

    def service_dirs(self) -> list[Path]:
        return [self.run, self.log, self.conf, self.conf / "targets", self.redis_data, self.prometheus_data]

    def relocated(self, run_as: RunAs, log=print) -> StackLayout:
        """This layout, or one under SHARED_STACK_ROOT linked from here when the service account cannot
        reach the checkout. Only a stack not created yet at the checkout's default place moves: an explicit
        STOCKULA_STACK_DIR, or one that already holds data, is used where it is (and fails clearly)."""
        if not run_as.drop or self.root.exists() or self.root != project_dir().resolve() / ".stack":
            return self
        if run_as.run(["/usr/bin/test", "-x", str(self.root.parent)], check=False).returncode == 0:
            return self
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        target = SHARED_STACK_ROOT / digest
        SHARED_STACK_ROOT.mkdir(mode=0o755, parents=True, exist_ok=True)
        SHARED_STACK_ROOT.chmod(0o755)  # traversable by the service account, whatever the umask
        target.mkdir(mode=0o755, exist_ok=True)
        self.root.symlink_to(target, target_is_directory=True)
        log(f"stack: the '{run_as.name}' OS user cannot reach {self.root.parent}; the stack's data lives in "
            f"{target} (linked from {self.root})")
        return StackLayout(target)

    def prepare(self, run_as: RunAs) -> None:
        """Create the directories, owned by the service account, and prove that account can reach them."""
        self.root.mkdir(parents=True, exist_ok=True)
        if run_as.drop:
            # stack.env (0600) stays private; the directory itself only needs to be traversable.
            self.root.chmod(0o755)
        for path in self.service_dirs():
            path.mkdir(exist_ok=True)
            if run_as.drop:
                os.chown(path, run_as.uid, run_as.gid)
            path.chmod(0o750)
        probe = run_as.run(["/usr/bin/test", "-w", str(self.run)], check=False)
        if probe.returncode != 0:
            raise StackError(
                f"the '{run_as.name}' OS user cannot reach {self.root}: a parent directory is not "
                f"traversable by it (e.g. a checkout under /root with mode 700). Point "
                f"STOCKULA_STACK_DIR at a directory it can reach, e.g. "
                f"STOCKULA_STACK_DIR=/var/tmp/stockula-stack"
            )

    def chown_to(self, path: Path, run_as: RunAs, mode: int) -> None:
        if run_as.drop:
            os.chown(path, run_as.uid, run_as.gid)
        path.chmod(mode)
