"""A Redis cache for raw source responses, so a re-run within the TTL makes no network request.

Keys are ``<prefix><sha256 of (method, symbol, args)>``; each entry is a Redis hash of named byte
parts written atomically with one TTL. Frames are stored as parquet bytes (never pickle: a cache
shared between processes must not be able to execute code on read), small objects as JSON.

Only real answers are kept. A fetch that raises stores nothing, and a fetch that returns an empty
mapping ("nothing came back": yfinance's hidden errors look exactly like that) is handed back
uncached, so the next run asks again instead of replaying the failure for the whole TTL.

A Redis that is down degrades to "no cache" with a warning: the cache only saves requests, so losing
it must not fail an ingest.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
import redis

log = logging.getLogger(__name__)

# v2: history entries carry the split history they must be un-adjusted with, and v1 may hold cached
# empty responses; neither may be read back.
DEFAULT_PREFIX = "stockula:src:v2:"


def frame_to_bytes(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, engine="pyarrow", index=True)
    return buf.getvalue()


def frame_from_bytes(payload: bytes) -> pd.DataFrame:
    return pd.read_parquet(io.BytesIO(payload), engine="pyarrow")


def json_to_bytes(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, default=str).encode()


def json_from_bytes(payload: bytes) -> Any:
    return json.loads(payload)


def cache_key(method: str, symbol: str, args: Mapping[str, Any], prefix: str = DEFAULT_PREFIX) -> str:
    material = json.dumps([method, symbol, dict(args)], sort_keys=True, default=str)
    return prefix + hashlib.sha256(material.encode()).hexdigest()


class NullCache:
    """No caching: every lookup misses. For runs without Redis and for tests of the fetch path."""

    prefix = DEFAULT_PREFIX

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> dict[str, bytes] | None:
        self.misses += 1
        return None

    def put(self, key: str, parts: Mapping[str, bytes]) -> None:
        return None

    def key(self, method: str, symbol: str, args: Mapping[str, Any]) -> str:
        return cache_key(method, symbol, args, self.prefix)

    def fetch(
        self, method: str, symbol: str, args: Mapping[str, Any], fetch: Callable[[], dict[str, bytes]]
    ) -> dict[str, bytes]:
        """Return the cached parts for (method, symbol, args), calling ``fetch`` only on a miss.

        ``fetch`` returns ``{}`` for "nothing came back"; that is returned and never stored, and an
        exception from it propagates with nothing stored.
        """
        key = self.key(method, symbol, args)
        parts = self.get(key)
        if parts is None:
            parts = fetch()
            if parts:
                self.put(key, parts)
        return parts


class ResponseCache(NullCache):
    def __init__(self, client: redis.Redis, ttl_seconds: int, prefix: str = DEFAULT_PREFIX) -> None:
        super().__init__()
        if ttl_seconds <= 0:
            raise ValueError(f"cache TTL must be positive, got {ttl_seconds}")
        self.client = client
        self.ttl_seconds = ttl_seconds
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str, ttl_seconds: int, prefix: str = DEFAULT_PREFIX) -> ResponseCache:
        # Short timeouts: a dead cache must cost milliseconds, not the default socket wait.
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        return cls(client, ttl_seconds, prefix)

    def get(self, key: str) -> dict[str, bytes] | None:
        try:
            raw = self.client.hgetall(key)
        except redis.RedisError as exc:
            log.warning("response cache unavailable (%s); fetching without it", exc)
            raw = None
        if not raw:
            self.misses += 1
            return None
        self.hits += 1
        return {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}

    def put(self, key: str, parts: Mapping[str, bytes]) -> None:
        if not parts:
            return
        try:
            pipe = self.client.pipeline(transaction=True)
            pipe.delete(key)
            pipe.hset(key, mapping=dict(parts))
            pipe.expire(key, self.ttl_seconds)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("response cache unavailable (%s); result not cached", exc)

    def clear(self) -> int:
        """Drop every entry under this cache's prefix; returns how many were removed."""
        removed = 0
        for key in self.client.scan_iter(match=self.prefix + "*", count=500):
            removed += self.client.delete(key)
        return removed
