"""One Dagster asset per dbt-like model in ``curated``, with one asset check per .yml test.

Everything is derived from the models: keys from their names, dependencies from the tables their SQL
reads (parsed by lib/models), descriptions and column schemas from their .yml.
"""

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import dagster as dg

from stockula_pipelines.automation import after_upstream_loads
from stockula_pipelines.lib.models import (
    Model,
    Project,
    RenderedTest,
    count_rows,
    materialize,
    preview,
    render_tests,
    run_tests,
)
from stockula_pipelines.lib.validation.quality import CheckResult, record_results
from stockula_pipelines.resources.timescale import TimescaleResource

GROUP = "curated"
KINDS = {"sql", "postgres"}
PREVIEW_ROWS = 10
# Raw tables whose derived columns another asset fills in place: reading them means depending on it.
DERIVED_COLUMNS: dict[str, tuple[frozenset[str], dg.AssetKey]] = {
    "market.price_history": (
        frozenset({"adj_close_price", "daily_return", "volatility"}), dg.AssetKey(["analytics", "price_metrics"])),
    **{
        table: (frozenset({"implied_volatility", "delta", "gamma", "theta", "vega", "rho", "greeks_status"}),
                dg.AssetKey(["analytics", "option_greeks"]))
        for table in ("market.options_calls", "market.options_puts")
    },
}


def model_key(name: str) -> dg.AssetKey:
    return dg.AssetKey([GROUP, name])


def model_deps(model: Model) -> list[dg.AssetKey]:
    """Assets producing what the model's SQL reads, in a stable order."""
    keys: list[dg.AssetKey] = []
    for table in sorted(model.parsed.tables):
        keys.append(dg.AssetKey(list(model.spec.source_assets.get(table, table.split(".")))))
        derived = DERIVED_COLUMNS.get(table)
        read = model.parsed.columns_read.get(table, frozenset())
        if derived and ("*" in read or derived[0] & read):
            keys.append(derived[1])
    # A relationships test reads its target: the target must be built before the test runs.
    for test in model.spec.all_tests:
        if test.kind == "relationships" and test.to and test.to != model.relation:
            keys.append(dg.AssetKey(list(model.spec.source_assets.get(test.to, test.to.split(".")))))
    return list(dict.fromkeys(keys))


def column_schema(model: Model) -> dg.TableSchema:
    columns = []
    for col in model.spec.columns:
        kinds = {t.kind for t in col.tests}
        columns.append(dg.TableColumn(
            name=col.name, type=col.data_type, description=col.description,
            constraints=dg.TableColumnConstraints(nullable="not_null" not in kinds, unique="unique" in kinds),
        ))
    return dg.TableSchema(columns=columns)


def _cell(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return str(value)


def _preview_table(model: Model, columns: list[str], rows: list[tuple]) -> dg.MetadataValue:
    types = {c.name: c.data_type for c in model.spec.columns}
    schema = dg.TableSchema(columns=[dg.TableColumn(c, types.get(c, "string")) for c in columns])
    records = [dg.TableRecord({c: _cell(v) for c, v in zip(columns, row, strict=True)}) for row in rows]
    return dg.MetadataValue.table(records=records, schema=schema)


def check_spec(key: dg.AssetKey, rendered: RenderedTest) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        name=rendered.name, asset=key, description=rendered.describe(), blocking=rendered.test.blocking,
        metadata={"test": rendered.test.kind, "severity": rendered.test.severity},
    )


def check_result(key: dg.AssetKey, rendered: RenderedTest, failing: int) -> dg.AssetCheckResult:
    severity = dg.AssetCheckSeverity.ERROR if rendered.test.severity == "error" else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(
        asset_key=key, check_name=rendered.name, passed=failing == 0, severity=severity,
        metadata={
            "failing_rows": dg.MetadataValue.int(failing),
            "test": dg.MetadataValue.text(rendered.describe()),
            "query": dg.MetadataValue.md(f"```sql\n{rendered.query.as_string(None)}\n```"),
        },
    )


def history_row(key: dg.AssetKey, rendered: RenderedTest, failing: int) -> CheckResult:
    """The row this test adds to quality.data_quality_results (whole model, no window)."""
    return CheckResult(
        asset_key=key.to_user_string(), check_name=rendered.name,
        severity="ERROR" if rendered.test.severity == "error" else "WARN",
        blocking=rendered.test.severity == "error", passed=failing == 0, failing_count=failing,
        details={"test": rendered.describe()},
    )


def build_model_asset(project: Project, model: Model) -> dg.AssetsDefinition:
    key = model_key(model.name)
    rendered = render_tests(model)

    @dg.asset(
        key=key,
        group_name=GROUP,
        kinds=KINDS,
        description=model.spec.description,
        deps=model_deps(model),
        check_specs=[check_spec(key, r) for r in rendered],
        owners=["team:data-platform"],
        automation_condition=after_upstream_loads,
        metadata={
            "dagster/column_schema": column_schema(model),
            "dagster/table_name": model.relation,
            "materialized": model.spec.materialized,
            "sql_file": str(model.sql_path.name),
            **({"fills": model.spec.fills.table} if model.spec.fills else {}),
        },
    )
    def _model_asset(context: dg.AssetExecutionContext, timescale: TimescaleResource) -> Iterator[Any]:
        with timescale.connection() as conn:
            outcome = materialize(conn, project, model.name)
            rows = count_rows(conn, model)
            columns, sample = preview(conn, model, PREVIEW_ROWS)
        if outcome.recreated:
            context.log.info(f"re-created dependent views dropped by the rebuild: {', '.join(outcome.recreated)}")
        metadata: dict[str, Any] = {
            "dagster/row_count": dg.MetadataValue.int(rows),
            "preview": _preview_table(model, columns, sample),
            "materialized": dg.MetadataValue.text(model.spec.materialized),
        }
        if outcome.filled_rows is not None and model.spec.fills:
            metadata["filled_table"] = dg.MetadataValue.text(model.spec.fills.table)
            metadata["filled_rows"] = dg.MetadataValue.int(outcome.filled_rows)
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)
        # Tests read the committed relation, as analysts will; their results join the check history.
        with timescale.connection() as conn:
            results = run_tests(conn, model)
            record_results(conn, [history_row(key, r.rendered, r.failing) for r in results],
                           run_id=context.run.run_id)
        for result in results:
            yield check_result(key, result.rendered, result.failing)

    return _model_asset


def build_assets(project: Project) -> list[dg.AssetsDefinition]:
    return [build_model_asset(project, project.models[name]) for name in project.order]
