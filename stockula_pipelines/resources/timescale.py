"""Dagster resource for the TimescaleDB database: pooled connections as the writer, and the server's
capabilities. It hands out connections; what runs on them (the loader, the refreshes, the checks)
lives in ``lib/`` and takes a connection, so nothing here mirrors their signatures.

Nothing connects or reads settings until first use, so building Definitions needs no database.
Connections never prepare statements server-side (``prepare_threshold=None``): behind PgBouncer in
transaction mode consecutive statements may land on different server sessions, and psycopg's
automatic preparation would then fail with "prepared statement does not exist".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from dagster import ConfigurableResource, InitResourceContext
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool, PoolTimeout
from pydantic import Field, PrivateAttr

from stockula_pipelines.lib.db.capabilities import Capabilities, detect
from stockula_pipelines.settings import Role, get_settings

CONNECT_TIMEOUT_S = 10  # libpq's connect_timeout: a server that accepts but never answers costs this, not forever
_CONNECT_KWARGS = {"prepare_threshold": None, "connect_timeout": CONNECT_TIMEOUT_S}


class DatabaseUnreachable(psycopg.OperationalError):
    """No connection to PgBouncer or PostgreSQL in time; the message says which, where, and why."""


class TimescaleResource(ConfigurableResource):
    """The market-data database as the writer role; through PgBouncer by default."""

    dsn: str | None = Field(default=None, description="libpq URI; default the writer DSN from settings")
    pool_min_size: int | None = Field(default=None, description="default STOCKULA_POOL_MIN_SIZE")
    pool_max_size: int | None = Field(default=None, description="default STOCKULA_POOL_MAX_SIZE")
    pool_timeout_s: float = Field(default=30.0, description="seconds to wait for a free connection")

    _pool: ConnectionPool | None = PrivateAttr(default=None)
    _capabilities: Capabilities | None = PrivateAttr(default=None)

    # --- connections ---------------------------------------------------------------------------
    def resolved_dsn(self) -> str:
        return self.dsn or get_settings().dsn(Role.writer)

    def through_pgbouncer(self) -> bool:
        return get_settings().through_pgbouncer(self.resolved_dsn())

    def _get_pool(self) -> ConnectionPool:
        if self._pool is None:
            settings = get_settings()
            min_size = self.pool_min_size if self.pool_min_size is not None else settings.pool_min_size
            max_size = self.pool_max_size if self.pool_max_size is not None else settings.pool_max_size
            pool = ConnectionPool(
                self.resolved_dsn(),
                min_size=min_size,
                max_size=max(max_size, min_size),
                kwargs=dict(_CONNECT_KWARGS),
                timeout=self.pool_timeout_s,
                name="stockula-timescale",
                open=False,
            )
            pool.open(wait=False)
            self._pool = pool
        return self._pool

    def _unreachable(self, waited: float, reason: str | None = None) -> DatabaseUnreachable | None:
        """Say which server, where and why; ``reason`` None: find it with one more attempt (None back when
        that attempt connects: the pool was merely exhausted)."""
        dsn = self.resolved_dsn()
        if reason is None:
            try:
                psycopg.connect(dsn, **_CONNECT_KWARGS).close()
                return None
            except psycopg.Error as exc:
                reason = str(exc)
        params = conninfo_to_dict(dsn)
        what = "PgBouncer" if self.through_pgbouncer() else "PostgreSQL"
        # libpq's messages name host and port, never the password.
        return DatabaseUnreachable(
            f"cannot reach {what} at {params.get('host')}:{params.get('port')} (database {params.get('dbname')}, "
            f"user {params.get('user')}) within {waited:.0f}s: {' '.join(reason.split())}")

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection; a transaction left open is committed on clean exit, else rolled back.

        No connection within ``pool_timeout_s`` raises :class:`DatabaseUnreachable`.
        """
        acquired = False
        try:
            with self._get_pool().connection() as conn:
                acquired = True
                yield conn
        except PoolTimeout as exc:
            unreachable = None if acquired else self._unreachable(self.pool_timeout_s)
            if unreachable is None:  # the caller's own code raised it, or every connection was busy
                raise
            raise unreachable from exc

    @contextmanager
    def autocommit_connection(self) -> Iterator[psycopg.Connection]:
        """A dedicated autocommit connection for statements that refuse a transaction block.

        VACUUM, CREATE INDEX CONCURRENTLY and refresh_continuous_aggregate() cannot run inside a
        transaction. It is not pooled, so the pool's connections never change mode.
        """
        try:
            conn = psycopg.connect(self.resolved_dsn(), autocommit=True, **_CONNECT_KWARGS)
        except psycopg.OperationalError as exc:
            raise self._unreachable(CONNECT_TIMEOUT_S, str(exc)) from exc  # type: ignore[misc]
        with conn:
            yield conn

    def capabilities(self) -> Capabilities:
        if self._capabilities is None:
            with self.connection() as conn:
                self._capabilities = detect(conn)
        return self._capabilities

    # --- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        self.close()
