"""The test ladder's harness: the code location's own definitions, run through Dagster against the test
database, with a synthetic source that can be told to send bad rows.

Everything goes through the public surface: ``stockula_pipelines.definitions.defs`` (its assets, checks
and jobs), the resources, asset and check keys. Only the resources change: the writer DSN and backups
of the test database, and :class:`LadderMarketData`, the synthetic source wrapped by
:class:`FaultySource`. A :class:`Fault` rewrites one symbol's rows of one table in the source's answer,
so a defect enters where a real feed's would and goes through normalisation, row validation,
quarantine, the load and the checks like any other row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg
import polars as pl
from conftest import TestDatabase

from stockula_pipelines.definitions import defs
from stockula_pipelines.resources.backup import OperationsResource
from stockula_pipelines.resources.market_data import MarketDataResource
from stockula_pipelines.resources.timescale import TimescaleResource
from stockula_pipelines.settings import Role

UNIVERSE = 6
SEED = 42
IMPLICIT_JOB = "__ASSET_JOB"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"

# Tables a fault can rewrite, as the source's methods answer them.
TABLES = ("stocks", "price_history", "price_history_intraday", "options_calls", "options_puts", "dividends",
          "splits")


@dataclass(frozen=True)
class Fault:
    """``change`` rewrites ``symbol``'s rows of ``table`` in every answer of the source (it gets the
    symbol's rows, possibly none, with the answer's schema, and returns the rows to send instead)."""

    table: str
    symbol: str
    change: Callable[[pl.DataFrame], pl.DataFrame]

    def __post_init__(self) -> None:
        if self.table not in TABLES:
            raise ValueError(f"fault on unknown table {self.table!r}; one of {', '.join(TABLES)}")


# The faults in force, by resource key: the resource is configuration (plain fields), the faults code.
ACTIVE: dict[str, tuple[Fault, ...]] = {}


class FaultySource:
    """A source answering like ``inner`` except for the rows the active faults rewrite."""

    def __init__(self, inner, faults: Sequence[Fault]) -> None:
        self.inner = inner
        self.faults = tuple(faults)

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    def _apply(self, table: str, frame: pl.DataFrame) -> pl.DataFrame:
        for fault in self.faults:
            if fault.table == table:
                mine = pl.col("symbol") == fault.symbol
                changed = fault.change(frame.filter(mine))
                frame = pl.concat([frame.filter(~mine), changed.select(frame.columns)], how="vertical_relaxed")
        return frame

    def stocks(self, symbols=None) -> pl.DataFrame:
        return self._apply("stocks", self.inner.stocks(symbols))

    def price_bars(self, symbols, start, end, interval) -> pl.DataFrame:
        table = "price_history" if interval == "1d" else "price_history_intraday"
        return self._apply(table, self.inner.price_bars(symbols, start, end, interval))

    def option_chains(self, symbols, snapshot_date):
        calls, puts = self.inner.option_chains(symbols, snapshot_date)
        return self._apply("options_calls", calls), self._apply("options_puts", puts)

    def dividends(self, symbols, start, end) -> pl.DataFrame:
        return self._apply("dividends", self.inner.dividends(symbols, start, end))

    def splits(self, symbols, start, end) -> pl.DataFrame:
        return self._apply("splits", self.inner.splits(symbols, start, end))


class LadderMarketData(MarketDataResource):
    """The synthetic source of the ladder, with the faults registered under ``key``."""

    key: str = "ladder"

    def get_source(self):
        return FaultySource(super().get_source(), ACTIVE.get(self.key, ()))


def clean_source():
    """The synthetic source the ladder loads, without faults (to compute what a fault should change)."""
    return MarketDataResource(source="synthetic", seed=SEED, universe_size=UNIVERSE).get_source()


@dataclass
class Run:
    label: str
    result: dg.ExecuteInProcessResult

    @property
    def materialized(self) -> set[dg.AssetKey]:
        return {e.asset_key for e in self.result.get_asset_materialization_events()}

    @property
    def evaluations(self) -> list[dg.AssetCheckEvaluation]:
        return list(self.result.get_asset_check_evaluations())

    def failed_checks(self) -> set[dg.AssetCheckKey]:
        return {dg.AssetCheckKey(e.asset_key, e.check_name) for e in self.evaluations if not e.passed}

    def evaluation(self, asset: str, check: str, partition: str | None = None) -> dg.AssetCheckEvaluation:
        """The run's last evaluation of ``check`` (on ``partition``, or the run-level one when None)."""
        key = dg.AssetKey.from_user_string(asset)
        found = [e for e in self.evaluations if e.asset_key == key and e.check_name == check
                 and e.partition == partition]
        assert found, f"{self.label}: no evaluation of {asset} {check} (partition {partition})"
        return found[-1]

    def meta(self, asset: str) -> dict:
        key = dg.AssetKey.from_user_string(asset)
        events = [e for e in self.result.get_asset_materialization_events() if e.asset_key == key]
        assert events, f"{self.label}: {asset} was not materialised"
        return {k: v.value for k, v in events[-1].materialization.metadata.items()}

    def output_meta(self, step: str) -> dict:
        (event,) = [e for e in self.result.all_events
                    if e.event_type == dg.DagsterEventType.STEP_OUTPUT and e.step_key == step]
        return {k: v.value for k, v in event.event_specific_data.metadata.items()}

    def step_errors(self) -> str:
        texts = []
        for event in self.result.all_events:
            if event.is_step_failure:
                error = event.event_specific_data.error
                while error is not None:
                    texts.append(error.message)
                    error = error.cause
        return "\n".join(texts)


class Ladder:
    """The code location's definitions bound to the test database, one Dagster instance, the runs made."""

    def __init__(self, db: TestDatabase, key: str = "ladder") -> None:
        self.db = db
        self.key = key
        self.instance = dg.DagsterInstance.ephemeral()
        self.defs = dg.Definitions(
            assets=list(defs.assets or []), asset_checks=list(defs.asset_checks or []), jobs=list(defs.jobs or []),
            resources={
                **defs.resources,
                "timescale": TimescaleResource(dsn=db.dsn(Role.writer)),
                "market_data": LadderMarketData(key=key, source="synthetic", seed=SEED, universe_size=UNIVERSE,
                                                retry_delay_seconds=0),
                "operations": OperationsResource(database=db.name),
            },
        )
        self.graph = self.defs.resolve_asset_graph()
        self.runs: list[Run] = []  # every run made, in order
        self.clean_runs: list[Run] = []  # the runs over clean data (set by whoever built the window)

    @contextmanager
    def faults(self, *faults: Fault) -> Iterator[None]:
        ACTIVE[self.key] = faults
        try:
            yield
        finally:
            ACTIVE.pop(self.key, None)

    def job(self, name: str, *, assets: Sequence[str] | None = None, partition: str | None = None,
            partition_range: tuple[str, str] | None = None, run_config: Mapping | None = None,
            label: str | None = None) -> Run:
        """Execute the definitions' job ``name`` (``IMPLICIT_JOB`` with ``assets`` for a selection)."""
        job = self.defs.resolve_implicit_global_asset_job_def() if name == IMPLICIT_JOB else self.defs.resolve_job_def(name)
        tags = {RANGE_START: partition_range[0], RANGE_END: partition_range[1]} if partition_range else None
        result = job.execute_in_process(
            instance=self.instance, raise_on_error=False, partition_key=partition, tags=tags,
            run_config=dict(run_config) if run_config else None,
            asset_selection=[dg.AssetKey.from_user_string(a) for a in assets] if assets is not None else None,
        )
        run = Run(label or name, result)
        self.runs.append(run)
        for line in run.step_errors().splitlines()[:20]:  # shown by pytest when a test fails
            print(f"[{run.label}] {line}")
        return run

    def assets(self, *keys: str, label: str | None = None) -> Run:
        """Materialise unpartitioned assets (with their checks) in one run of the implicit job."""
        return self.job(IMPLICIT_JOB, assets=list(keys), label=label or ", ".join(keys))

    def unpartitioned(self, *, groups: Sequence[str] | None = None, exclude: Sequence[str] = ()) -> list[str]:
        """The unpartitioned asset keys of the definitions (of ``groups``), as user strings, sorted."""
        keys = []
        for key in self.graph.get_all_asset_keys():
            node = self.graph.get(key)
            if node.is_materializable and node.partitions_def is None and key.to_user_string() not in exclude \
                    and (groups is None or node.group_name in groups):
                keys.append(key.to_user_string())
        return sorted(keys)
