"""The aggregates' window arithmetic: load windows widened to whole buckets in exchange time, merged."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stockula_pipelines.lib import aggregates as agg


def test_widen_to_whole_buckets_across_dst():
    # 2024-03-10 is the spring-forward Sunday: that week's Monday is EST, the next EDT.
    load = (datetime(2024, 3, 8, 14, 30, tzinfo=UTC), datetime(2024, 3, 11, 15, 0, tzinfo=UTC))
    assert agg.widen(load, "day") == (datetime(2024, 3, 8, 5, tzinfo=UTC), datetime(2024, 3, 12, 4, tzinfo=UTC))
    assert agg.widen(load, "week") == (datetime(2024, 3, 4, 5, tzinfo=UTC), datetime(2024, 3, 18, 4, tzinfo=UTC))
    assert agg.widen(load, "month") == (datetime(2024, 3, 1, 5, tzinfo=UTC), datetime(2024, 4, 1, 4, tzinfo=UTC))
    assert agg.widen(load, "hour") == (datetime(2024, 3, 8, 14, tzinfo=UTC), datetime(2024, 3, 11, 15, tzinfo=UTC))
    aligned = (datetime(2024, 12, 1, 5, tzinfo=UTC), datetime(2025, 1, 1, 5, tzinfo=UTC))
    assert agg.widen(aligned, "month") == aligned


def test_merge_overlapping_and_touching_windows():
    t = [datetime(2024, 1, d, tzinfo=UTC) for d in range(1, 10)]
    assert agg.merge([(t[4], t[6]), (t[0], t[2]), (t[2], t[3]), (t[5], t[7])]) == [(t[0], t[3]), (t[4], t[7])]


def test_widen_refuses_naive_and_empty_windows():
    with pytest.raises(ValueError, match="naive"):
        agg.widen((datetime(2024, 1, 1), datetime(2024, 1, 2)), "day")
    with pytest.raises(ValueError, match="empty window"):
        agg.widen((datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)), "day")
