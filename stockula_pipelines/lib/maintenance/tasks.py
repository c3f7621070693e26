"""The origin's maintenance tasks: vacuum, statistics, reindex, timescaledb, health.

Each runs on an autocommit connection as the admin role (VACUUM and REINDEX refuse a transaction
block and need the tables' owner), inside the maintenance guard, and returns what it changed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from stockula_pipelines.lib.db.capabilities import detect
from stockula_pipelines.lib.db.sqlfiles import SqlFiles

from . import health
from .guard import exclusive

_SQL = SqlFiles(__file__)

TASKS = ("vacuum", "statistics", "reindex", "timescaledb", "health")
RETAINED = ("market.options_calls", "market.options_puts")
Log = Callable[[str], None]


_ANALYZE_TABLE = "ANALYZE {table}"

_DROP_OLD_CHUNKS = "SELECT drop_chunks(%(hypertable)s::regclass, older_than => %(older_than)s::interval)::text"

_INSERT_MAINTENANCE_LOG = "INSERT INTO ops.maintenance_log (task, seconds, changed, report, run_id) VALUES (%s, %s, %s, %s, %s)"

_SET_LOCK_TIMEOUT = "SELECT set_config('lock_timeout', %s, false)"

_VACUUM_TABLE = "VACUUM (ANALYZE) {table}"


@dataclass
class TaskReport:
    task: str
    changed: list[str] = field(default_factory=list)
    report: dict[str, object] = field(default_factory=dict)
    seconds: float = 0.0


def _tables(conn: psycopg.Connection) -> list[dict]:
    cur = conn.execute(_SQL.text("select_tables"))
    names = [c.name for c in cur.description or []]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _counts(conn: psycopg.Connection, t: dict) -> tuple[int, int]:
    """(dead tuples, tuples modified since the last analyze) of a table, its chunks included."""
    if t["is_hypertable"]:
        dead, modified = conn.execute(_SQL.text("select_chunk_dead_tuples"), (t["schemaname"], t["relname"])).fetchone()  # type: ignore[misc]
        return int(dead), int(modified)
    return int(t["n_dead_tup"] or 0), int(t["n_mod_since_analyze"] or 0)


def vacuum(conn: psycopg.Connection, settings) -> TaskReport:
    """VACUUM (ANALYZE) every table with dead tuples (a hypertable's VACUUM covers its chunks)."""
    out = TaskReport("vacuum")
    for t in _tables(conn):
        dead, _modified = _counts(conn, t)
        if dead == 0:
            continue
        conn.execute(sql.SQL(_VACUUM_TABLE).format(table=sql.Identifier(t["schemaname"], t["relname"])))
        out.changed.append(f"vacuumed {t['schemaname']}.{t['relname']} ({dead} dead tuples)")
    out.report["tables_seen"] = len(_tables(conn))
    return out


def statistics(conn: psycopg.Connection, settings) -> TaskReport:
    """ANALYZE the tables modified since their last analyze (or never analyzed); top statements."""
    out = TaskReport("statistics")
    for t in _tables(conn):
        never = t["last_analyze"] is None and t["last_autoanalyze"] is None
        _dead, modified = _counts(conn, t)
        if not never and not modified:
            continue
        conn.execute(sql.SQL(_ANALYZE_TABLE).format(table=sql.Identifier(t["schemaname"], t["relname"])))
        out.changed.append(f"analyzed {t['schemaname']}.{t['relname']} "
                           + ("(never analyzed)" if never else f"({modified} changed rows)"))
    try:
        cur = conn.execute(_SQL.text("select_top_statements"))
        out.report["top_statements"] = [dict(zip([c.name for c in cur.description or []], r, strict=True))
                                        for r in cur.fetchall()]
    except psycopg.Error:  # pg_stat_statements not created in this database
        out.report["top_statements"] = []
    return out


_REINDEX_TABLE = "REINDEX TABLE {table}"
_REINDEX_TABLE_CONCURRENTLY = "REINDEX TABLE CONCURRENTLY {table}"


def reindex_statement(schema: str, table: str, *, is_hypertable: bool) -> sql.Composed:
    """CONCURRENTLY is not supported on hypertables: they get a plain REINDEX (which recurses to chunks)."""
    template = _REINDEX_TABLE if is_hypertable else _REINDEX_TABLE_CONCURRENTLY
    return sql.SQL(template).format(table=sql.Identifier(schema, table))


def reindex(conn: psycopg.Connection, settings, *, tables: list[str] | None = None) -> TaskReport:
    """Rebuild invalid indexes' tables, and the ``tables`` asked for explicitly."""
    out = TaskReport("reindex")
    wanted = {tuple(r[:2]) for r in conn.execute(_SQL.text("select_invalid_indexes")).fetchall()}
    wanted |= {tuple(t.split(".", 1)) for t in tables or []}
    hypertables = {(t["schemaname"], t["relname"]) for t in _tables(conn) if t["is_hypertable"]}
    # A plain REINDEX blocks writes to the table: do not wait behind (or hold up) a load for long.
    conn.execute(_SET_LOCK_TIMEOUT, ("30s",))
    for schema, table in sorted(wanted):
        is_hyper = (schema, table) in hypertables
        conn.execute(reindex_statement(schema, table, is_hypertable=is_hyper))
        out.changed.append(f"reindexed {schema}.{table}" + (" (hypertable, not concurrently)" if is_hyper else ""))
    conn.execute(_SET_LOCK_TIMEOUT, ("0",))
    return out


def timescaledb(conn: psycopg.Connection, settings) -> TaskReport:
    """Apache: retention with drop_chunks (no policies exist). TSL: compression and job status."""
    out = TaskReport("timescaledb")
    caps = detect(conn)
    out.report["edition"] = caps.edition
    older = timedelta(days=settings.retention_options_days)
    if not caps.policies:
        for hypertable in RETAINED:
            dropped = [r[0] for r in conn.execute(_DROP_OLD_CHUNKS,
                                                  {"hypertable": hypertable, "older_than": older})]
            out.changed += [f"dropped {c} ({hypertable}, older than {settings.retention_options_days} days)"
                            for c in dropped]
        out.report["compression"] = "unavailable on the Apache edition"
    else:
        cur = conn.execute(_SQL.text("select_compression_stats"))
        out.report["compression"] = [dict(zip([c.name for c in cur.description or []], r, strict=True))
                                     for r in cur.fetchall()]
        cur = conn.execute(_SQL.text("select_job_stats"))
        out.report["jobs"] = [dict(zip([c.name for c in cur.description or []], r, strict=True)) for r in cur.fetchall()]
    return out


def run_tasks(admin_dsn: str, writer_dsn: str, settings, task: str = "all", *, run_id: str | None = None,
              wait_seconds: float = 600.0, log: Log = print) -> list[TaskReport]:
    """Run one task or all of them under the guard, and log each in ops.maintenance_log."""
    names = list(TASKS) if task == "all" else [task]
    unknown = set(names) - set(TASKS)
    if unknown:
        raise ValueError(f"unknown maintenance task(s) {sorted(unknown)}: choose from {', '.join(TASKS)} or all")
    functions = {"vacuum": vacuum, "statistics": statistics, "reindex": reindex, "timescaledb": timescaledb}
    reports = []
    with psycopg.connect(admin_dsn, autocommit=True, prepare_threshold=None) as conn, \
            exclusive(conn, wait_seconds=wait_seconds):
        for name in names:
            started = time.monotonic()
            log(f"maintenance: {name} ...")
            if name == "health":
                report = TaskReport("health", report=health.collect(conn, settings))
                report.report["alerts"] = [a.as_dict() for a in health.evaluate(report.report, settings)]
            else:
                report = functions[name](conn, settings)
            report.seconds = time.monotonic() - started
            log(f"maintenance: {name} done in {report.seconds:.1f}s, {len(report.changed)} change(s)")
            for line in report.changed:
                log(f"  {line}")
            reports.append(report)
    with psycopg.connect(writer_dsn, prepare_threshold=None) as conn:
        for r in reports:
            conn.execute(
                _INSERT_MAINTENANCE_LOG,
                (r.task, r.seconds, Jsonb(r.changed), Jsonb(health.jsonable(r.report)), run_id),
            )
    return reports
