"""One typed settings object, read from ``STOCKULA_*`` variables.

Nothing here runs at import time: call :func:`get_settings` when a value is needed. Values come, in
order of precedence, from the process environment, then ``.env`` in the project directory, then the
file the local stack writes (``.stack/stack.env``, which holds the generated passwords). There are no
default passwords: a DSN asked for without its password raises :class:`SettingsError` naming the
variable to set.
"""

from __future__ import annotations

import os
from datetime import date
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent


class SettingsError(RuntimeError):
    """A setting is missing or invalid; the message names the variable to fix."""


class Role(StrEnum):
    admin = "admin"
    writer = "writer"
    analyst = "analyst"
    backup = "backup"
    monitor = "monitor"
    dagster = "dagster"  # Dagster's own run/event/schedule storage, owner of its database only
    # --- read replica (issue 15) ---
    replicator = "replicator"  # REPLICATION LOGIN only: the standby's base backup and WAL stream


def project_dir() -> Path:
    """The checkout the package runs from (``STOCKULA_HOME`` overrides it)."""
    home = os.environ.get("STOCKULA_HOME")
    return Path(home).resolve() if home else PACKAGE_DIR.parent


def _env_files() -> tuple[Path, ...]:
    root = project_dir()
    stack_dir = Path(os.environ.get("STOCKULA_STACK_DIR", root / ".stack"))
    # Later files win in pydantic-settings; the process environment beats both.
    return (stack_dir / "stack.env", root / ".env")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="STOCKULA_", extra="ignore", case_sensitive=False)

    # --- where the local stack lives -------------------------------------------------------------
    stack_dir: Path = Field(default_factory=lambda: project_dir() / ".stack")
    cache_dir: Path = Field(default_factory=lambda: Path.home() / ".cache" / "stockula")

    # --- PostgreSQL / TimescaleDB ----------------------------------------------------------------
    pg_host: str = "127.0.0.1"
    pg_port: int = 55432
    pgbouncer_host: str = "127.0.0.1"
    pgbouncer_port: int = 56432
    db_name: str = "stockula"
    dagster_db_name: str = "dagster"
    use_pgbouncer: bool = True
    # An explicit writer DSN wins over host/port/user/password (e.g. a managed database).
    database_url: SecretStr | None = None

    admin_user: str = "stockula_admin"
    writer_user: str = "stockula_writer"
    analyst_user: str = "stockula_analyst"
    backup_user: str = "stockula_backup"
    monitor_user: str = "stockula_monitor"
    dagster_user: str = "stockula_dagster"
    admin_password: SecretStr | None = None
    writer_password: SecretStr | None = None
    analyst_password: SecretStr | None = None
    backup_password: SecretStr | None = None
    monitor_password: SecretStr | None = None
    dagster_password: SecretStr | None = None
    # PgBouncer's console (SHOW POOLS, RECONNECT): an identity of PgBouncer's own auth file only; no
    # PostgreSQL role has this name, and PgBouncer's hba lets it reach nothing but the console.
    pgbouncer_admin_user: str = "stockula_pgbouncer"
    pgbouncer_admin_password: SecretStr | None = None

    # --- read replica (issue 15; docs/replica.md) ----------------------------------------------------
    # `stockula stack up` also runs a streaming standby (pg_basebackup + hot_standby) on replica_port.
    replica: bool = False
    replica_host: str = "127.0.0.1"
    replica_port: int = 55433
    # The analysts' DSN (Settings.dsn(Role.analyst)) goes straight to the standby; the writer stays on
    # the primary.
    analyst_use_replica: bool = False
    replicator_user: str = "stockula_replicator"
    replicator_password: SecretStr | None = None
    # --- end read replica -------------------------------------------------------------------------------

    pool_min_size: int = 1
    pool_max_size: int = 4

    # PostgreSQL tuning (the origin stack's TS_TUNE_*); empty = derive from the machine.
    tune_memory: str | None = None
    tune_num_cpus: int | None = None
    tune_max_conns: int = 100

    # --- other services of the stack ---------------------------------------------------------------
    redis_host: str = "127.0.0.1"
    redis_port: int = 56379
    # Redis's ACL user for the response cache (the default user is disabled).
    redis_user: str = "stockula"
    redis_password: SecretStr | None = None
    prometheus_port: int = 59090
    postgres_exporter_port: int = 59187
    grafana_port: int = 53000
    # Grafana's `admin` sign-in (compose stack only; generated into stack.env with the other secrets).
    grafana_admin_password: SecretStr | None = None
    dagster_webserver_port: int = 53070

    # --- executors and Celery's broker (issue 15; docs/executors.md) ------------------------------------
    # The executor of every job: "multiprocess" (default), "in_process", "celery" or "k8s".
    executor: Literal["multiprocess", "in_process", "celery", "k8s"] = "multiprocess"
    # Celery's broker and result backend: a Redis instance of its own (noeviction, its own memory budget),
    # never the cache's LRU Redis, which may evict a queued task. Its ACL user has no access to the cache.
    broker_redis_host: str = "127.0.0.1"
    broker_redis_port: int = 56380
    broker_redis_user: str = "stockula_celery"
    broker_redis_password: SecretStr | None = None
    celery_broker_db: int = 0
    celery_result_db: int = 1
    # Celery deletes a step's stored result (its serialised events) after this many seconds; the run
    # reads it as soon as the step ends.
    celery_result_expires_seconds: int = 3600
    # A task a worker took but has not acknowledged (acks_late: until its step ended) goes back to the
    # queue after this long, so it must exceed the longest step.
    celery_visibility_timeout_seconds: int = 12 * 3600

    # --- market data ---------------------------------------------------------------------------------
    source: Literal["synthetic", "files", "yfinance"] = "synthetic"
    symbols: list[str] | None = None  # None = the source's whole universe
    synthetic_seed: int = 42
    synthetic_universe_size: int = 50
    files_dir: Path | None = None
    exchange: str = "XNYS"
    # Where the daily and monthly partitions begin (and the synthetic source's history). Read when the
    # code location loads: it shapes the partitions, so changing it needs a reload of the location.
    history_start: date = date(2000, 1, 3)
    # Intraday partitions begin at the later of this and history_start: Yahoo keeps 60 days of 5-minute
    # bars, and every intraday key costs Dagster time (47k keys since 2000 take ~10 s to list).
    intraday_history_start: date = date(2025, 1, 2)
    # The files source's Yahoo layout is split-adjusted, as Yahoo's exports are; false = raw files.
    files_split_adjusted: bool = True
    # Bars of a range run are fetched and loaded in batches of symbols holding about this many rows, so a
    # backfill's memory does not grow with its range (about 0.5 KB per row in flight).
    load_batch_rows: int = 250_000
    cache_ttl_seconds: int = 6 * 3600
    yfinance_max_retries: int = 5
    # The daily and hourly aggregates read the 5-minute bars (sql/0008): another interval loads, but
    # feeds no aggregate.
    intraday_interval: str = "5m"

    # --- data quality ----------------------------------------------------------------------------------
    # How the great-expectations suites are evaluated: "compiled" renders each suite as one SQL
    # statement per window (milliseconds); "great_expectations" runs GE's own validator (the
    # reference, ~0.2-0.6 s per window plus seconds of import per process).
    quality_engine: Literal["compiled", "great_expectations"] = "compiled"

    # --- automation ---------------------------------------------------------------------------------
    # Whether the schedules and sensors (and the automation sensor that runs everything downstream of
    # the loads) start RUNNING when the code location is first loaded. Off for a laptop's `make ui`, on
    # for the compose deployment; either way each can be toggled in the UI (Automation page).
    automation_running: bool = False

    # --- analytics -------------------------------------------------------------------------------------
    risk_free_rate: float = 0.04
    volatility_window: int = 21
    # Share of a snapshot's contracts left without an implied volatility above which a WARN check fails.
    max_unsolved_iv_share: float = 0.10

    # --- demo ---------------------------------------------------------------------------------------------
    demo_trading_days: int = 65  # three months: enough for the 21-day volatility to fill

    # --- operations: backups, drills, maintenance, alerts ------------------------------------------------
    # The pgBackRest repository's encryption passphrase (generated into stack.env by `stockula stack up`).
    backup_cipher_pass: SecretStr | None = None
    backup_dir: Path | None = None  # default <stack_dir>/backups
    backup_stanza: str = "stockula"
    backup_retention_full: int = 2  # pgBackRest keeps this many full backups (and their incrementals)
    force_full_backup: bool = False  # the origin's FORCE_FULL_BACKUP: the next physical backup is full
    backup_logical_retention: int = 7  # logical dumps kept; the last verified one is never deleted
    # Scratch clusters of restores and drills take a free port in this range.
    backup_scratch_ports: str = "55600-55699"
    backup_max_age_hours: float = 26.0  # the last good backup older than this alerts
    drill_max_age_hours: float = 8 * 24.0  # the weekly drill, plus a day of slack
    alert_webhook_url: SecretStr | None = None  # alerts are POSTed here as JSON, and always logged
    health_connections_warn: float = 0.80
    health_connections_critical: float = 0.95
    health_long_query_seconds: float = 3600.0
    health_disk_free_min: float = 0.05
    health_compression_ratio_min: float = 0.50
    # A table loaded before but not within this many hours alerts (stocks reload weekly; the rest nightly,
    # and four days cover a holiday weekend).
    freshness_max_age_hours: dict[str, float] = Field(default_factory=lambda: {
        "price_history": 96.0, "options_calls": 96.0, "options_puts": 96.0, "dividends": 96.0, "splits": 96.0,
        "stocks": 8 * 24.0})
    # Option snapshots older than this are dropped by the maintenance job (drop_chunks on Apache).
    retention_options_days: int = 730

    @field_validator("symbols", mode="before")
    @classmethod
    def _split_symbols(cls, value: object) -> object:
        if isinstance(value, str):
            return [s.strip().upper() for s in value.split(",") if s.strip()]
        return value

    # --- DSNs ---------------------------------------------------------------------------------------------
    def user_for(self, role: Role | str) -> str:
        return getattr(self, f"{Role(role).value}_user")

    def password_for(self, role: Role | str) -> str:
        role = Role(role)
        return self.secret(f"{role.value}_password", f"the {role.value} role")

    def secret(self, field: str, what: str | None = None) -> str:
        """The value of the secret setting ``field``; a missing one raises naming the variable."""
        value: SecretStr | None = getattr(self, field)
        if value is None or not value.get_secret_value():
            raise SettingsError(
                f"no password for {what or field}: set STOCKULA_{field.upper()} "
                f"(or run `stockula stack up`, which generates one into {self.stack_dir / 'stack.env'})"
            )
        return value.get_secret_value()

    def dsn(self, role: Role | str = Role.writer, *, direct: bool = False, dbname: str | None = None) -> str:
        """A libpq URI for ``role``; through PgBouncer unless ``direct`` or PgBouncer is off. The analyst
        goes to the read replica instead when ``analyst_use_replica`` is set."""
        role = Role(role)
        if role is Role.writer and self.database_url is not None and dbname is None:
            return self.database_url.get_secret_value()
        via_bouncer = self.use_pgbouncer and not direct and role in (Role.writer, Role.analyst)
        host, port = (self.pgbouncer_host, self.pgbouncer_port) if via_bouncer else (self.pg_host, self.pg_port)
        if role is Role.analyst and self.analyst_use_replica:  # read replica (issue 15): no pooler there
            host, port = self.replica_host, self.replica_port
        user = quote(self.user_for(role), safe="")
        password = quote(self.password_for(role), safe="")
        default_db = self.dagster_db_name if role is Role.dagster else self.db_name
        return f"postgresql://{user}:{password}@{host}:{port}/{dbname or default_db}"

    def through_pgbouncer(self, dsn: str) -> bool:
        return f":{self.pgbouncer_port}/" in dsn

    @property
    def backup_root(self) -> Path:
        return Path(self.backup_dir) if self.backup_dir else Path(self.stack_dir) / "backups"

    @property
    def redis_url(self) -> str:
        """The cache's Redis URL, signed in as the ACL user (a URL without credentials when no password
        is configured: such a server refuses it, and the cache is bypassed with a warning)."""
        if self.redis_password is None or not self.redis_password.get_secret_value():
            return f"redis://{self.redis_host}:{self.redis_port}/0"
        user = quote(self.redis_user, safe="")
        password = quote(self.redis_password.get_secret_value(), safe="")
        return f"redis://{user}:{password}@{self.redis_host}:{self.redis_port}/0"


    def celery_redis_url(self, db: int) -> str:
        """Celery's Redis (database ``db``) signed in as its ACL user. Secret: never log or show it."""
        user = quote(self.broker_redis_user, safe="")
        password = quote(self.secret("broker_redis_password", "Celery's broker Redis"), safe="")
        return f"redis://{user}:{password}@{self.broker_redis_host}:{self.broker_redis_port}/{db}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    try:
        return Settings(_env_file=_env_files())  # type: ignore[call-arg]
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise SettingsError(f"invalid STOCKULA_* setting: {exc}") from exc


def reload_settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()
