"""Refresh the aggregates over exactly the windows the loads touched, on either TimescaleDB edition.

Each aggregate lists the loads it has processed in ``ops.refresh_covered`` (``lib/db/refresh_log``). A
refresh reads the loads of its source table not listed yet, widens every
loaded ``[window_start, window_end)`` to whole buckets of the aggregate, merges overlapping windows and
refreshes them:

* full edition: ``refresh_continuous_aggregate`` per window, on an autocommit connection;
* Apache edition: in one transaction, delete the rollup rows of each window and insert the rows of
  the continuous aggregate's own SELECT (``defs/aggregates/sql/select_<name>.sql``) restricted to the
  window's source rows.

Windows are bucket-aligned, so "source rows with time in the window" and "buckets in the window" are
the same rows and a refresh never leaves a bucket half computed. Pure code: no Dagster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from stockula_pipelines.lib.db.capabilities import Capabilities, detect
from stockula_pipelines.lib.db.refresh_log import pending_loads, record_refresh

# The SELECTs must stay byte-for-byte those of sql/0008_aggregates.tsl.sql, so they live once, beside
# the assets that own the aggregates; this module only reads the files.
SQL_DIR = Path(__file__).resolve().parents[1] / "defs" / "aggregates" / "sql"
EXCHANGE_TZ = ZoneInfo("America/New_York")
SCHEMA = "aggregates"
METHOD_CAGG = "continuous_aggregate"
METHOD_ROLLUP = "rollup"

_PRICE_COLUMNS = ("bucket", "symbol", "open_price", "high_price", "low_price", "close_price", "volume",
                  "trading_value", "bar_count")
_OPTIONS_COLUMNS = ("bucket", "symbol", "total_volume", "total_open_interest", "contracts")


@dataclass(frozen=True)
class Aggregate:
    name: str
    source_table: str  # in the market schema; also ops.ingest_log.table_name
    intervals: tuple[str, ...] | None  # bar intervals whose loads feed it; None = every load
    grain: str  # 'hour' (UTC) | 'day' | 'week' (from Monday) | 'month', the last three in exchange time
    columns: tuple[str, ...]

    @property
    def target(self) -> str:
        return f"{SCHEMA}.{self.name}"

    @property
    def identifier(self) -> sql.Identifier:
        return sql.Identifier(SCHEMA, self.name)

    def select_text(self) -> str:
        return load_sql(f"select_{self.name}")


AGGREGATES: dict[str, Aggregate] = {
    a.name: a
    for a in (
        Aggregate("price_history_daily", "price_history", ("5m",), "day", _PRICE_COLUMNS),
        Aggregate("price_history_weekly", "price_history", ("1d",), "week", _PRICE_COLUMNS),
        Aggregate("price_history_monthly", "price_history", ("1d",), "month", _PRICE_COLUMNS),
        Aggregate("market_volume_hourly", "price_history", ("5m",), "hour",
                  ("bucket", "total_volume", "total_trading_value", "bar_count")),
        Aggregate("options_calls_volume_daily", "options_calls", None, "day", _OPTIONS_COLUMNS),
        Aggregate("options_puts_volume_daily", "options_puts", None, "day", _OPTIONS_COLUMNS),
    )
}

Window = tuple[datetime, datetime]


@dataclass
class RefreshResult:
    aggregate: str
    method: str
    windows: list[Window] = field(default_factory=list)
    rows_written: int = 0
    loads: int = 0  # ingest-log rows covered
    last_ingest_id: int | None = None  # the new watermark; None when there was nothing to do


def load_sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


def get_aggregate(name: str) -> Aggregate:
    try:
        return AGGREGATES[name]
    except KeyError:
        raise ValueError(f"unknown aggregate {name!r}; known: {', '.join(AGGREGATES)}") from None


# --- bucket arithmetic ---------------------------------------------------------------------------
def _local_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=EXCHANGE_TZ)


def bucket_floor(ts: datetime, grain: str) -> datetime:
    """Start of the bucket holding ``ts``: what time_bucket() computes in the aggregate's SELECT."""
    if ts.tzinfo is None:
        raise ValueError(f"naive timestamp {ts.isoformat()}: aggregate windows must be timezone-aware")
    if grain == "hour":
        return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    day = ts.astimezone(EXCHANGE_TZ).date()
    if grain == "day":
        return _local_midnight(day)
    if grain == "week":
        return _local_midnight(day - timedelta(days=day.weekday()))
    if grain == "month":
        return _local_midnight(day.replace(day=1))
    raise ValueError(f"unknown grain {grain!r}")


