"""The automation condition of every derived asset, evaluated by Dagster over the code location's own
definitions, with no database: loads and check results are reported to an in-memory instance as the
runs would record them, and ``evaluate_automation_conditions`` says what the automation sensor's tick
would request."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.definitions.asset_checks.asset_check_evaluation import (  # the class the checks use too
    AssetCheckEvaluationTargetMaterializationData,
)

from stockula_pipelines.definitions import defs

DAILY = dg.AssetKey(["market", "price_history"])
GRAPH = defs.resolve_asset_graph()


class Instance:
    """An in-memory Dagster instance, the automation cursor, and what each tick requested."""

    def __init__(self) -> None:
        self.instance = dg.DagsterInstance.ephemeral()
        self.cursor = None

    def load(self, key: dg.AssetKey, partition: str, *, failed: tuple[str, ...] = (),
             passed: tuple[str, ...] = ()) -> None:
        """A materialisation of ``partition`` and its checks' results, each naming the materialisation."""
        self.instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=partition))
        (record,) = self.instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1).records
        target = AssetCheckEvaluationTargetMaterializationData(
            storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp)
        for name, ok in [*((n, False) for n in failed), *((n, True) for n in passed)]:
            spec = GRAPH.get_check_spec(dg.AssetCheckKey(key, name))  # the check exists on the asset
            self.instance.report_runless_asset_event(dg.AssetCheckEvaluation(
                asset_key=key, check_name=spec.name, passed=ok, partition=partition,
                target_materialization_data=target))

    def tick(self) -> set[dg.AssetKey]:
        result = dg.evaluate_automation_conditions(defs=defs, instance=self.instance, cursor=self.cursor)
        self.cursor = result.cursor
        return {k for k in GRAPH.get_all_asset_keys() if result.get_num_requested(k)}


def _downstream(key: dg.AssetKey) -> set[dg.AssetKey]:
    return set(dg.AssetSelection.assets(key).downstream(include_self=False).resolve(GRAPH))


@pytest.fixture()
def automation() -> Instance:
    """A deployment whose sensor has ticked once: "updated since" is judged from one tick to the next."""
    automation = Instance()
    assert automation.tick() == set()  # nothing loaded, nothing to do
    return automation


def test_a_load_requests_everything_downstream_of_it_once(automation: Instance):
    automation.load(DAILY, "2025-06-06")
    requested = automation.tick()
    assert requested == _downstream(DAILY)
    assert dg.AssetKey(["analytics", "price_metrics"]) in requested
    assert dg.AssetKey(["analytics", "option_greeks"]) not in requested  # reads the option chains only
    assert dg.AssetKey(["aggregates", "price_history_daily"]) not in requested  # built from intraday bars
    assert automation.tick() == set()  # once per upstream change


def test_a_failed_blocking_check_holds_back_the_derived_assets_until_the_partition_is_reloaded(
        automation: Instance):
    automation.load(DAILY, "2025-06-06", failed=("ohlc_consistent",))
    assert GRAPH.get_check_spec(dg.AssetCheckKey(DAILY, "ohlc_consistent")).blocking
    assert automation.tick() == set()
    # A failure judges the materialisation it names: a newer load of the partition is not held by it.
    automation.load(DAILY, "2025-06-06")
    assert automation.tick() == _downstream(DAILY)


def test_a_failed_warning_check_lets_the_derived_assets_run(automation: Instance):
    automation.load(DAILY, "2025-06-06", failed=("price_jump_without_split", "source_coverage"))
    assert not GRAPH.get_check_spec(dg.AssetCheckKey(DAILY, "price_jump_without_split")).blocking
    assert automation.tick() == _downstream(DAILY)


def test_a_blocking_failure_on_one_partition_holds_back_a_later_good_load(automation: Instance):
    # The derived assets read every partition: a later clean day does not release a bad one.
    automation.load(DAILY, "2025-06-05", failed=("no_missing_trading_days",))
    automation.load(DAILY, "2025-06-06", passed=("no_missing_trading_days",))
    assert automation.tick() == set()
