"""Dagster resource for the Redis response cache (``lib/cache.py``)."""

from __future__ import annotations

import redis
from dagster import ConfigurableResource
from pydantic import Field

from stockula_pipelines.lib.cache import DEFAULT_PREFIX, ResponseCache
from stockula_pipelines.settings import get_settings


class RedisCacheResource(ConfigurableResource):
    """Redis for cached source responses. Unset fields come from ``get_settings()`` when used, so
    building Definitions never reads the environment."""

    url: str | None = Field(default=None, description="redis:// URL; default STOCKULA_REDIS_HOST/PORT")
    ttl_seconds: int | None = Field(default=None, description="entry TTL; default STOCKULA_CACHE_TTL_SECONDS")
    key_prefix: str = Field(default=DEFAULT_PREFIX, description="namespace of this cache's keys")

    def resolved_url(self) -> str:
        return self.url or get_settings().redis_url

    def resolved_ttl(self) -> int:
        return self.ttl_seconds if self.ttl_seconds is not None else get_settings().cache_ttl_seconds

    def get_client(self) -> redis.Redis:
        return redis.Redis.from_url(self.resolved_url(), socket_connect_timeout=2, socket_timeout=5)

    def get_response_cache(self) -> ResponseCache:
        return ResponseCache(self.get_client(), self.resolved_ttl(), self.key_prefix)

    def ping(self) -> bool:
        try:
            return bool(self.get_client().ping())
        except redis.RedisError:
            return False