def next_bucket(start: datetime, grain: str) -> datetime:
    """The bucket after the one starting at ``start`` (a bucket start); DST-safe: steps in local dates."""
    if grain == "hour":
        return start + timedelta(hours=1)
    day = start.astimezone(EXCHANGE_TZ).date()
    if grain == "day":
        return _local_midnight(day + timedelta(days=1))
    if grain == "week":
        return _local_midnight(day + timedelta(days=7))
    if grain == "month":
        return _local_midnight(date(day.year + day.month // 12, day.month % 12 + 1, 1))
    raise ValueError(f"unknown grain {grain!r}")


def widen(window: Window, grain: str) -> Window:
    """The smallest run of whole buckets covering the half-open ``window``."""
    start, end = window
    if end <= start:
        raise ValueError(f"empty window [{start.isoformat()}, {end.isoformat()})")
    first = bucket_floor(start, grain)
    last = bucket_floor(end, grain)
    return first, (last if last == end else next_bucket(last, grain))


def merge(windows: list[Window]) -> list[Window]:
    """Overlapping or touching windows merged, in time order."""
    out: list[Window] = []
    for start, end in sorted(windows):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


# --- planning ------------------------------------------------------------------------------------
@dataclass
class RefreshPlan:
    aggregate: Aggregate
    windows: list[Window]
    loads: int
    last_ingest_id: int | None
    ingest_ids: list[int] = field(default_factory=list)


def plan_refresh(conn: psycopg.Connection, agg: Aggregate) -> RefreshPlan:
    """The bucket-aligned windows of the loads ``agg`` has not processed yet."""
    rows = pending_loads(conn, agg.target, [agg.source_table], agg.intervals)
    windows = merge([widen((r["window_start"], r["window_end"]), agg.grain) for r in rows])
    ids = [r["ingest_id"] for r in rows]
    return RefreshPlan(agg, windows, len(rows), max(ids, default=None), ids)


# --- refreshing ----------------------------------------------------------------------------------
def windowed_select(agg: Aggregate) -> sql.Composed:
    """The aggregate's SELECT with ``time >= %(start)s AND time < %(end)s`` added to its WHERE.

    The filter goes on the source rows (not on the buckets) so chunk exclusion and the time index
    apply; the SELECT files have one top-level GROUP BY, before which the predicate is inserted.
    """
    text = agg.select_text().rstrip().rstrip(";")
    head, group_by, tail = text.rpartition("GROUP BY")
    if not group_by:
        raise ValueError(f"select_{agg.name}.sql: no GROUP BY to insert the window predicate before")
    has_where = "WHERE" in head.upper().split("FROM", 1)[-1]
    predicate = "  AND time >= %(start)s AND time < %(end)s\n" if has_where else \
        "WHERE time >= %(start)s AND time < %(end)s\n"
    return sql.Composed([sql.SQL(head), sql.SQL(predicate), sql.SQL(group_by + tail)])


def rollup_window(conn: psycopg.Connection, agg: Aggregate, window: Window) -> int:
    """Recompute one bucket-aligned window of an Apache-edition rollup table (caller's transaction)."""
    params = {"start": window[0], "end": window[1]}
    conn.execute(sql.SQL(load_sql("delete_rollup_window")).format(target=agg.identifier), params)
    insert = sql.SQL(load_sql("insert_rollup_window")).format(
        target=agg.identifier, columns=sql.SQL(", ").join(map(sql.Identifier, agg.columns)))
    cur = conn.execute(sql.Composed([insert, windowed_select(agg)]), params)
    return max(cur.rowcount, 0)


def refresh_cagg_window(conn: psycopg.Connection, agg: Aggregate, window: Window) -> int:
    """refresh_continuous_aggregate over one window (autocommit connection); returns its row count."""
    params = {"cagg": agg.target, "start": window[0], "end": window[1]}
    conn.execute(load_sql("refresh_continuous_aggregate"), params)
    row = conn.execute(sql.SQL(load_sql("count_window_rows")).format(target=agg.identifier), params).fetchone()
    return int(row[0]) if row else 0


def _record(conn: psycopg.Connection, result: RefreshResult, window: Window, rows: int,
            run_id: str | None, covers: list[int]) -> None:
    record_refresh(conn, target=get_aggregate(result.aggregate).target, window=window, method=result.method,
                   rows=rows, covers=covers, run_id=run_id)


def refresh_aggregate(conn: psycopg.Connection, aggregate: Aggregate | str, *,
                      caps: Capabilities | None = None, run_id: str | None = None) -> RefreshResult:
    """Catch ``aggregate`` up with every load it has not processed and mark them processed.

    ``conn`` must be in autocommit mode on the full edition (refresh_continuous_aggregate refuses a
    transaction block); on the Apache edition any connection works and the whole refresh, bookkeeping
    included, is one transaction.
    """
    agg = get_aggregate(aggregate) if isinstance(aggregate, str) else aggregate
    caps = caps or detect(conn)
    if caps.continuous_aggregates:
        return _refresh_cagg(conn, agg, run_id)
    return _refresh_rollup(conn, agg, run_id)


def _refresh_cagg(conn: psycopg.Connection, agg: Aggregate, run_id: str | None) -> RefreshResult:
    if not conn.autocommit:
        raise ValueError(f"{agg.target}: refresh_continuous_aggregate cannot run in a transaction; "
                         "pass an autocommit connection")
    plan = plan_refresh(conn, agg)
    result = RefreshResult(agg.name, METHOD_CAGG, plan.windows, loads=plan.loads,
                           last_ingest_id=plan.last_ingest_id)
    counts = [refresh_cagg_window(conn, agg, w) for w in plan.windows]
    # Logged only once every window is refreshed: a failure part-way redoes all of them next time.
    with conn.transaction():
        for n, (window, rows) in enumerate(zip(plan.windows, counts, strict=True)):
            _record(conn, result, window, rows, run_id, plan.ingest_ids if n == 0 else [])
    result.rows_written = sum(counts)
    return result


def _refresh_rollup(conn: psycopg.Connection, agg: Aggregate, run_id: str | None) -> RefreshResult:
    with conn.transaction():
        conn.execute(load_sql("lock_target"), {"target": agg.target})
        conn.execute(load_sql("set_search_path"))
        plan = plan_refresh(conn, agg)  # after the lock: a concurrent run's covered loads are visible
        result = RefreshResult(agg.name, METHOD_ROLLUP, plan.windows, loads=plan.loads,
                               last_ingest_id=plan.last_ingest_id)
        for n, window in enumerate(plan.windows):
            rows = rollup_window(conn, agg, window)
            _record(conn, result, window, rows, run_id, plan.ingest_ids if n == 0 else [])
            result.rows_written += rows
    return result


def refresh_all(conn: psycopg.Connection, *, caps: Capabilities | None = None,
                run_id: str | None = None) -> dict[str, RefreshResult]:
    caps = caps or detect(conn)
    return {name: refresh_aggregate(conn, agg, caps=caps, run_id=run_id) for name, agg in AGGREGATES.items()}
