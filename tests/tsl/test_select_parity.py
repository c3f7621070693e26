"""The Apache rollups run the continuous aggregates' very SELECTs: the texts must not drift apart."""

from __future__ import annotations

import re
from pathlib import Path

from stockula_pipelines.lib import aggregates as agg

TSL_MIGRATION = Path(__file__).resolve().parents[2] / "sql" / "0008_aggregates.tsl.sql"
CAGG = re.compile(r"CREATE MATERIALIZED VIEW aggregates\.(\w+)\s+WITH \([^)]*\) AS\s+(.*?)\s+WITH NO DATA;", re.S)


def _normalise(text: str) -> str:
    return " ".join(text.replace(";", " ").split())


def _as_migrated(a: agg.Aggregate) -> str:
    """The rollup SELECT with its bound parameters written as migration 0008 wrote them."""
    return (a.select_text().replace("%(tz)s::text", f"'{agg.MIGRATED_CAGG_TZ}'")
            .replace("%(week_origin)s::timestamptz", "TIMESTAMPTZ '2000-01-03 00:00:00-05'")
            .replace("%(source_interval)s", f"'{a.intervals[0]}'" if a.intervals else "")
            .replace('"', ""))


def test_every_continuous_aggregate_select_matches_its_file():
    selects = {m[1]: m[2] for m in CAGG.finditer(TSL_MIGRATION.read_text(encoding="utf-8"))}
    assert set(selects) == set(agg.AGGREGATES), "each aggregate has one continuous aggregate and one SELECT file"
    for name, text in selects.items():
        assert _normalise(_as_migrated(agg.AGGREGATES[name])) == _normalise(text), f"{name}'s SELECT drifted"


def test_window_predicate_goes_before_group_by():
    for name, a in agg.AGGREGATES.items():
        rendered = _normalise(agg.windowed_select(a).as_string(None))
        assert "time >= %(start)s AND time < %(end)s GROUP BY" in rendered, name
        assert rendered.count("WHERE") == 1, name
