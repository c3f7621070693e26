"""Database maintenance (vacuum/analyze, statistics, reindex, TimescaleDB retention/compression) and the
health report. Pure code: no Dagster import. Every task waits for running loads and says what it changed."""
