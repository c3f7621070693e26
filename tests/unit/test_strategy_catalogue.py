"""The strategy catalogue: the shipped file parses, and a version follows what a strategy computes."""

from __future__ import annotations

import pytest

from stockula_pipelines.defs.strategies.assets import CATALOGUE
from stockula_pipelines.lib.strategies.catalogue import load_catalogue, parse

BASE = {"name": "x", "kind": "ma_crossover", "parameters": {"fast": 5, "slow": 20}, "universe": {"all": True},
        "costs": {"commission_bps": 1, "slippage_bps": 2}, "description": "first"}


def test_the_shipped_catalogue_has_the_four_classics():
    strategies = load_catalogue(CATALOGUE)
    assert {s.kind for s in strategies} == {"buy_and_hold", "ma_crossover", "momentum", "mean_reversion"}
    assert len({s.version for s in strategies}) == len(strategies)
    assert all(len(s.version) == 12 and s.cost_bps > 0 for s in strategies)


def test_a_parameter_universe_or_cost_change_makes_a_new_version_a_description_does_not():
    base = parse([BASE])[0]
    assert parse([{**BASE, "description": "reworded"}])[0].version == base.version
    assert parse([{**BASE, "parameters": {"slow": 20, "fast": 5}}])[0].version == base.version  # key order
    for change in ({"parameters": {"fast": 5, "slow": 30}}, {"universe": {"sector": "Technology"}},
                   {"costs": {"commission_bps": 1, "slippage_bps": 3}}):
        assert parse([{**BASE, **change}])[0].version != base.version, change


def test_universe_members():
    sectors = {"AAA": "Technology", "BBB": "Energy", "CCC": "Technology"}
    pick = lambda universe: parse([{**BASE, "universe": universe}])[0].members(sectors)  # noqa: E731
    assert pick({"all": True}) == ["AAA", "BBB", "CCC"]
    assert pick({"sector": "Technology"}) == ["AAA", "CCC"]
    assert pick({"symbols": ["CCC", "ZZZ"]}) == ["CCC"]


@pytest.mark.parametrize("bad, message", [
    ({"kind": "astrology"}, "kind must be one of"),
    ({"parameters": {"fast": 5}}, "missing parameters"),
    ({"universe": {}}, "exactly one of"),
    ({"costs": {"commission_bps": -1}}, "must be a number >= 0"),
])
def test_bad_entries_are_refused_with_the_strategy_named(bad, message):
    with pytest.raises(ValueError, match=message):
        parse([{**BASE, **bad}])
