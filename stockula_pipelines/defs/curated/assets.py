"""One Dagster asset per dbt-like model in ``curated``, with one asset check per .yml test.

Everything is derived from the models, through a :class:`~.translator.CuratedTranslator`: keys from
their names, dependencies from the tables their SQL reads (parsed by lib/models), descriptions and
column schemas from their .yml. Each test's outcome goes through the package's one converter into
Dagster's results and joins ``quality.data_quality_results``.
"""

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import dagster as dg

from stockula_pipelines.defs.curated.translator import CuratedTranslator
from stockula_pipelines.defs.quality.results import check_spec, to_check_result
from stockula_pipelines.lib.models import (
    Model,
    Project,
    count_rows,
    materialize,
    preview,
    render_tests,
    run_tests,
)
from stockula_pipelines.lib.quality.results import record_results
from stockula_pipelines.resources.timescale import TimescaleResource

PREVIEW_ROWS = 10


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


def build_model_asset(project: Project, model: Model, translator: CuratedTranslator) -> dg.AssetsDefinition:
    key = translator.get_asset_key(model)

    @dg.asset(
        key=key,
        group_name=translator.get_group_name(model),
        kinds=translator.get_kinds(model),
        description=translator.get_description(model),
        deps=translator.get_deps(model, project),
        check_specs=[check_spec(key, r.spec) for r in render_tests(model)],
        owners=translator.get_owners(model),
        automation_condition=translator.get_automation_condition(model),
        metadata=translator.get_metadata(model),
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
            outcomes = [r.outcome(key.to_user_string()) for r in run_tests(conn, model)]
            record_results(conn, outcomes, run_id=context.run.run_id)
        for result in outcomes:
            yield to_check_result(result)

    return _model_asset


def build_assets(project: Project, translator: CuratedTranslator | None = None) -> list[dg.AssetsDefinition]:
    translator = translator or CuratedTranslator()
    return [build_model_asset(project, project.models[name], translator) for name in project.order]
