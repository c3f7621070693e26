"""The health report and the alerts it raises, with the origin's thresholds (configurable in settings):
connections over 80 % (warning) / 95 % (critical) of max_connections, queries running over an hour,
free disk under 5 %, compression ratio under 50 % where the edition compresses, stale backups/drills."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal

import psycopg

from stockula_pipelines.lib.db.sqlfiles import SqlFiles

_SQL = SqlFiles(__file__)


# Seconds since the newest good backup and the newest passed drill (NULL: never, or no ops tables yet).
_SELECT_BACKUP_AGES = """
SELECT extract(epoch FROM now() - (SELECT max(finished_at) FROM ops.backups WHERE status = 'complete'))::double precision,
       extract(epoch FROM now() - (SELECT max(verified_at) FROM ops.backup_verifications
                                   WHERE method = 'drill' AND passed))::double precision
"""

_SELECT_LICENSE = "SELECT current_setting('timescaledb.license', true)"

_SHOW_POOLS = "SHOW POOLS"


@dataclass(frozen=True)
class Alert:
    severity: str  # 'warning' or 'critical'
    name: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def jsonable(value: object) -> object:
    """Report values as JSON-ready plain types (timestamps as ISO text, numerics as floats)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


_SELECT_ARCHIVER = """
SELECT last_archived_wal, last_archived_time, last_failed_wal, last_failed_time, failed_count
FROM pg_stat_archiver
"""

_SELECT_CONNECTIONS = """
SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS connections,
       current_setting('max_connections')::int AS max_connections,
       current_setting('data_directory', true) AS data_directory
"""

# Through the SECURITY DEFINER function of sql/0011: the monitor role reads sizes, never rows.
_SELECT_HYPERTABLE_SIZES = """
SELECT hypertable, chunks AS num_chunks, total_bytes, compressed_chunks
FROM ops.metrics_hypertables()
ORDER BY total_bytes DESC
"""


def _rows(conn: psycopg.Connection, query: str, params: object = None) -> list[dict]:
    cur = conn.execute(query, params)
    names = [c.name for c in cur.description or []]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def disk_free_ratio(path: str | None) -> float | None:
    """Free fraction of the filesystem holding ``path``, when this machine can see it (local stack)."""
    if not path or not os.path.exists(path):
        return None
    stat = os.statvfs(path)
    return stat.f_bavail / stat.f_blocks if stat.f_blocks else None


def pgbouncer_pools(settings) -> list[dict] | None:
    """PgBouncer's pools (SHOW POOLS on its console, as its own admin identity), or None when it is not in use or
    cannot be asked. The console speaks only the simple query protocol: a client-side cursor."""
    if not settings.use_pgbouncer:
        return None
    try:
        from stockula_pipelines.stack.console import console_connection

        with console_connection(settings) as conn:
            cur = conn.execute(_SHOW_POOLS)
            names = [c.name for c in cur.description or []]
            keep = ("database", "user", "cl_active", "cl_waiting", "sv_active", "sv_idle", "maxwait")
            return [{k: v for k, v in zip(names, row, strict=True) if k in keep} for row in cur.fetchall()]
    except (psycopg.Error, RuntimeError):
        return None


def collect(conn: psycopg.Connection, settings) -> dict[str, object]:
    conns = _rows(conn, _SELECT_CONNECTIONS)[0]
    report: dict[str, object] = {
        "connections": conns["connections"], "max_connections": conns["max_connections"],
        "connections_ratio": conns["connections"] / conns["max_connections"],
        "long_or_blocked_queries": _rows(conn, _SQL.text("select_long_queries"),
                                         {"threshold": settings.health_long_query_seconds}),
        "disk_free_ratio": disk_free_ratio(conns["data_directory"]),
        "bloat": _rows(conn, _SQL.text("select_bloat")),
        "archiver": _rows(conn, _SELECT_ARCHIVER)[0],
    }
    report.update(_rows(conn, _SQL.text("select_database_stats"))[0])
    report["pgbouncer_pools"] = pgbouncer_pools(settings)
    try:
        report["hypertables"] = _rows(conn, _SELECT_HYPERTABLE_SIZES)
    except psycopg.Error:
        report["hypertables"] = []
    try:
        report["freshness"] = _rows(conn, _SQL.text("select_freshness"))
    except (psycopg.errors.UndefinedFunction, psycopg.errors.InsufficientPrivilege):
        report["freshness"] = []  # a database without the operations migration
    license_ = conn.execute(_SELECT_LICENSE).fetchone()[0]  # type: ignore[index]
    report["compression"] = _rows(conn, _SQL.text("select_compression_stats")) if license_ == "timescale" else []
    try:
        backup_age, drill_age = conn.execute(_SELECT_BACKUP_AGES).fetchone()  # type: ignore[misc]
    except (psycopg.errors.UndefinedTable, psycopg.errors.InsufficientPrivilege):  # no ops tables, or the monitor role
        backup_age = drill_age = None
    report["last_backup_age_seconds"] = backup_age
    report["last_drill_age_seconds"] = drill_age
    return report


