"""The quarantine made actionable: a report asset and a job that re-submits rows after a fix."""


import dagster as dg

from stockula_pipelines.automation import after_upstream_loads
from stockula_pipelines.lib.ingest.resubmit import parse_value, resubmit
from stockula_pipelines.lib.quality.quarantine import open_summary
from stockula_pipelines.partitions import partition_window
from stockula_pipelines.resources.timescale import TimescaleResource

REPORT_ROWS = 200
_COLUMNS = (("table_name", "string"), ("rule", "string"), ("symbol", "string"), ("trading_date", "string"),
            ("rows_quarantined", "int"), ("first_seen", "string"), ("last_seen", "string"))


@dg.asset(
    key=["quality", "quarantine_report"],
    group_name="quality",
    kinds={"postgres"},
    deps=[dg.AssetKey(["market", t]) for t in
          ("price_history", "price_history_intraday", "options_calls", "options_puts", "dividends", "splits")],
    description="Open quarantined rows: one row per table, rule, symbol and trading day (from quality.quarantine_summary).",
    automation_condition=after_upstream_loads,
)
def quarantine_report(timescale: TimescaleResource) -> dg.MaterializeResult:
    with timescale.connection() as conn:
        groups, totals = open_summary(conn, limit=REPORT_ROWS)
    records = [
        dg.TableRecord({name: (g[name] if kind == "int" else ("" if g[name] is None else str(g[name])))
                        for name, kind in _COLUMNS})
        for g in groups
    ]
    schema = dg.TableSchema(columns=[dg.TableColumn(name, kind) for name, kind in _COLUMNS])
    return dg.MaterializeResult(metadata={
        "open_rows": dg.MetadataValue.int(totals.get("open_rows", 0)),
        "symbols": dg.MetadataValue.int(totals.get("symbols", 0)),
        "rules": dg.MetadataValue.int(totals.get("rules", 0)),
        "open_quarantine": dg.MetadataValue.table(records=records, schema=schema),
        "how_to_resubmit": dg.MetadataValue.md(
            "Fix the cause, then launch `resubmit_quarantine_job` with op config "
            "`{ids: [...]}` or `{table, rule, symbol}` (fix values first with `patch: {volume: '1000'}` or "
            "`fixes: [{id: N, set: {volume: '1000'}}]`), or run "
            "`python -m stockula_pipelines.lib.ingest.resubmit --id N --set volume=1000`."),
    })


class RowFix(dg.Config):
    """New values for one quarantined row's columns; each value is read as JSON when it parses
    ("1000", "101.5", "null"), else as text ("AAPL", "2024-07-05")."""

    id: int
    set: dict[str, str]


class ResubmitConfig(dg.Config):
    ids: list[int] = []
    table: str | None = None
    rule: str | None = None
    symbol: str | None = None
    patch: dict[str, str] = {}  # applied to every selected row, before its own fix
    fixes: list[RowFix] = []  # per quarantine id; their ids are selected too


@dg.op(description="Re-validate open quarantined rows; load those that now pass, leave the rest open.")
def resubmit_quarantined(context: dg.OpExecutionContext, config: ResubmitConfig,
                         timescale: TimescaleResource) -> dg.Output:
    with timescale.connection() as conn:
        outcome = resubmit(
            conn, ids=config.ids or None, table=config.table, rule=config.rule, symbol=config.symbol,
            run_id=context.run.run_id, patch={k: parse_value(v) for k, v in config.patch.items()},
            fixes={f.id: {k: parse_value(v) for k, v in f.set.items()} for f in config.fixes},
            window_of=partition_window)
    context.log.info(outcome.describe())
    for qid, rules in sorted(outcome.still_failing.items())[:50]:
        context.log.warning(f"quarantine_id {qid} still fails: {rules}")
    return dg.Output(
        len(outcome.resubmitted_ids),
        metadata={"selected": outcome.selected, "resubmitted": len(outcome.resubmitted_ids),
                  "still_failing": len(outcome.still_failing), "by_table": outcome.by_table,
                  "still_failing_rules": {str(k): v for k, v in sorted(outcome.still_failing.items())[:50]},
                  "ingest_ids": outcome.ingest_ids},
    )


@dg.job(description="Re-submit quarantined rows after the cause was fixed (ids or table/rule/symbol filter).")
def resubmit_quarantine_job():
    resubmit_quarantined()
