"""Fault injection on the real local stack: kill a backend at a chosen statement, hold a lock so a
statement is caught mid-flight, stop and bring back a service, restart PostgreSQL, fill a disk.

Every helper that stops something shared is a context manager whose exit brings it back, so a
failing test still leaves the stack as it found it.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from psycopg import sql

from stockula_pipelines.settings import Role, Settings
from stockula_pipelines.stack import postgres, stack_status, stack_up
from stockula_pipelines.stack.layout import PG_BIN, RunAs, StackLayout
from stockula_pipelines.stack.procs import is_alive, terminate, wait_for
from stockula_pipelines.stack.services import SERVICES

WATCH_TIMEOUT = 60.0  # seconds a watcher waits for its statement before giving up (and failing the test)


# --- catching a statement in pg_stat_activity ------------------------------------------------------
@dataclass
class Victim:
    pid: int
    query: str
    state: str
    wait_event_type: str | None
    application_name: str


@dataclass
class BackendKiller:
    """From its own admin connection, wait for a backend matching the filters and terminate it.

    ``query_like`` is an ILIKE pattern on ``pg_stat_activity.query``; ``waiting`` requires the backend
    to be blocked on a lock (the test holds one, so the statement is caught mid-flight every time);
    ``active`` requires state = 'active'. ``after`` runs right after the kill (e.g. to release the
    test's lock). Runs in a thread: ``start()``, do the work, then ``result()``.
    """

    admin_dsn: str
    datname: str
    query_like: str = "%"
    application_name: str | None = None
    waiting: bool = False
    active: bool = True
    after: Callable[[], None] | None = None
    terminate: bool = True  # False: only wait until it is seen (another fault follows)
    victim: Victim | None = None
    error: BaseException | None = None
    _thread: threading.Thread | None = field(default=None, repr=False)

    def start(self) -> BackendKiller:
        self._thread = threading.Thread(target=self._run, name="backend-killer", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
                deadline = time.monotonic() + WATCH_TIMEOUT
                while time.monotonic() < deadline:
                    row = conn.execute(
                        """
                        SELECT pid, query, state, wait_event_type, application_name FROM pg_stat_activity
                        WHERE datname = %(db)s AND pid <> pg_backend_pid() AND backend_type = 'client backend'
                          AND query ILIKE %(like)s
                          AND (%(app)s::text IS NULL OR application_name = %(app)s)
                          AND (NOT %(waiting)s OR wait_event_type = 'Lock')
                          AND (NOT %(active)s OR state = 'active')
                        ORDER BY backend_start LIMIT 1
                        """,
                        {"db": self.datname, "like": self.query_like, "app": self.application_name,
                         "waiting": self.waiting, "active": self.active},
                    ).fetchone()
                    if row is not None:
                        self.victim = Victim(*row)
                        if not self.terminate:
                            return
                        terminated = conn.execute("SELECT pg_terminate_backend(%s, 10000)", (row[0],)).fetchone()
                        if not terminated or not terminated[0]:
                            raise AssertionError(f"backend {row[0]} did not terminate within 10 s")
                        return
                    time.sleep(0.005)
                raise AssertionError(f"no backend of {self.datname} ran {self.query_like!r} within {WATCH_TIMEOUT:.0f}s")
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread by result()
            self.error = exc
        finally:
            if self.after is not None:
                self.after()

    def wait(self) -> Victim:
        """Watch in the calling thread instead of starting one."""
        self._run()
        if self.error is not None:
            raise self.error
        assert self.victim is not None
        return self.victim

    def result(self) -> Victim:
        assert self._thread is not None, "start() first"
        self._thread.join(WATCH_TIMEOUT + 15)
        if self.error is not None:
            raise self.error
        assert self.victim is not None
        return self.victim


class HeldLock:
    """An open admin transaction that has run ``statement`` (a LOCK, or an uncommitted row)."""

    def __init__(self, dsn: str, statement: sql.Composable | str, params: dict | tuple | None = None) -> None:
        self.conn = psycopg.connect(dsn)
        self.conn.execute(statement, params)
        self._released = False
        self._mutex = threading.Lock()

    def release(self) -> None:
        with self._mutex:
            if self._released:
                return
            self._released = True
            with contextlib.suppress(psycopg.Error):
                self.conn.rollback()
            self.conn.close()

    def __enter__(self) -> HeldLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


# --- what a table holds ------------------------------------------------------------------------------
# Columns that differ between two correct runs by construction: identities, clocks and run ids.
VOLATILE = frozenset({"loaded_at", "quarantine_id", "quarantined_at", "ingest_id", "run_id", "refresh_id",
                      "refreshed_at", "last_ingest_id", "created_at", "updated_at", "computed_at",
                      "resolved_at", "checked_at"})


def fingerprint(conn: psycopg.Connection, qualified: str, exclude: frozenset[str] = VOLATILE,
                where: str = "TRUE") -> tuple[int, str]:
    """Row count and md5 of every row (``where``: a fixed predicate of the test) as text, sorted, the
    ``exclude`` columns left out."""
    schema, table = qualified.split(".")
    columns = [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s "
        "ORDER BY ordinal_position", (schema, table)).fetchall() if r[0] not in exclude]
    assert columns, f"{qualified} has no columns to compare"
    row = sql.SQL("ROW({})::text").format(sql.SQL(", ").join(map(sql.Identifier, columns)))
    count, digest = conn.execute(sql.SQL(
        "SELECT count(*), md5(coalesce(string_agg({row}, E'\\n' ORDER BY {row}), '')) FROM {table} WHERE {where}"
    ).format(row=row, table=sql.Identifier(schema, table), where=sql.SQL(where))).fetchone()  # type: ignore[misc]
    return int(count), str(digest)


def fingerprints(conn: psycopg.Connection, tables: list[str] | dict[str, str]) -> dict[str, tuple[int, str]]:
    """``tables``: names, or names mapped to a ``where`` predicate."""
    where = tables if isinstance(tables, dict) else dict.fromkeys(tables, "TRUE")
    return {t: fingerprint(conn, t, where=w) for t, w in where.items()}


# --- services of the stack ---------------------------------------------------------------------------
def _service(name: str):
    (service,) = [s for s in SERVICES if s.name == name]
    return service


def statuses(settings: Settings) -> dict[str, bool]:
    return {s.name: s.up for s in stack_status(settings)}


def bring_back(settings: Settings) -> None:
    """``stockula stack up``: idempotent, starts whatever is down and waits until it answers."""
    if not all(statuses(settings).values()):
        stack_up(settings, log=lambda _m: None)
    assert all(statuses(settings).values()), f"the stack did not come back: {statuses(settings)}"


@contextlib.contextmanager
def service_stopped(settings: Settings, name: str) -> Iterator[None]:
    """PgBouncer, Redis, ... stopped for the block, then started again the way ``stack up`` does."""
    layout = StackLayout.from_settings(settings)
    service = _service(name)
    pid = service.pid(layout)
    assert is_alive(pid, service.binary), f"{name} is not running before the fault"
    try:
        terminate(pid, service.binary)  # type: ignore[arg-type]
        assert not statuses(settings)[name]
        yield
    finally:
        bring_back(settings)


def restart_postgres(settings: Settings, mode: str) -> None:
    """``pg_ctl stop -m fast|immediate``, then start it the way the stack does; waits for logins."""
    assert mode in ("fast", "immediate")
    layout = StackLayout.from_settings(settings)
    run_as = RunAs.for_current_process()
    try:
        run_as.run([str(PG_BIN / "pg_ctl"), "-D", str(layout.pgdata), "-m", mode, "-w", "-t", "60", "-s",
                    "stop"], timeout=90)
        assert not postgres.running(layout)
        postgres.start(layout, run_as)
        wait_for("PostgreSQL after restart", lambda: _admin_login(settings), timeout=60)
    finally:
        bring_back(settings)


def _admin_login(settings: Settings) -> bool:
    with psycopg.connect(settings.dsn(Role.admin, direct=True, dbname="postgres"), connect_timeout=3) as conn:
        return conn.execute("SELECT NOT pg_is_in_recovery()").fetchone() == (True,)


def postmaster_pid(settings: Settings) -> int | None:
    return postgres.pid(StackLayout.from_settings(settings))


# --- a small full disk -------------------------------------------------------------------------------
@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``path`` (root only), unmounted on exit."""
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(path)], check=True,
                   capture_output=True, text=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)


def fill(directory: Path, leave_bytes: int) -> Path:
    """Write a filler file until ``directory``'s filesystem has at most ``leave_bytes`` free."""
    import os

    filler = directory / "filler.bin"
    stat = os.statvfs(directory)
    free = stat.f_bavail * stat.f_frsize
    with open(filler, "wb") as handle:
        remaining = max(free - leave_bytes, 0)
        block = b"\0" * (1 << 16)
        while remaining > 0:
            try:
                handle.write(block[: min(len(block), remaining)])
                handle.flush()
            except OSError:
                break
            remaining -= len(block)
    return filler


def empty(db, *tables: str) -> None:
    """TRUNCATE ``tables`` (schema-qualified) as the admin, to replay a scenario from the same start."""
    with db.connect(Role.admin, direct=True, autocommit=True) as conn:
        conn.execute(sql.SQL("TRUNCATE {} CASCADE").format(
            sql.SQL(", ").join(sql.Identifier(*t.split(".")) for t in tables)))
