"""Fixing and re-submitting quarantined rows once the cause is fixed: a load into the market tables.

:func:`resubmit` takes open quarantined rows, applies an optional fix to their stored ``row_data``
(``patch`` for every selected row, ``fixes`` per quarantine id), re-validates each row with the ingest
rules (:func:`stockula_pipelines.lib.quality.rules.validate`) against the window of the load that
quarantined it, upserts the rows that now pass through the loader's staged upsert and marks them
resolved; rows that still fail stay open with the rule(s) they still break. Everything happens in one
transaction, so a failure leaves both the table and the quarantine as they were.

    python -m stockula_pipelines.lib.ingest.resubmit --id 42 --set volume=1000
    python -m stockula_pipelines.lib.ingest.resubmit --rule low_above_high --symbol AAPL

The report of what is open lives with the other quality code (``lib/quality/quarantine.py``).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl
import psycopg

from stockula_pipelines.lib import schemas
from stockula_pipelines.lib.calendar import DEFAULT_EXCHANGE, get_calendar
from stockula_pipelines.lib.db.sqlfiles import SqlFiles
from stockula_pipelines.lib.quality.rules import validate

from .upsert import upsert

_SQL = SqlFiles(__file__)

RESOLUTION = "resubmitted"
RESUBMIT_SOURCE = "quarantine_resubmit"
RANGE_SEPARATOR = "..."
# partitions.DEFAULT_INTRADAY_WINDOW_MINUTES: lib/ cannot import the (Dagster) partitions module.
INTRADAY_MINUTES = 60

Window = tuple[datetime, datetime]
WindowOf = Callable[[str], Window]


@dataclass
class ResubmitResult:
    selected: int = 0
    resubmitted_ids: list[int] = field(default_factory=list)
    still_failing: dict[int, str] = field(default_factory=dict)  # quarantine_id -> rule(s) it still breaks
    by_table: dict[str, int] = field(default_factory=dict)  # rows upserted per table
    ingest_ids: list[int] = field(default_factory=list)  # the upserts' ops.ingest_log rows

    def describe(self) -> str:
        return (f"{self.selected} open row(s) selected: {len(self.resubmitted_ids)} resubmitted "
                f"({', '.join(f'{t}={n}' for t, n in sorted(self.by_table.items())) or 'none'}), "
                f"{len(self.still_failing)} still failing")


def rows_to_frame(table: str, row_data: Sequence[dict]) -> pl.DataFrame:
    """Quarantined ``row_data`` objects back into ``table``'s normalised frame.

    Timestamps and dates were JSON-encoded as ISO strings; numbers keep their JSON type, so every
    column is rebuilt from Python values and cast to the schema (a missing column becomes NULL).
    """
    schema, _ = schemas.TABLES[table]
    columns = {}
    for name, dtype in schema.items():
        values = [row.get(name) for row in row_data]
        if dtype == schemas.UTC_TS:
            series = pl.Series(name, values, dtype=pl.String).str.to_datetime(time_zone="UTC", time_unit="us")
        elif dtype == pl.Date:
            series = pl.Series(name, values, dtype=pl.String).str.to_date()
        else:
            series = pl.Series(name, values, dtype=dtype, strict=False)
        columns[name] = series
    return pl.DataFrame(columns)


def parse_value(text: str) -> object:
    """A fix value typed on a command line or in run config: JSON if it parses (1000, 101.5, null),
    else the text itself (a symbol, an ISO date)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def calendar_window(key: str, *, exchange: str = DEFAULT_EXCHANGE) -> Window:
    """The window of a daily (YYYY-MM-DD), monthly (YYYY-MM) or intraday (YYYY-MM-DD-HH:MM) key.

    The same windows as :func:`stockula_pipelines.partitions.partition_window`, computed from the
    calendar alone so that this module stays free of Dagster; the Dagster job passes the partitions'
    own function instead.
    """
    cal = get_calendar(exchange)
    if len(key) == 7:
        first = datetime.strptime(key, "%Y-%m")
        nxt = first.replace(year=first.year + first.month // 12, month=first.month % 12 + 1)
        return (first.replace(tzinfo=cal.tz).astimezone(UTC), nxt.replace(tzinfo=cal.tz).astimezone(UTC))
    if len(key) == 10:
        return cal.trading_day_window(datetime.strptime(key, "%Y-%m-%d").date())
    local = datetime.strptime(key, "%Y-%m-%d-%H:%M").replace(tzinfo=cal.tz).astimezone(UTC)
    for window in cal.intraday_windows(local.date(), INTRADAY_MINUTES):
        if window[0] == local:
            return window
    raise ValueError(f"partition key {key!r} is not the start of a {INTRADAY_MINUTES}-minute window")


def original_window(partition_key: str | None, window_of: WindowOf = calendar_window) -> Window | None:
    """The window the quarantining load validated against: its partition key, or a range label
    ``A...B`` as the range runs record it; None when the load had no (readable) partition."""
    if not partition_key:
        return None
    first, _, last = partition_key.partition(RANGE_SEPARATOR)
    try:
        return window_of(first)[0], window_of(last or first)[1]
    except ValueError:
        return None


def _fixed(table: str, row: dict, fix: Mapping[str, object]) -> dict:
    schema, _ = schemas.TABLES[table]
    unknown = sorted(set(fix) - set(schema))
    if unknown:
        raise ValueError(f"resubmit: {table} has no column {', '.join(unknown)}; "
                         f"fixable columns are {', '.join(schema)}")
    return {**row, **fix}


def _row_json(table: str, frame: pl.DataFrame) -> list[str]:
    """Each row as validate() encodes ``row_data``, so a rejected row can be matched to its input row."""
    conformed = schemas.conform(frame, table)
    return conformed.select(pl.struct(conformed.columns).struct.json_encode()).to_series().to_list()


def _known_symbols(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT symbol FROM market.stocks")}


@dataclass
class _Item:
    qid: int
    table: str
    row: dict
    window: Window | None
    fix: dict


def resubmit(
    conn: psycopg.Connection,
    *,
    ids: Sequence[int] | None = None,
    table: str | None = None,
    rule: str | None = None,
    symbol: str | None = None,
    run_id: str | None = None,
    patch: Mapping[str, object] | None = None,
    fixes: Mapping[int, Mapping[str, object]] | None = None,
    window_of: WindowOf = calendar_window,
) -> ResubmitResult:
    """Fix, re-validate and re-load open quarantined rows chosen by ``ids`` and/or table/rule/symbol.

    ``patch`` (column -> value) is applied to every selected row, then ``fixes[quarantine_id]`` to
    that row; the ids of ``fixes`` are selected too. At least one filter is required, so a bare call
    cannot replay the whole quarantine by accident. ``window_of`` maps a partition key to its window.
    """
    fixes = {int(k): dict(v) for k, v in (fixes or {}).items()}
    wanted = sorted(set(ids or ()) | set(fixes))
    if not wanted and table is None and rule is None and symbol is None:
        raise ValueError("resubmit: pass quarantine ids or a table/rule/symbol filter")
    result = ResubmitResult()
    with conn.transaction():
        selected = conn.execute(_SQL("select_open_quarantine"), {
            "ids": wanted or None, "table": table, "rule": rule, "symbol": symbol,
        }).fetchall()
        result.selected = len(selected)
        groups: dict[tuple[str, Window | None], list[_Item]] = {}
        for qid, table_name, _rule, _symbol, data, partition_key in selected:
            # row_data is a JSON object since the loader stopped double-encoding it; an older row
            # stored as a JSON string is decoded once more rather than left unresubmittable.
            row = data if isinstance(data, dict) else json.loads(data)
            if isinstance(row, str):
                row = json.loads(row)
            if table_name not in schemas.TABLES:
                result.still_failing[qid] = f"unknown table {table_name}"
                continue
            fix = {**(patch or {}), **fixes.get(qid, {})}
            item = _Item(qid, table_name, _fixed(table_name, row, fix), original_window(partition_key, window_of), fix)
            groups.setdefault((table_name, item.window), []).append(item)
        known = _known_symbols(conn) if any(t != "stocks" for t, _ in groups) else None
        passed_by_table: dict[str, list[pl.DataFrame]] = {}
        failed: list[dict] = []
        resolved: list[tuple[int, str]] = []
        for (table_name, window), items in groups.items():
            frame = rows_to_frame(table_name, [item.row for item in items])
            checked = validate(table_name, frame, window=window,
                               known_symbols=None if table_name == "stocks" else known)
            # Match by the whole row: two quarantined rows of one symbol can fail for different rules.
            valid_rows = set(_row_json(table_name, checked.valid)) if checked.valid.height else set()
            rejected = dict(zip(checked.rejected.get_column("row_data").to_list(),
                                zip(checked.rejected.get_column("rule").to_list(),
                                    checked.rejected.get_column("detail").to_list(), strict=True), strict=True))
            keep = []
            for item, encoded, i in zip(items, _row_json(table_name, frame), range(len(items)), strict=True):
                if encoded in valid_rows:
                    keep.append(i)
                    resolved.append((item.qid, _resolution(item.fix)))
                else:
                    rules, detail = rejected.get(encoded, ("duplicate_key", "an identical row was resubmitted"))
                    result.still_failing[item.qid] = rules
                    failed.append({"id": item.qid, "rule": rules, "detail": detail,
                                   "row": json.dumps(item.row, default=str)})
            if keep:
                passed_by_table.setdefault(table_name, []).append(frame.select(pl.all().gather(keep)))
        for table_name, frames in passed_by_table.items():
            _, key = schemas.TABLES[table_name]
            rows = pl.concat(frames).unique(subset=list(key), keep="first", maintain_order=True)
            # One upsert per interval: the ingest log carries a single interval, and the derived
            # refreshes only pick up price loads whose interval they compute ('1d').
            parts = rows.partition_by("interval") if table_name == "price_history" else [rows]
            for part in parts:
                # No window: the log records the rows' own time span and symbols, which is what the
                # derived refreshes recompute.
                load = upsert(conn, table_name, part, source=RESUBMIT_SOURCE, run_id=run_id)
                result.ingest_ids.append(load.ingest_id)
            result.by_table[table_name] = rows.height
        if resolved:
            result.resubmitted_ids = sorted(qid for qid, _ in resolved)
            conn.execute(_SQL("update_quarantine_resolved"),
                         {"ids": [q for q, _ in resolved], "resolutions": [r for _, r in resolved]})
        if failed:
            conn.execute(_SQL("update_quarantine_still_failing"), {
                "ids": [f["id"] for f in failed], "rules": [f["rule"] for f in failed],
                "details": [f["detail"] for f in failed], "rows": [f["row"] for f in failed]})
    return result


def _resolution(fix: Mapping[str, object]) -> str:
    if not fix:
        return RESOLUTION
    return f"{RESOLUTION} with " + ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in sorted(fix.items()))


def parse_assignments(pairs: Sequence[str]) -> dict[str, object]:
    """``["volume=1000", "low_price=99.5"]`` -> ``{"volume": 1000, "low_price": 99.5}``."""
    out: dict[str, object] = {}
    for pair in pairs:
        column, sep, value = pair.partition("=")
        if not sep or not column.strip():
            raise ValueError(f"--set {pair!r}: expected COLUMN=VALUE")
        out[column.strip()] = parse_value(value)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from stockula_pipelines.settings import Role, get_settings

    parser = argparse.ArgumentParser(prog="resubmit-quarantine", description=__doc__.splitlines()[0])
    parser.add_argument("--id", dest="ids", type=int, action="append", help="quarantine_id (repeatable)")
    parser.add_argument("--table")
    parser.add_argument("--rule")
    parser.add_argument("--symbol")
    parser.add_argument("--set", dest="assignments", action="append", default=[], metavar="COLUMN=VALUE",
                        help="fix every selected row before re-validating it (repeatable), e.g. volume=1000")
    args = parser.parse_args(argv)
    try:
        patch = parse_assignments(args.assignments)
    except ValueError as exc:
        parser.error(str(exc))
    with psycopg.connect(get_settings().dsn(Role.writer), prepare_threshold=None) as conn:
        try:
            outcome = resubmit(conn, ids=args.ids, table=args.table, rule=args.rule, symbol=args.symbol,
                               patch=patch)
        except ValueError as exc:
            parser.error(str(exc))
    print(outcome.describe())
    for qid, rules in sorted(outcome.still_failing.items()):
        print(f"  quarantine_id {qid}: still fails {rules}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
