"""Maintenance never overlaps a load: one task at a time (a session advisory lock), and each waits
until no load, refresh or migration holds its advisory lock. The Dagster jobs also sit in the loads'
concurrency pool, so the scheduler does not start them side by side in the first place."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

# Loads, refreshes and migrations hold 64-bit advisory locks (objsubid 1) while they write;
# maintenance waits until no other session holds one.
_COUNT_LOAD_LOCKS = """
SELECT count(*)
FROM pg_locks
WHERE locktype = 'advisory' AND objsubid = 1 AND granted AND pid <> pg_backend_pid()
"""

_RELEASE_MAINTENANCE_LOCK = "SELECT pg_advisory_unlock(hashtextextended('stockula-maintenance', 0))"

# One maintenance task at a time (session lock; "stockula-maintenance").
_TRY_MAINTENANCE_LOCK = "SELECT pg_try_advisory_lock(hashtextextended('stockula-maintenance', 0))"


class MaintenanceBusy(RuntimeError):
    """Another maintenance task, or a load, kept the database busy past the wait."""


@contextmanager
def exclusive(conn: psycopg.Connection, *, wait_seconds: float = 600.0, poll: float = 1.0) -> Iterator[None]:
    """Hold the maintenance lock on ``conn`` (autocommit) once no load is running."""
    deadline = time.monotonic() + wait_seconds
    while not conn.execute(_TRY_MAINTENANCE_LOCK).fetchone()[0]:  # type: ignore[index]
        if time.monotonic() > deadline:
            raise MaintenanceBusy("another maintenance task is running; try again when it has finished")
        time.sleep(poll)
    try:
        while conn.execute(_COUNT_LOAD_LOCKS).fetchone()[0]:  # type: ignore[index]
            if time.monotonic() > deadline:
                raise MaintenanceBusy(f"a load kept running for {wait_seconds:.0f}s; maintenance did not start")
            time.sleep(poll)
        yield
    finally:
        conn.execute(_RELEASE_MAINTENANCE_LOCK)
