"""The database resource is configuration until first use: building it reads no setting."""

from __future__ import annotations

from stockula_pipelines.resources.timescale import TimescaleResource


def test_timescale_resource_reads_no_settings_until_used(monkeypatch):
    monkeypatch.setenv("STOCKULA_WRITER_PASSWORD", "")
    resource = TimescaleResource()
    assert resource.dsn is None and resource._pool is None
