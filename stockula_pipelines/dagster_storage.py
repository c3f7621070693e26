"""Dagster's run, event and schedule storage in PostgreSQL, with a connection kept open per process.

dagster-postgres opens a new connection for every storage call (SQLAlchemy's ``NullPool``): a
password-authenticated connect costs about 4 ms here, and a range run of 1,259 daily partitions makes
several thousand calls (a planned event and a materialisation per partition, each with its index
writes), so connecting, not the data, set the pace of long backfills. This storage is dagster-postgres's
own, with one pooled connection per process (more only while threads overlap, closed again after),
checked with a ping before use so a restarted server costs a reconnect, not an error.

Configured in ``dagster.yaml``::

    storage:
      custom:
        module: stockula_pipelines.dagster_storage
        class: PooledPostgresStorage
        config:
          postgres_db: {hostname: ..., port: ..., username: ..., password: ..., db_name: ...}

The ``config`` is dagster-postgres's own (``storage: postgres:``), validated by the same schema. The
webserver replaces these engines with its own pooled ones, as it does for dagster-postgres.

Two more costs of a range run are cut here, without changing what is stored:

- a partitioned asset check's planned event is stored in a row per partition of the run, and each row
  held the whole event: the run's partition subset with the calendar's definition, every holiday since
  the history start (9 KB for 2021 onwards, 35 KB from 2000), serialised again for every row. A 5-year
  backfill's 8 checks wrote 10,000 such rows (90 MB, 20 s). Here each row holds the event without the
  subset, serialised once: the row's ``partition`` column says which partition it plans, nothing reads
  the subset back from these rows (the UI reads the check's name and key), and the event log keeps the
  one full event.
- the materialisations of a range run's partitions are written as one batch (Dagster's
  ``DAGSTER_EVENT_BATCH_SIZE``, set here unless the environment sets it) instead of one call each.
"""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy.pool as db_pool
from dagster._config.config_schema import UserConfigSchema
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus
from dagster._core.storage.config import pg_config
from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable
from dagster._serdes import ConfigurableClassData, serialize_value
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.storage import DagsterPostgresStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config
from dagster_shared.record import replace

# One connection per process is kept; threads that overlap (the daemon, sensors) borrow up to this many
# more, which are closed when returned.
POOL_SIZE = 1
POOL_OVERFLOW = 8
# Connections older than this are replaced, so a long-lived process follows server-side changes.
POOL_RECYCLE_S = 3600
# Materialisations of a range run written per call to the storage (Dagster reads the variable per event).
EVENT_BATCH_SIZE = "1000"
os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)


def pooled_engine(postgres_url: str, token_provider: Any = None):
    return create_pg_engine(
        postgres_url, token_provider, isolation_level="AUTOCOMMIT", poolclass=db_pool.QueuePool,
        pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW, pool_recycle=POOL_RECYCLE_S, pool_pre_ping=True,
    )


class PooledPostgresEventLogStorage(PostgresEventLogStorage):
    """dagster-postgres's event log whose planned check rows hold their event without the run's subset."""

    def _store_asset_check_evaluation_planned(self, event, event_id: int | None) -> None:
        dagster_event = event.get_dagster_event()
        planned = dagster_event.event_specific_data
        if planned.partitions_subset is None:
            super()._store_asset_check_evaluation_planned(event, event_id)
            return
        per_partition = replace(planned, partitions_subset=None)
        serialized = serialize_value(event._replace(dagster_event=dagster_event._replace(
            event_specific_data=per_partition)))
        timestamp = self._event_insert_timestamp(event)
        rows = [
            {"asset_key": planned.asset_key.to_string(), "check_name": planned.check_name, "partition": partition,
             "run_id": event.run_id, "execution_status": AssetCheckExecutionRecordStatus.PLANNED.value,
             "evaluation_event": serialized, "evaluation_event_timestamp": timestamp,
             "evaluation_event_storage_id": event_id}
            for partition in planned.partitions_subset.get_partition_keys()
        ]
        with self.index_connection() as conn:
            # executemany: one statement with a row of parameters each, not one statement of 10,000 rows
            # of literals for SQLAlchemy to compile.
            conn.execute(AssetCheckExecutionsTable.insert(), rows)


class PooledPostgresStorage(DagsterPostgresStorage):
    """dagster-postgres's storage whose three components share nothing but reuse their connections."""

    def __init__(self, postgres_url: str, should_autocreate_tables: bool = True,
                 inst_data: ConfigurableClassData | None = None, token_provider: Any = None):
        super().__init__(postgres_url, should_autocreate_tables, inst_data=inst_data, token_provider=token_provider)
        self._event_log_storage._engine.dispose()
        self._event_log_storage = PooledPostgresEventLogStorage(
            postgres_url, should_autocreate_tables, token_provider=token_provider)
        for component in (self._run_storage, self._event_log_storage, self._schedule_storage):
            component._engine.dispose()
            component._engine = pooled_engine(postgres_url, token_provider)

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return pg_config()

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData | None, config_value: Any) -> PooledPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )
