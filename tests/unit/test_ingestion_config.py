"""Each ingestion asset of the definitions, materialised by Dagster with a misconfigured source: the step
fails on the source's setting, named, before any database work (the database resource points at a port
nothing listens on, so a query first would fail differently)."""

from __future__ import annotations

import socket

import dagster as dg
import pytest
from fixtures.dagster_results import failure_messages

from stockula_pipelines.definitions import defs
from stockula_pipelines.resources.market_data import MarketDataResource
from stockula_pipelines.resources.timescale import TimescaleResource

INGESTION = [
    (["market", "stocks"], None),
    (["market", "price_history"], "2025-06-06"),
    (["market", "price_history_intraday"], "2025-06-06-15:30"),
    (["market", "options_calls"], "2025-06-06"),
    (["market", "dividends"], "2025-06"),
]
CONFIGS = [
    ({"source": "files", "files_dir": "/nonexistent/stockula-files"},
     "STOCKULA_FILES_DIR=/nonexistent/stockula-files is not a directory"),
    ({"source": "bloomberg"}, "unknown STOCKULA_SOURCE 'bloomberg'"),
]


def _nowhere() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql://nobody@127.0.0.1:{port}/nothing"


def _messages(result: dg.ExecuteInProcessResult) -> str:
    return "\n".join(failure_messages(result))


@pytest.mark.parametrize("source,message", CONFIGS, ids=["missing_files_dir", "unknown_source"])
@pytest.mark.parametrize("key,partition", INGESTION, ids=["/".join(k) for k, _ in INGESTION])
def test_a_misconfigured_source_fails_the_load_naming_the_setting(key, partition, source, message):
    assets = defs.get_assets_def(dg.AssetKey(key))  # a multi-asset loads both its tables
    result = dg.materialize(
        [assets], selection=list(assets.keys), partition_key=partition, raise_on_error=False,
        resources={"market_data": MarketDataResource(**source),
                   "timescale": TimescaleResource(dsn=_nowhere(), pool_timeout_s=1)},
    )
    assert not result.success
    assert message in _messages(result)
    assert result.get_asset_materialization_events() == []
