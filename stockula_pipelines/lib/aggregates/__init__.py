"""Refresh the aggregates over exactly the windows the loads touched, on either TimescaleDB edition.

Each aggregate lists the loads it has processed in ``ops.refresh_covered`` (``lib/db/refresh_log``). A
refresh reads the loads of its source table not listed yet, widens every
loaded ``[window_start, window_end)`` to whole buckets of the aggregate, merges overlapping windows and
refreshes them:

* full edition: ``refresh_continuous_aggregate`` per window, on an autocommit connection;
* Apache edition: in one transaction, delete the rollup rows of each window and insert the rows of
  the continuous aggregate's own SELECT (``sql/select_<name>.sql`` here) restricted to the window's
  source rows, with the exchange's time zone bound as a parameter.

Windows are bucket-aligned, so "source rows with time in the window" and "buckets in the window" are
the same rows and a refresh never leaves a bucket half computed. Pure code: no Dagster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
from psycopg import sql

from stockula_pipelines.lib.calendar import exchange_tz
from stockula_pipelines.lib.db.capabilities import Capabilities, detect
from stockula_pipelines.lib.db.refresh_log import pending_loads, record_refresh
from stockula_pipelines.lib.db.sqlfiles import SqlFiles
from stockula_pipelines.lib.windows import Window, utc_window
from stockula_pipelines.settings import get_settings

# The SELECTs are those of sql/0008_aggregates.tsl.sql with the time zone (and the weekly origin)
# bound as parameters; tests/tsl/test_select_parity.py keeps the two from drifting apart.
_SQL = SqlFiles(__file__)
# The continuous aggregates of the full edition were created in this zone by migration 0008: another
# exchange's zone needs a migration that recreates them, so a refresh refuses the mismatch.
MIGRATED_CAGG_TZ = "America/New_York"
WEEK_ORIGIN = date(2000, 1, 3)  # a Monday: weekly buckets start on Mondays at local midnight
SCHEMA = "aggregates"
METHOD_CAGG = "continuous_aggregate"
METHOD_ROLLUP = "rollup"

_PRICE_COLUMNS = ("bucket", "symbol", "open_price", "high_price", "low_price", "close_price", "volume",
                  "trading_value", "bar_count")
_OPTIONS_COLUMNS = ("bucket", "symbol", "total_volume", "total_open_interest", "contracts")


_DAY = "time_bucket(INTERVAL '1 day', time, %(tz)s::text)"
_WEEK = "time_bucket(INTERVAL '7 days', time, %(tz)s::text, %(week_origin)s::timestamptz)"
_MONTH = "time_bucket(INTERVAL '1 month', time, %(tz)s::text)"


@dataclass(frozen=True)
class Aggregate:
    name: str
    source_table: str  # in the market schema; also ops.ingest_log.table_name
    intervals: tuple[str, ...] | None  # bar intervals whose loads feed it; None = every load
    grain: str  # 'hour' (UTC) | 'day' | 'week' (from Monday) | 'month', the last three in exchange time
    columns: tuple[str, ...]
    select: str  # the sql/ file of its SELECT
    bucket: str = ""  # the time_bucket() call that file's {bucket} stands for

    @property
    def target(self) -> str:
        return f"{SCHEMA}.{self.name}"

    @property
    def identifier(self) -> sql.Identifier:
        return sql.Identifier(SCHEMA, self.name)

    def select_text(self) -> str:
        """The SELECT of the continuous aggregate, with the zone and source interval as parameters."""
        text = "\n".join(line for line in _SQL.text(self.select).splitlines() if not line.startswith("--"))
        template = sql.SQL(text)  # type: ignore[arg-type]
        return template.format(bucket=sql.SQL(self.bucket),  # type: ignore[arg-type]
                               source=sql.Identifier("market", self.source_table)).as_string(None)


AGGREGATES: dict[str, Aggregate] = {
    a.name: a
    for a in (
        Aggregate("price_history_daily", "price_history", ("5m",), "day", _PRICE_COLUMNS, "select_ohlcv", _DAY),
        Aggregate("price_history_weekly", "price_history", ("1d",), "week", _PRICE_COLUMNS, "select_ohlcv", _WEEK),
        Aggregate("price_history_monthly", "price_history", ("1d",), "month", _PRICE_COLUMNS, "select_ohlcv", _MONTH),
        Aggregate("market_volume_hourly", "price_history", ("5m",), "hour",
                  ("bucket", "total_volume", "total_trading_value", "bar_count"), "select_market_volume_hourly"),
        Aggregate("options_calls_volume_daily", "options_calls", None, "day", _OPTIONS_COLUMNS,
                  "select_options_volume", _DAY),
        Aggregate("options_puts_volume_daily", "options_puts", None, "day", _OPTIONS_COLUMNS,
                  "select_options_volume", _DAY),
    )
}


@dataclass
class RefreshResult:
    aggregate: str
    method: str
    windows: list[Window] = field(default_factory=list)
    rows_written: int = 0
    loads: int = 0  # ingest-log rows covered
    last_ingest_id: int | None = None  # the new watermark; None when there was nothing to do


def get_aggregate(name: str) -> Aggregate:
    try:
        return AGGREGATES[name]
    except KeyError:
        raise ValueError(f"unknown aggregate {name!r}; known: {', '.join(AGGREGATES)}") from None


# --- bucket arithmetic ---------------------------------------------------------------------------
def bucket_zone() -> ZoneInfo:
    """The exchange's time zone (``STOCKULA_EXCHANGE``): days, weeks and months are buckets in it."""
    return exchange_tz(get_settings().exchange)


