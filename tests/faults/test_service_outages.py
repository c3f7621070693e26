"""Services of the stack going away under real materialisations (``dg.materialize`` of the ingestion
assets on the synthetic source, against the test database through PgBouncer):

* PostgreSQL restarted (``pg_ctl stop -m fast`` and ``-m immediate``, then started as the stack does)
  while a load is in its transaction: the step's retry on a lost connection
  (``defs/retries.py``) completes the run, with exactly the rows of an undisturbed run;
* PgBouncer stopped: the run fails within the pool timeout, saying "PgBouncer", host and port; once
  it is back the next run succeeds;
* Redis stopped under a yfinance-shaped load: the response cache is bypassed with a warning and the
  load completes.

Each fault brings its service back in a ``finally`` (``stockula stack up``), so later tests find the
stack as it was.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import dagster as dg
import pytest
from fixtures.dagster_results import failure_messages
from stack_faults import (
    BackendKiller,
    HeldLock,
    empty,
    fingerprints,
    postmaster_pid,
    restart_postgres,
    service_stopped,
    statuses,
)

from stockula_pipelines.defs import retries
from stockula_pipelines.defs.market_data.assets import price_history, stocks
from stockula_pipelines.resources.market_data import MarketDataResource
from stockula_pipelines.resources.timescale import CONNECT_TIMEOUT_S, DatabaseUnreachable, TimescaleResource
from stockula_pipelines.settings import Role

pytestmark = [pytest.mark.integration, pytest.mark.faults]

DAY = "2024-07-05"
UNIVERSE = 4
# The stocks' upsert logs the instant it ran as its window: the bars' loads are compared, not it.
TABLES = {"market.stocks": "TRUE", "market.price_history": "TRUE", "quality.quarantine": "TRUE",
          "ops.ingest_log": "table_name = 'price_history'"}
PH = dg.AssetKey(["market", "price_history"])


def _resources(db, market_data: MarketDataResource | None = None, **timescale) -> dict:
    return {
        "timescale": TimescaleResource(dsn=db.dsn(Role.writer), **timescale),
        "market_data": market_data or MarketDataResource(source="synthetic", universe_size=UNIVERSE,
                                                         retry_delay_seconds=0),
    }


def _run(db, selection: str, partition_key: str | None = None, **kw) -> dg.ExecuteInProcessResult:
    resources = kw.pop("resources", None) or _resources(db)
    return dg.materialize([stocks, price_history], selection=[selection], partition_key=partition_key,
                          resources=resources, raise_on_error=False, **kw)


def _state(db) -> dict[str, tuple[int, str]]:
    with db.connect(Role.admin, direct=True) as conn:
        return fingerprints(conn, TABLES)


def _undisturbed(db) -> dict[str, tuple[int, str]]:
    """The day loaded on a quiet stack; then its bars, quarantine and log rows removed again."""
    assert _run(db, "market/stocks").success
    assert _run(db, "market/price_history", DAY).success
    reference = _state(db)
    assert reference["market.price_history"][0] == UNIVERSE and reference["ops.ingest_log"][0] == 1
    empty(db, "market.price_history", "quality.quarantine")
    with db.connect(Role.admin, direct=True) as conn:
        conn.execute("DELETE FROM ops.ingest_log WHERE table_name = 'price_history'")
    return reference


def _failure_text(result: dg.ExecuteInProcessResult) -> str:
    return " | ".join(failure_messages(result))


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_restarted_under_a_load_is_retried_to_the_undisturbed_rows(clean_db, mode):
    reference = _undisturbed(clean_db)
    pid_before = postmaster_pid(clean_db.settings)
    # The load's DELETE waits on this lock; once the watcher sees it waiting, the server restarts
    # under the open transaction (the lock's own session dies with it).
    blocker = HeldLock(clean_db.dsn(Role.admin, direct=True), "LOCK TABLE market.price_history IN SHARE MODE")
    watcher = BackendKiller(clean_db.dsn(Role.admin, direct=True), clean_db.name, query_like="%DELETE FROM%",
                            waiting=True, terminate=False)  # only watch: the restart is the fault
    restart_error: list[BaseException] = []

    def restart_when_seen() -> None:
        try:
            watcher.wait()
            restart_postgres(clean_db.settings, mode)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            restart_error.append(exc)
        finally:
            blocker.release()

    restarter = threading.Thread(target=restart_when_seen, daemon=True)
    restarter.start()
    try:
        result = _run(clean_db, "market/price_history", DAY)
    finally:
        restarter.join(120)
        blocker.release()
    assert not restart_error, restart_error
    assert postmaster_pid(clean_db.settings) != pid_before and all(statuses(clean_db.settings).values())
    assert result.success, _failure_text(result)
    retried = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert len(retried) >= 1
    assert len([e for e in result.get_asset_materialization_events() if e.asset_key == PH]) == 1
    assert _state(clean_db) == reference  # nothing lost, nothing twice (the ingest log included)


def test_pgbouncer_down_fails_within_the_pool_timeout_naming_it(clean_db, monkeypatch):
    # Shorter than production so the test stays quick: one retry after 0.5 s.
    monkeypatch.setattr(retries, "MAX_RETRIES", 1)
    monkeypatch.setattr(retries, "BASE_DELAY_SECONDS", 0.5)
    assert _run(clean_db, "market/stocks").success
    settings = clean_db.settings
    with service_stopped(settings, "pgbouncer"):
        result = _run(clean_db, "market/price_history", DAY, resources=_resources(clean_db, pool_timeout_s=3))
        # Outside Dagster the same resource raises the same error type; every connection it opens has
        # libpq's connect_timeout, so a PgBouncer that accepts but never answers is bounded too.
        resource = TimescaleResource(dsn=clean_db.dsn(Role.writer), pool_timeout_s=1)
        try:
            with pytest.raises(DatabaseUnreachable) as direct, resource.connection():
                pass
            assert resource._pool is not None and resource._pool.kwargs["connect_timeout"] == CONNECT_TIMEOUT_S
        finally:
            resource.close()
    assert not result.success
    text = _failure_text(result)
    where = f"PgBouncer at {settings.pgbouncer_host}:{settings.pgbouncer_port}"
    assert where in text and "Connection refused" in text, text
    assert where in str(direct.value) and f"user {settings.writer_user}" in str(direct.value)
    assert settings.password_for(Role.writer) not in text + str(direct.value)
    # Bounded, not hung: each of the two attempts gave up after its pool_timeout_s.
    assert "within 3s" in text and "within 1s" in str(direct.value)
    assert [e.event_type for e in result.all_events].count(dg.DagsterEventType.STEP_UP_FOR_RETRY) == 1

    assert _run(clean_db, "market/price_history", DAY).success  # PgBouncer is back
    with clean_db.connect(Role.admin, direct=True) as conn:
        assert conn.execute("SELECT count(*) FROM market.price_history").fetchone() == (UNIVERSE,)


# --- Redis ---------------------------------------------------------------------------------------------
ROWS = [("2024-07-03", 220.0, 221.5, 219.1, 221.0, 37_000_000),
        ("2024-07-05", 221.6, 226.4, 221.6, 226.3, 60_000_000)]


class CachedFakeYahoo(MarketDataResource):
    """yfinance's code path (cache included) over a fake Yahoo, the cache in the stack's own Redis."""

    def get_source(self):
        from fixtures.fake_yfinance import FakeYFinance, daily_frame

        from stockula_pipelines.lib.cache import ResponseCache
        from stockula_pipelines.lib.sources.yfinance_source import YFinanceSource

        fake = FakeYFinance()
        for symbol in ("AAPL", "MSFT"):
            fake.histories[(symbol, "1d")] = daily_frame(ROWS)
        settings = self.resolved_settings()
        cache = ResponseCache.from_url(settings.redis_url, 60, prefix=f"test:faults:{time.time_ns()}:")
        return YFinanceSource(yf_module=fake, cache=cache, symbols=["AAPL", "MSFT"], sleep=lambda _s: None,
                              clock=lambda: datetime(2024, 7, 6, 12, tzinfo=UTC))


def _known_stocks(db) -> None:
    with db.connect(Role.admin, direct=True) as conn:
        conn.execute("INSERT INTO market.stocks (symbol, name, source) VALUES ('AAPL', 'Apple', 'test'), "
                     "('MSFT', 'Microsoft', 'test')")


def test_redis_down_bypasses_the_cache_with_a_warning_and_the_load_completes(clean_db, caplog):
    _known_stocks(clean_db)
    yahoo = CachedFakeYahoo(source="yfinance", retry_delay_seconds=0)
    resources = _resources(clean_db, market_data=yahoo)
    assert _run(clean_db, "market/price_history", DAY, resources=resources).success  # Redis up
    with clean_db.connect(Role.admin, direct=True) as conn:
        reference = fingerprints(conn, ["market.price_history"])
    assert reference["market.price_history"][0] == 2
    empty(clean_db, "market.price_history")

    with service_stopped(clean_db.settings, "redis"), caplog.at_level(logging.WARNING, "stockula_pipelines.lib.cache"):
        result = _run(clean_db, "market/price_history", DAY, resources=resources)
    assert result.success, _failure_text(result)
    warnings = [r.getMessage() for r in caplog.records if r.name == "stockula_pipelines.lib.cache"]
    assert any("response cache unavailable" in w and "fetching without it" in w for w in warnings), warnings
    with clean_db.connect(Role.admin, direct=True) as conn:
        assert fingerprints(conn, ["market.price_history"]) == reference
