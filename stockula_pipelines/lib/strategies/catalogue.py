"""The strategy catalogue: parse, validate and version the YAML definitions.

A strategy's version is a hash of its canonical definition (kind, parameters, universe, costs as
sorted-key JSON), so any change to what it computes makes a new version, while renaming the
description does not. Old versions keep their rows and stay attributable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stockula_pipelines.lib.quant.backtest import KINDS

REQUIRED_PARAMETERS = {
    "buy_and_hold": set(),
    "ma_crossover": {"fast", "slow"},
    "momentum": {"lookback"},
    "mean_reversion": {"window", "entry_z"},
}


@dataclass(frozen=True)
class Strategy:
    name: str
    kind: str
    parameters: Mapping[str, Any]
    universe: Mapping[str, Any]
    commission_bps: float
    slippage_bps: float
    description: str = ""
    version: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "version", version_of(self.definition()))

    def definition(self) -> dict[str, Any]:
        return {"kind": self.kind, "parameters": dict(self.parameters), "universe": dict(self.universe),
                "costs": {"commission_bps": self.commission_bps, "slippage_bps": self.slippage_bps}}

    @property
    def cost_bps(self) -> float:
        return self.commission_bps + self.slippage_bps

    def members(self, sectors: Mapping[str, str | None]) -> list[str]:
        """The universe's symbols among ``sectors`` (symbol -> sector of every known stock)."""
        if self.universe.get("all"):
            return sorted(sectors)
        if "sector" in self.universe:
            return sorted(s for s, sec in sectors.items() if sec == self.universe["sector"])
        return sorted(s for s in self.universe["symbols"] if s in sectors)


def version_of(definition: Mapping[str, Any]) -> str:
    canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"), default=float)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def _float(entry: Mapping[str, Any], key: str, where: str) -> float:
    value = entry.get(key, 0.0)
    if not isinstance(value, int | float) or value < 0:
        raise ValueError(f"{where}: costs.{key} must be a number >= 0, got {value!r}")
    return float(value)


def parse(entries: Sequence[Mapping[str, Any]]) -> list[Strategy]:
    strategies, seen = [], set()
    for i, entry in enumerate(entries):
        where = f"strategy #{i + 1} ({entry.get('name', '?')})"
        name, kind = entry.get("name"), entry.get("kind")
        if not name or name in seen:
            raise ValueError(f"{where}: needs a unique name")
        if kind not in KINDS:
            raise ValueError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        parameters = dict(entry.get("parameters") or {})
        missing = REQUIRED_PARAMETERS[kind] - set(parameters)
        if missing:
            raise ValueError(f"{where}: missing parameters {sorted(missing)}")
        universe = dict(entry.get("universe") or {})
        if sum(k in universe for k in ("all", "sector", "symbols")) != 1:
            raise ValueError(f"{where}: universe needs exactly one of all, sector, symbols")
        costs = dict(entry.get("costs") or {})
        seen.add(name)
        strategies.append(Strategy(
            name=name, kind=kind, parameters=parameters, universe=universe,
            commission_bps=_float(costs, "commission_bps", where), slippage_bps=_float(costs, "slippage_bps", where),
            description=str(entry.get("description", "")).strip(),
        ))
    return strategies


def load_catalogue(path: Path) -> list[Strategy]:
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return parse(document.get("strategies") or [])
