"""pgBackRest backup chains read from ``info``: an incremental whose full backup is gone is refused."""

from __future__ import annotations

from stockula_pipelines.lib.backup import physical


def test_a_broken_chain_is_refused_with_what_to_do():
    info = [{"label": "20260101-000000F_20260102-000000I", "reference": ["20260101-000000F"], "error": False}]
    problem = physical.chain_problem(info, "20260101-000000F_20260102-000000I")
    assert problem and "--force-full" in problem and "20260101-000000F" in problem
    assert physical.chain_problem(info, "20250101-000000F") is not None
    full_ok = [{"label": "20260101-000000F", "reference": None, "error": False}]
    assert physical.chain_problem(full_ok, "20260101-000000F") is None
