"""Dagster resource for the TimescaleDB database: a connection pool plus the loader (``lib/ingest``).

Nothing connects or reads settings until first use, so building Definitions needs no database.
Connections never prepare statements server-side (``prepare_threshold=None``): behind PgBouncer in
transaction mode consecutive statements may land on different server sessions, and psycopg's
automatic preparation would then fail with "prepared statement does not exist".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

import polars as pl
import psycopg
from dagster import ConfigurableResource, InitResourceContext
from psycopg_pool import ConnectionPool
from pydantic import Field, PrivateAttr

from stockula_pipelines.lib.db.capabilities import Capabilities, detect
from stockula_pipelines.lib.ingest import LoadResult, load_window, upsert
from stockula_pipelines.lib.ingest.copy import BatchHook
from stockula_pipelines.settings import Role, get_settings

_CONNECT_KWARGS = {"prepare_threshold": None}


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

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection; a transaction left open is committed on clean exit, else rolled back."""
        with self._get_pool().connection() as conn:
            yield conn

    @contextmanager
    def autocommit_connection(self) -> Iterator[psycopg.Connection]:
        """A dedicated autocommit connection for statements that refuse a transaction block.

        VACUUM, CREATE INDEX CONCURRENTLY and refresh_continuous_aggregate() cannot run inside a
        transaction. It is not pooled, so the pool's connections never change mode.
        """
        with psycopg.connect(self.resolved_dsn(), autocommit=True, **_CONNECT_KWARGS) as conn:
            yield conn

    def capabilities(self) -> Capabilities:
        if self._capabilities is None:
            with self.connection() as conn:
                self._capabilities = detect(conn)
        return self._capabilities

    # --- loading ---------------------------------------------------------------------------------
    def load_window(
        self,
        table: str,
        frame: pl.DataFrame,
        *,
        window: tuple[datetime, datetime],
        symbols: Sequence[str],
        source: str,
        interval: str | None = None,
        rejected: pl.DataFrame | None = None,
        run_id: str | None = None,
        partition_key: str | None = None,
        batch_rows: int = 250_000,
        on_batch: BatchHook | None = None,
        skipped: Sequence[str] = (),
    ) -> LoadResult:
        """See :func:`stockula_pipelines.lib.ingest.load_window`; commits before returning."""
        with self.connection() as conn:
            return load_window(
                conn, table, frame, window=window, symbols=symbols, source=source, interval=interval,
                rejected=rejected, run_id=run_id, partition_key=partition_key, batch_rows=batch_rows,
                on_batch=on_batch, skipped=skipped,
            )

    def upsert(
        self,
        table: str,
        frame: pl.DataFrame,
        *,
        source: str,
        window: tuple[datetime, datetime] | None = None,
        rejected: pl.DataFrame | None = None,
        run_id: str | None = None,
        partition_key: str | None = None,
        batch_rows: int = 250_000,
    ) -> LoadResult:
        """See :func:`stockula_pipelines.lib.ingest.upsert`; commits before returning."""
        with self.connection() as conn:
            return upsert(
                conn, table, frame, source=source, window=window, rejected=rejected, run_id=run_id,
                partition_key=partition_key, batch_rows=batch_rows,
            )

    # --- lifecycle -------------------------------------------------------------------------------
    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        self.close()
