"""Market-data sources: the :class:`MarketDataSource` interface and :func:`make_source`.

Concrete sources are imported lazily so that choosing the synthetic source never imports yfinance.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from stockula_pipelines.lib.sources.base import (
    MarketDataSource,
    SourceConfigError,
    SourceError,
)

if TYPE_CHECKING:
    from stockula_pipelines.lib.cache import NullCache
    from stockula_pipelines.settings import Settings

__all__ = ["MarketDataSource", "SourceConfigError", "SourceError", "exchange_tz_for", "make_source"]


def exchange_tz_for(exchange: str) -> str:
    """IANA zone of an exchange calendar code such as ``XNYS``."""
    from stockula_pipelines.lib.calendar import exchange_tz

    try:
        return str(exchange_tz(exchange))
    except Exception as exc:
        raise SourceConfigError(f"unknown exchange calendar {exchange!r} (STOCKULA_EXCHANGE)") from exc


def make_source(settings: Settings, *, cache: NullCache | None = None) -> MarketDataSource:
    """The source named by ``settings.source``; ``cache`` overrides the Redis cache of yfinance."""
    kind = settings.source
    if kind == "synthetic":
        from stockula_pipelines.lib.sources.synthetic import SyntheticSource

        return SyntheticSource(seed=settings.synthetic_seed, universe_size=settings.synthetic_universe_size,
                               exchange=settings.exchange, history_start=settings.history_start)
    if kind == "files":
        from stockula_pipelines.lib.sources.files import FilesSource

        if settings.files_dir is None:
            raise SourceConfigError("STOCKULA_SOURCE=files needs STOCKULA_FILES_DIR (a directory laid out "
                                    "as described in docs/files-source.md)")
        directory = Path(settings.files_dir)
        if not directory.is_dir():
            raise SourceConfigError(f"STOCKULA_FILES_DIR={directory} is not a directory")
        return FilesSource(directory, exchange=settings.exchange, split_adjusted=settings.files_split_adjusted)
    if kind == "yfinance":
        from stockula_pipelines.lib.cache import ResponseCache
        from stockula_pipelines.lib.sources.yfinance_source import YFinanceSource

        if cache is None:
            cache = ResponseCache.from_url(settings.redis_url, settings.cache_ttl_seconds)
        tz = exchange_tz_for(settings.exchange)
        return YFinanceSource(cache=cache, symbols=settings.symbols, exchange_tz=tz, exchange=settings.exchange,
                              max_retries=settings.yfinance_max_retries)
    raise SourceConfigError(f"unknown STOCKULA_SOURCE {kind!r}: choose synthetic, files or yfinance")
