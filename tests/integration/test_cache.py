"""The response cache through a real Redis: a throwaway redis-server started for this module."""

from __future__ import annotations

import random
import shutil
import subprocess
import time
from datetime import UTC, date, datetime

import pytest
import redis
import yfinance
from fixtures.cache_sample import MARCH, free_port, sample_client, sample_source

from stockula_pipelines.lib.cache import (
    NullCache,
    ResponseCache,
    cache_key,
)
from stockula_pipelines.lib.sources.base import SourceError
from stockula_pipelines.lib.sources.yfinance_source import YFinanceSource

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"redis-server did not start on port {port}")
            time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture()
def cache(redis_url) -> ResponseCache:
    cache = ResponseCache.from_url(redis_url, ttl_seconds=600, prefix=f"test:{random.random()}:")
    yield cache
    cache.clear()


def test_rerun_within_ttl_makes_no_request(cache, redis_url):
    fake = sample_client()
    first = sample_source(fake, cache)
    bars = first.price_bars(None, *MARCH, "1d")
    stocks = first.stocks()
    calls, puts = first.option_chains(None, date(2024, 3, 8))
    requests_made = sum(fake.calls.values())
    # window history + its split history (period=max), info, options listing, one chain per expiry
    assert requests_made == 1 + 1 + 1 + 1 + 2

    # a new process would build a new source; only Redis carries the responses over
    again = sample_source(fake, ResponseCache.from_url(redis_url, 600, cache.prefix),
                          clock=datetime(2024, 3, 8, 22, tzinfo=UTC))
    assert again.price_bars(None, *MARCH, "1d").equals(bars)
    assert again.dividends(None, *MARCH)["amount"].to_list() == [0.24]  # same daily response serves actions
    assert again.stocks().equals(stocks)
    calls2, puts2 = again.option_chains(None, date(2024, 3, 8))
    assert calls2.equals(calls) and puts2.equals(puts)  # same snapshot time: an idempotent reload
    assert sum(fake.calls.values()) == requests_made
    assert again.cache.hits >= 5 and again.cache.misses == 0


def test_entries_carry_the_ttl(cache):
    fake = sample_client()
    sample_source(fake, cache).price_bars(None, *MARCH, "1d")
    keys = list(cache.client.scan_iter(match=cache.prefix + "*"))
    assert len(keys) == 1
    assert 0 < cache.client.ttl(keys[0]) <= 600


def test_different_arguments_are_different_entries(cache):
    fake = sample_client()
    source = sample_source(fake, cache)
    source.price_bars(None, *MARCH, "1d")
    source.price_bars(None, MARCH[0], datetime(2024, 3, 9, tzinfo=UTC), "1d")
    assert fake.calls["history"] == 2
    assert cache_key("history", "AAPL", {"a": 1}) != cache_key("history", "AAPL", {"a": 2})


def _keys(cache: ResponseCache) -> list[bytes]:
    return list(cache.client.scan_iter(match=cache.prefix + "*"))


def test_an_empty_history_is_never_cached(cache):
    fake = sample_client()
    source = YFinanceSource(yf_module=fake, cache=cache, symbols=["GONE"], sleep=lambda s: None)
    assert source.price_bars(None, *MARCH, "1d").height == 0  # yfinance's empty frame: holiday or hidden error
    assert _keys(cache) == []
    source.price_bars(None, *MARCH, "1d")
    assert fake.calls["history"] == 2  # asked again, not replayed from the cache
    assert fake.calls["history_max"] == 0


def test_a_failed_history_or_split_history_is_never_cached(cache):
    fake = sample_client()
    fake.fail_first("AAPL", "history", KeyError("chart"))
    fake.fail_first("AAPL", "history_max", yfinance.exceptions.YFException("Yahoo is down"))
    source = sample_source(fake, cache)
    with pytest.raises(SourceError, match=r"AAPL: history\(1d\) failed"):
        source.price_bars(None, *MARCH, "1d")
    with pytest.raises(SourceError, match=r"AAPL: history\(period=max\) failed"):
        source.price_bars(None, *MARCH, "1d")  # the window came back, its split history did not
    assert _keys(cache) == []
    assert source.price_bars(None, *MARCH, "1d").height == 2
    [key] = _keys(cache)
    assert set(cache.client.hkeys(key)) == {b"frame", b"splits"}  # the bars and the splits they need
    source.price_bars(None, *MARCH, "1d")
    assert (fake.calls["history"], fake.calls["history_max"]) == (3, 2)


def test_an_empty_expiry_list_or_info_is_never_cached(cache):
    fake = sample_client()
    fake.chains.pop("AAPL")
    fake.infos.pop("AAPL")
    source = sample_source(fake, cache)
    assert source.option_chains(None, date(2024, 3, 8))[0].height == 0
    assert source.stocks()["name"].to_list() == [None]
    assert _keys(cache) == []
    source.option_chains(None, date(2024, 3, 8))
    assert fake.calls["options"] == 2


def test_a_chain_cached_in_its_session_reloads_the_same_rows_after_it(cache, redis_url):
    fake = sample_client()
    calls, _ = sample_source(fake, cache).option_chains(None, date(2024, 3, 8))
    assert set(calls["time"]) == {datetime(2024, 3, 8, 21, tzinfo=UTC)}
    monday = datetime(2024, 3, 11, 15, tzinfo=UTC)  # the next session is open: Yahoo now serves its chain
    again, _ = sample_source(fake, ResponseCache.from_url(redis_url, 600, cache.prefix), clock=monday).option_chains(
        None, date(2024, 3, 8))
    assert again.equals(calls) and fake.calls["options"] == 1
    with pytest.raises(SourceError, match=r"option chain for 2024-03-08 cannot be fetched on 2024-03-11T15:00Z"):
        sample_source(fake, NullCache(), clock=monday).option_chains(None, date(2024, 3, 8))
