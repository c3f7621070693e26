"""Dagster resource handing assets a :class:`MarketDataSource` chosen by configuration."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource
from pydantic import Field

from stockula_pipelines.lib.cache import NullCache, ResponseCache
from stockula_pipelines.lib.sources import MarketDataSource, make_source
from stockula_pipelines.settings import Settings, get_settings


class MarketDataResource(ConfigurableResource):
    """Every field left unset falls back to ``get_settings()`` at run time (not at import time), so
    one Definitions object serves any STOCKULA_* environment."""

    source: str | None = Field(
        default=None, description="synthetic | files | yfinance; default STOCKULA_SOURCE")
    seed: int | None = Field(default=None, description="synthetic source seed")
    universe_size: int | None = Field(default=None, description="synthetic source universe size")
    files_dir: str | None = Field(default=None, description="directory of the files source")
    symbols: list[str] | None = Field(default=None, description="yfinance symbols (default universe if unset)")
    redis_url: str | None = Field(default=None, description="response cache for yfinance")
    cache_ttl_seconds: int | None = Field(default=None, description="response cache TTL")
    use_cache: bool = Field(default=True, description="false = no Redis response cache")
    retry_delay_seconds: float = Field(
        default=30.0, description="pause before the second pass over rate-limited symbols")
    load_batch_rows: int | None = Field(
        default=None, description="rows per batch of symbols of a range run (default STOCKULA_LOAD_BATCH_ROWS)")

    def resolved_settings(self) -> Settings:
        overrides = {
            "source": self.source,
            "synthetic_seed": self.seed,
            "synthetic_universe_size": self.universe_size,
            "files_dir": Path(self.files_dir) if self.files_dir else None,
            "symbols": [s.upper() for s in self.symbols] if self.symbols else None,
            "cache_ttl_seconds": self.cache_ttl_seconds,
            "load_batch_rows": self.load_batch_rows,
        }
        base = get_settings()
        return base.model_copy(update={k: v for k, v in overrides.items() if v is not None})

    def get_source(self) -> MarketDataSource:
        settings = self.resolved_settings()
        cache = None
        if settings.source == "yfinance":
            if not self.use_cache:
                cache = NullCache()
            elif self.redis_url:
                cache = ResponseCache.from_url(self.redis_url, settings.cache_ttl_seconds)
        return make_source(settings, cache=cache)
