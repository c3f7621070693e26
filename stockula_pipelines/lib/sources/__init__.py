"""Market-data sources: each returns frames conforming to :mod:`stockula_pipelines.lib.schemas`."""
