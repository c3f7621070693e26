"""Acting on the quarantine: what is open, and re-submitting rows once the cause is fixed.

:func:`resubmit` re-validates the stored ``row_data`` of open quarantined rows with the ingest rules
(:func:`stockula_pipelines.lib.validation.ingest.validate`), upserts the rows that now pass through the
loader's staged upsert and marks them ``resolution='resubmitted'``; rows that still fail stay open.
Everything happens in one transaction, so a failure leaves both the table and the quarantine as they
were. ``python -m stockula_pipelines.lib.validation.quality_quarantine --rule low_above_high`` runs it
from a shell.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl
import psycopg

from stockula_pipelines.lib import schemas

from .quality import load_sql

RESOLUTION = "resubmitted"
RESUBMIT_SOURCE = "quarantine_resubmit"


@dataclass
class ResubmitResult:
    selected: int = 0
    resubmitted_ids: list[int] = field(default_factory=list)
    still_failing: dict[int, str] = field(default_factory=dict)  # quarantine_id -> rule(s) it still breaks
    by_table: dict[str, int] = field(default_factory=dict)  # rows upserted per table

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


def _known_symbols(conn: psycopg.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT symbol FROM market.stocks")}


def resubmit(
    conn: psycopg.Connection,
    *,
    ids: Sequence[int] | None = None,
    table: str | None = None,
    rule: str | None = None,
    symbol: str | None = None,
    run_id: str | None = None,
) -> ResubmitResult:
    """Re-validate and re-load open quarantined rows chosen by ``ids`` and/or table/rule/symbol filters.

    At least one filter is required, so a bare call cannot replay the whole quarantine by accident.
    """
    from stockula_pipelines.lib.ingest import upsert
    from stockula_pipelines.lib.validation.ingest import validate

    if not ids and table is None and rule is None and symbol is None:
        raise ValueError("resubmit: pass quarantine ids or a table/rule/symbol filter")
    result = ResubmitResult()
    with conn.transaction():
        selected = conn.execute(load_sql("select_open_quarantine.sql"), {
            "ids": list(ids) if ids else None, "table": table, "rule": rule, "symbol": symbol,
        }).fetchall()
        result.selected = len(selected)
        by_table: dict[str, list[tuple[int, dict]]] = {}
        for qid, table_name, _rule, _symbol, data in selected:
            row = data if isinstance(data, dict) else json.loads(data)
            by_table.setdefault(table_name, []).append((qid, row))
        known = _known_symbols(conn) if any(t != "stocks" for t in by_table) else None
        for table_name, items in by_table.items():
            if table_name not in schemas.TABLES:
                result.still_failing.update({qid: f"unknown table {table_name}" for qid, _ in items})
                continue
            _, key = schemas.TABLES[table_name]
            frame = rows_to_frame(table_name, [row for _, row in items]).with_row_index("__qrow")
            checked = validate(table_name, frame.drop("__qrow"),
                               known_symbols=None if table_name == "stocks" else known)
            passed_keys = checked.valid.select(key).unique()
            passed = frame.join(passed_keys, on=list(key), how="semi")
            ok_rows = set(passed.get_column("__qrow").to_list())
            failing = checked.rejected
            for i, (qid, row) in enumerate(items):
                if i in ok_rows:
                    result.resubmitted_ids.append(qid)
                else:
                    rules = failing.filter(pl.col("symbol") == row.get("symbol")).get_column("rule").to_list()
                    result.still_failing[qid] = ",".join(sorted(set(rules))) or "duplicate"
            if passed.height:
                loaded = passed.drop("__qrow").unique(subset=list(key), keep="first")
                upsert(conn, table_name, loaded, source=RESUBMIT_SOURCE, run_id=run_id)
                result.by_table[table_name] = loaded.height
        if result.resubmitted_ids:
            conn.execute(load_sql("update_quarantine_resolved.sql"),
                         {"ids": result.resubmitted_ids, "resolution": RESOLUTION})
    return result


def open_summary(conn: psycopg.Connection, limit: int = 200) -> tuple[list[dict], dict[str, int]]:
    """Open quarantine grouped by table/rule/symbol/trading day (largest first) and overall totals."""
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        groups = cur.execute(load_sql("select_quarantine_summary.sql"), {"limit": limit}).fetchall()
        totals = cur.execute(load_sql("select_quarantine_totals.sql")).fetchone() or {}
    return groups, {k: int(v or 0) for k, v in totals.items()}


def main(argv: Sequence[str] | None = None) -> int:
    from stockula_pipelines.settings import Role, get_settings

    parser = argparse.ArgumentParser(prog="resubmit-quarantine", description=__doc__.splitlines()[0])
    parser.add_argument("--id", dest="ids", type=int, action="append", help="quarantine_id (repeatable)")
    parser.add_argument("--table")
    parser.add_argument("--rule")
    parser.add_argument("--symbol")
    args = parser.parse_args(argv)
    with psycopg.connect(get_settings().dsn(Role.writer), prepare_threshold=None) as conn:
        outcome = resubmit(conn, ids=args.ids, table=args.table, rule=args.rule, symbol=args.symbol)
    print(outcome.describe())
    for qid, rules in sorted(outcome.still_failing.items()):
        print(f"  quarantine_id {qid}: still fails {rules}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
