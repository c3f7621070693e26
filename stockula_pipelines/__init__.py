"""stockula-pipelines: a Dagster code location keeping a TimescaleDB market-data warehouse current."""

__version__ = "0.1.0"
