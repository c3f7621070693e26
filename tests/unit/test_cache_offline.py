"""The response cache without a Redis server: frames serialise without pickle, an unreachable Redis
degrades to fetching, and the null cache always fetches."""

from __future__ import annotations

import pandas as pd
import polars as pl
from fixtures.cache_sample import MARCH, ROWS, free_port, sample_client, sample_source
from fixtures.fake_yfinance import daily_frame

from stockula_pipelines.lib.cache import NullCache, ResponseCache, frame_from_bytes, frame_to_bytes


def test_frames_round_trip_without_pickle():
    frame = daily_frame(ROWS)
    back = frame_from_bytes(frame_to_bytes(frame))
    pd.testing.assert_frame_equal(back, frame)
    assert str(back.index.tz) == "America/New_York" and back.index.name == "Date"
    assert b"pickle" not in frame_to_bytes(frame).lower()


def test_redis_down_degrades_to_fetching():
    dead = ResponseCache.from_url(f"redis://127.0.0.1:{free_port()}/0", ttl_seconds=60)
    fake = sample_client()
    bars = sample_source(fake, dead).price_bars(None, *MARCH, "1d")
    sample_source(fake, dead).price_bars(None, *MARCH, "1d")
    assert bars.height == 2 and fake.calls["history"] == 2


def test_null_cache_always_fetches():
    fake = sample_client()
    source = sample_source(fake, NullCache())
    source.stocks()
    source.stocks()
    assert fake.calls["info"] == 2
    assert isinstance(source.price_bars(None, *MARCH, "1d"), pl.DataFrame)
