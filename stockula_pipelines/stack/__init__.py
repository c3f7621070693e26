"""The local stack (PostgreSQL + TimescaleDB, PgBouncer, Redis, Prometheus, postgres_exporter) as
native processes under ``settings.stack_dir``. Pure Python: no Dagster import."""

from .errors import PortInUseError, StackError
from .stack import ServiceStatus, StackInfo, drop_replica, stack_down, stack_status, stack_up

__all__ = ["PortInUseError", "ServiceStatus", "StackError", "StackInfo", "drop_replica", "stack_down", "stack_status", "stack_up"]