def evaluate(report: dict, settings, *, backups: bool = True) -> list[Alert]:
    """The alerts a report raises (pure: tests call it directly); ``backups=False`` leaves out the
    backup and drill ages, which have their own sensor."""
    alerts: list[Alert] = []
    ratio = float(report.get("connections_ratio") or 0.0)
    used = f"{report.get('connections')}/{report.get('max_connections')} connections ({ratio:.0%})"
    if ratio > settings.health_connections_critical:
        alerts.append(Alert("critical", "connections_critical", f"{used} > {settings.health_connections_critical:.0%}"))
    elif ratio > settings.health_connections_warn:
        alerts.append(Alert("warning", "connections_high", f"{used} > {settings.health_connections_warn:.0%}"))
    long_queries = [q for q in report.get("long_or_blocked_queries") or []
                    if (q.get("seconds") or 0) > settings.health_long_query_seconds]
    if long_queries:
        worst = max(long_queries, key=lambda q: q["seconds"])
        alerts.append(Alert("warning", "long_running_query",
                            f"{len(long_queries)} statement(s) over {settings.health_long_query_seconds:.0f}s; "
                            f"longest pid {worst['pid']} for {worst['seconds']:.0f}s"))
    waiting = [p for p in report.get("pgbouncer_pools") or [] if (p.get("cl_waiting") or 0) > 0]
    if waiting:
        alerts.append(Alert("warning", "pool_clients_waiting",
                            "; ".join(f"{p['cl_waiting']} client(s) waiting for {p['database']}/{p['user']} "
                                      f"(longest {p.get('maxwait', 0)} s)" for p in waiting)))
    free = report.get("disk_free_ratio")
    if free is not None and free < settings.health_disk_free_min:
        alerts.append(Alert("critical", "disk_low", f"{free:.1%} disk free < {settings.health_disk_free_min:.0%}"))
    for comp in report.get("compression") or []:
        before, after = comp.get("before_compression_total_bytes"), comp.get("after_compression_total_bytes")
        if before and after is not None and 1 - after / before < settings.health_compression_ratio_min:
            alerts.append(Alert("warning", "compression_low",
                                f"{comp['hypertable']} compresses by only {1 - after / before:.0%}"))
    for row in report.get("freshness") or []:
        window = settings.freshness_max_age_hours.get(row["table_name"])
        if window and row["age_seconds"] is not None and row["age_seconds"] > window * 3600:
            alerts.append(Alert("warning", "data_stale",
                                f"market.{row['table_name']} last loaded {row['age_seconds'] / 3600:.0f} h ago "
                                f"> {window:.0f} h"))
    archiver = report.get("archiver") or {}
    failed_at, archived_at = archiver.get("last_failed_time"), archiver.get("last_archived_time")
    if failed_at and (archived_at is None or failed_at > archived_at):
        alerts.append(Alert("critical", "wal_archiving_failing",
                            f"WAL archiving failing since {failed_at} ({archiver.get('last_failed_wal')})"))
    if backups:
        alerts += evaluate_backups(report.get("last_backup_age_seconds"), report.get("last_drill_age_seconds"), settings)
    return alerts


def evaluate_backups(backup_age: float | None, drill_age: float | None, settings) -> list[Alert]:
    alerts: list[Alert] = []
    if backup_age is None or backup_age > settings.backup_max_age_hours * 3600:
        alerts.append(Alert("critical", "backup_stale",
                            "no good backup yet" if backup_age is None else
                            f"last good backup {backup_age / 3600:.1f} h ago > {settings.backup_max_age_hours:.0f} h"))
    if drill_age is None or drill_age > settings.drill_max_age_hours * 3600:
        alerts.append(Alert("warning", "drill_stale",
                            "no passed restore drill yet" if drill_age is None else
                            f"last passed drill {drill_age / 3600:.1f} h ago > {settings.drill_max_age_hours:.0f} h"))
    return alerts
