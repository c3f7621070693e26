"""How a dbt-like model becomes a Dagster asset: its key, group, description, metadata and deps.

:class:`CuratedTranslator` plays the part of dagster-dbt's ``DagsterDbtTranslator``: every naming and
grouping decision about the curated assets is one of its methods, so a subclass that overrides, say,
:meth:`~CuratedTranslator.get_asset_key` renames the assets, and the models that read them depend on
the new keys, without touching how assets are built (``assets.py``)::

    class MartsApart(CuratedTranslator):
        def get_group_name(self, model):
            return "marts" if model.sql_path.parent.name == "marts" else "staging"

    definitions(translator=MartsApart())
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dagster as dg

from stockula_pipelines.automation import after_upstream_loads
from stockula_pipelines.lib.models import SCHEMA, Model, Project

# The raw tables whose columns another asset writes in place after the load: a model that reads one
# of those columns (or ``*``) depends on that asset as well as on the load, so it is never built from
# bars whose returns, or contracts whose Greeks, are not computed yet. This is the one place that says
# which asset fills which columns (analytics/price_metrics and analytics/option_greeks write them).
_GREEKS = frozenset({"implied_volatility", "delta", "gamma", "theta", "vega", "rho", "greeks_status"})
FILLED_IN_PLACE: Mapping[str, tuple[frozenset[str], dg.AssetKey]] = {
    "market.price_history": (frozenset({"adj_close_price", "daily_return", "volatility"}),
                             dg.AssetKey(["analytics", "price_metrics"])),
    "market.options_calls": (_GREEKS, dg.AssetKey(["analytics", "option_greeks"])),
    "market.options_puts": (_GREEKS, dg.AssetKey(["analytics", "option_greeks"])),
}


class CuratedTranslator:
    """The default mapping: key ``curated/<model>``, group ``curated``, the .yml's description."""

    def get_asset_key(self, model: Model) -> dg.AssetKey:
        return dg.AssetKey([SCHEMA, model.name])

    def get_source_key(self, model: Model, relation: str) -> dg.AssetKey:
        """The asset producing ``relation`` (``schema.table``, not a model): the model's own
        ``source_assets`` entry (e.g. intraday bars) or the relation's path."""
        return dg.AssetKey(list(model.spec.source_assets.get(relation, relation.split("."))))

    def get_filler(self, relation: str) -> tuple[frozenset[str], dg.AssetKey] | None:
        """The columns of ``relation`` another asset writes in place, and that asset (:data:`FILLED_IN_PLACE`)."""
        return FILLED_IN_PLACE.get(relation)

    def get_group_name(self, model: Model) -> str:
        return SCHEMA

    def get_description(self, model: Model) -> str:
        return model.spec.description

    def get_kinds(self, model: Model) -> set[str]:
        return {"sql", "postgres"}

    def get_owners(self, model: Model) -> list[str]:
        return ["team:data-platform"]

    def get_automation_condition(self, model: Model) -> dg.AutomationCondition | None:
        return after_upstream_loads

    def get_column_schema(self, model: Model) -> dg.TableSchema:
        columns = []
        for col in model.spec.columns:
            kinds = {t.kind for t in col.tests}
            columns.append(dg.TableColumn(
                name=col.name, type=col.data_type, description=col.description,
                constraints=dg.TableColumnConstraints(nullable="not_null" not in kinds, unique="unique" in kinds),
            ))
        return dg.TableSchema(columns=columns)

    def get_metadata(self, model: Model) -> dict[str, Any]:
        return {
            "dagster/column_schema": self.get_column_schema(model),
            "dagster/table_name": model.relation,
            "materialized": model.spec.materialized,
            "sql_file": str(model.sql_path.name),
            **({"fills": model.spec.fills.table} if model.spec.fills else {}),
        }

    def _relation_key(self, model: Model, relation: str, project: Project) -> dg.AssetKey:
        name = relation.removeprefix(f"{SCHEMA}.")
        if relation.startswith(f"{SCHEMA}.") and name in project.models:
            return self.get_asset_key(project.models[name])
        return self.get_source_key(model, relation)

    def get_deps(self, model: Model, project: Project) -> list[dg.AssetKey]:
        """Assets producing what the model reads, in a stable order: the models it reads (by this
        translator's keys), the raw tables' assets, the asset filling a derived column it reads, and
        the target of a relationships test (which must be built before the test runs)."""
        keys: list[dg.AssetKey] = []
        for relation in sorted(model.parsed.tables):
            keys.append(self._relation_key(model, relation, project))
            filled = self.get_filler(relation)
            read = model.parsed.columns_read.get(relation, frozenset())
            if filled and ("*" in read or filled[0] & read):
                keys.append(filled[1])
        for test in model.spec.all_tests:
            if test.kind == "relationships" and test.to and test.to != model.relation:
                keys.append(self._relation_key(model, test.to, project))
        return list(dict.fromkeys(keys))
