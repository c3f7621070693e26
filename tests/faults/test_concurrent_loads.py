"""Two loads of the same partition at once (two threads, two connections): the second waits for the
first's per-symbol lock, then replaces its rows, so the table ends exactly as after one load.

The overlap is forced, not hoped for: the test holds a lock that stops the first load's DELETE, starts
the second once the first is seen waiting, and lets both go once the second waits on the first.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
from ops_support import SYMBOLS, minute_bars
from stack_faults import BackendKiller, HeldLock, empty, fingerprints

from stockula_pipelines.lib.ingest import LoadResult, load_window
from stockula_pipelines.settings import Role

pytestmark = [pytest.mark.integration, pytest.mark.faults]

START = datetime(2024, 3, 7, 14, 30, tzinfo=UTC)
WINDOW = (START, START + timedelta(hours=4))
TABLES = ["market.price_history", "quality.quarantine"]


def _load(db, frame, application_name: str = "test") -> LoadResult:
    with psycopg.connect(db.dsn(Role.writer, direct=True), application_name=application_name,
                         prepare_threshold=None) as conn:
        return load_window(conn, "price_history", frame, window=WINDOW, symbols=SYMBOLS, source="test",
                           partition_key="2024-03-07")


def test_two_loads_of_the_same_partition_at_once_equal_one_load(clean_db):
    stored, frame = minute_bars(START, 50, seed=70), minute_bars(START, 120, seed=71)
    _load(clean_db, stored)
    _load(clean_db, frame)
    with clean_db.connect(Role.admin, direct=True) as conn:
        one_load = fingerprints(conn, TABLES)
    empty(clean_db, *TABLES, "ops.ingest_log")
    _load(clean_db, stored)

    admin = clean_db.dsn(Role.admin, direct=True)
    blocker = HeldLock(admin, "LOCK TABLE market.price_history IN SHARE MODE")
    results: dict[str, LoadResult] = {}
    errors: list[BaseException] = []

    def load(name: str) -> None:
        try:
            results[name] = _load(clean_db, frame, application_name=name)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    first = threading.Thread(target=load, args=("load-first",))
    second = threading.Thread(target=load, args=("load-second",))
    try:
        first.start()
        BackendKiller(admin, clean_db.name, query_like="%DELETE FROM%", application_name="load-first",
                      waiting=True, terminate=False).wait()
        second.start()
        waiting = BackendKiller(admin, clean_db.name, query_like="%pg_advisory_xact_lock%",
                                application_name="load-second", waiting=True, terminate=False).wait()
        assert waiting.wait_event_type == "Lock"  # on the first load's per-symbol lock
    finally:
        blocker.release()
        first.join(60)
        second.join(60)
    assert not errors, errors
    assert results["load-first"].rows_deleted == stored.height  # the first replaced what was stored,
    assert results["load-first"].rows_loaded == frame.height
    # The second found exactly its rows stored by the first: it compared them and wrote nothing.
    second = results["load-second"]
    assert (second.rows_deleted, second.rows_loaded, second.rows_unchanged) == (0, 0, frame.height)
    with clean_db.connect(Role.admin, direct=True) as conn:
        assert fingerprints(conn, TABLES) == one_load
        assert conn.execute("SELECT count(*) FROM ops.ingest_log").fetchone() == (3,)
