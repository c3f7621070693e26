"""Maintenance never overlaps a load: one task at a time (a session advisory lock), and each waits
until no load, refresh or migration holds its advisory lock. The Dagster jobs also sit in the loads'
concurrency pool, so the scheduler does not start them side by side in the first place."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from .sqlfiles import load_sql


class MaintenanceBusy(RuntimeError):
    """Another maintenance task, or a load, kept the database busy past the wait."""


@contextmanager
def exclusive(conn: psycopg.Connection, *, wait_seconds: float = 600.0, poll: float = 1.0) -> Iterator[None]:
    """Hold the maintenance lock on ``conn`` (autocommit) once no load is running."""
    deadline = time.monotonic() + wait_seconds
    while not conn.execute(load_sql("try_maintenance_lock.sql")).fetchone()[0]:  # type: ignore[index]
        if time.monotonic() > deadline:
            raise MaintenanceBusy("another maintenance task is running; try again when it has finished")
        time.sleep(poll)
    try:
        while conn.execute(load_sql("count_load_locks.sql")).fetchone()[0]:  # type: ignore[index]
            if time.monotonic() > deadline:
                raise MaintenanceBusy(f"a load kept running for {wait_seconds:.0f}s; maintenance did not start")
            time.sleep(poll)
        yield
    finally:
        conn.execute(load_sql("release_maintenance_lock.sql"))