def _local_midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def bucket_floor(ts: datetime, grain: str, tz: ZoneInfo | None = None) -> datetime:
    """Start of the bucket holding ``ts``: what time_bucket() computes in the aggregate's SELECT."""
    if ts.tzinfo is None:
        raise ValueError(f"naive timestamp {ts.isoformat()}: aggregate windows must be timezone-aware")
    if grain == "hour":
        return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    tz = tz or bucket_zone()
    day = ts.astimezone(tz).date()
    if grain == "day":
        return _local_midnight(day, tz)
    if grain == "week":
        return _local_midnight(day - timedelta(days=day.weekday()), tz)
    if grain == "month":
        return _local_midnight(day.replace(day=1), tz)
    raise ValueError(f"unknown grain {grain!r}")


def next_bucket(start: datetime, grain: str, tz: ZoneInfo | None = None) -> datetime:
    """The bucket after the one starting at ``start`` (a bucket start); DST-safe: steps in local dates."""
    if grain == "hour":
        return start + timedelta(hours=1)
    tz = tz or bucket_zone()
    day = start.astimezone(tz).date()
    if grain == "day":
        return _local_midnight(day + timedelta(days=1), tz)
    if grain == "week":
        return _local_midnight(day + timedelta(days=7), tz)
    if grain == "month":
        return _local_midnight(date(day.year + day.month // 12, day.month % 12 + 1, 1), tz)
    raise ValueError(f"unknown grain {grain!r}")


def widen(window: Window, grain: str, tz: ZoneInfo | None = None) -> Window:
    """The smallest run of whole buckets covering the half-open ``window``."""
    start, end = utc_window(window, what=f"{grain} buckets")
    tz = tz or bucket_zone()
    first = bucket_floor(start, grain, tz)
    last = bucket_floor(end, grain, tz)
    return first, (last if last == end else next_bucket(last, grain, tz))


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
    tz = bucket_zone()
    windows = merge([widen((r["window_start"], r["window_end"]), agg.grain, tz) for r in rows])
    ids = [r["ingest_id"] for r in rows]
    return RefreshPlan(agg, windows, len(rows), max(ids, default=None), ids)


# --- refreshing ----------------------------------------------------------------------------------
_DELETE_ROLLUP_WINDOW = "DELETE FROM {target} WHERE bucket >= %(start)s AND bucket < %(end)s"
_INSERT_ROLLUP_WINDOW = "INSERT INTO {target} ({columns}) "
# Qualified: TimescaleDB's functions live in public, which the login roles' search_path leaves out.
REFRESH_CONTINUOUS_AGGREGATE = (
    "CALL public.refresh_continuous_aggregate(%(cagg)s::regclass, %(start)s::timestamptz, %(end)s::timestamptz)")
_COUNT_WINDOW_ROWS = "SELECT count(*) FROM {target} WHERE bucket >= %(start)s AND bucket < %(end)s"
# Two rollups of one target at once would both delete, then collide on the primary key when inserting.
_LOCK_TARGET = "SELECT pg_advisory_xact_lock(hashtextextended(%(target)s, 0))"
# Parse the aggregate SELECTs as the migration parsed the continuous aggregates: TimescaleDB's
# time_bucket/first/last live in public, which the login roles' search_path may leave out.
_SET_SEARCH_PATH = "SELECT set_config('search_path', 'public', true)"


def windowed_select(agg: Aggregate) -> sql.Composed:
    """The aggregate's SELECT with ``time >= %(start)s AND time < %(end)s`` added to its WHERE.

    The filter goes on the source rows (not on the buckets) so chunk exclusion and the time index
    apply; the SELECT files have one top-level GROUP BY, before which the predicate is inserted.
    """
    text = agg.select_text().rstrip().rstrip(";")
    head, group_by, tail = text.rpartition("GROUP BY")
    if not group_by:
        raise ValueError(f"{agg.select}.sql: no GROUP BY to insert the window predicate before")
    has_where = "WHERE" in head.upper().split("FROM", 1)[-1]
    predicate = "  AND time >= %(start)s AND time < %(end)s\n" if has_where else \
        "WHERE time >= %(start)s AND time < %(end)s\n"
    return sql.Composed([sql.SQL(head), sql.SQL(predicate), sql.SQL(group_by + tail)])


def rollup_window(conn: psycopg.Connection, agg: Aggregate, window: Window) -> int:
    """Recompute one bucket-aligned window of an Apache-edition rollup table (caller's transaction)."""
    tz = bucket_zone()
    params = {"start": window[0], "end": window[1], "tz": str(tz),
              "week_origin": _local_midnight(WEEK_ORIGIN, tz),
              "source_interval": agg.intervals[0] if agg.intervals else None}
    conn.execute(sql.SQL(_DELETE_ROLLUP_WINDOW).format(target=agg.identifier), params)
    insert = sql.SQL(_INSERT_ROLLUP_WINDOW).format(
        target=agg.identifier, columns=sql.SQL(", ").join(map(sql.Identifier, agg.columns)))
    cur = conn.execute(sql.Composed([insert, windowed_select(agg)]), params)
    return max(cur.rowcount, 0)


def refresh_cagg_window(conn: psycopg.Connection, agg: Aggregate, window: Window) -> int:
    """refresh_continuous_aggregate over one window (autocommit connection); returns its row count."""
    params = {"cagg": agg.target, "start": window[0], "end": window[1]}
    conn.execute(REFRESH_CONTINUOUS_AGGREGATE, params)
    row = conn.execute(sql.SQL(_COUNT_WINDOW_ROWS).format(target=agg.identifier), params).fetchone()
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
    zone = str(bucket_zone())
    if zone != MIGRATED_CAGG_TZ:
        raise ValueError(f"{agg.target}: the continuous aggregates bucket in {MIGRATED_CAGG_TZ} (migration 0008) "
                         f"but STOCKULA_EXCHANGE={get_settings().exchange} trades in {zone}; add a migration "
                         "that recreates them in that zone")
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
        conn.execute(_LOCK_TARGET, {"target": agg.target})
        conn.execute(_SET_SEARCH_PATH)
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
