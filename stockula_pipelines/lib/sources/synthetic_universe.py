"""The synthetic universe: fictitious companies and the per-symbol parameters their prices follow.

Company names, tickers, sectors and industries do not depend on the seed (the i-th company is always
the same, so a bigger universe extends a smaller one); the seed drives everything about prices:
drift, volatility, starting price, who pays dividends, who splits and when.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

# GICS-like sectors with a few industries each and the word the company name carries.
_SECTORS: dict[str, list[tuple[str, str]]] = {
    "Information Technology": [("Semiconductors", "Semiconductor"), ("Software", "Software"),
                               ("IT Services", "Systems"), ("Technology Hardware", "Devices")],
    "Health Care": [("Pharmaceuticals", "Pharma"), ("Biotechnology", "Therapeutics"),
                    ("Health Care Equipment", "Medical"), ("Health Care Providers", "Health")],
    "Financials": [("Banks", "Bancorp"), ("Insurance", "Assurance"), ("Capital Markets", "Capital")],
    "Consumer Discretionary": [("Automobiles", "Motors"), ("Specialty Retail", "Retail"),
                               ("Hotels, Restaurants & Leisure", "Resorts")],
    "Communication Services": [("Interactive Media", "Media"), ("Entertainment", "Studios"),
                               ("Telecommunication Services", "Telecom")],
    "Industrials": [("Aerospace & Defense", "Aerospace"), ("Machinery", "Machinery"),
                    ("Ground Transportation", "Freight")],
    "Consumer Staples": [("Beverages", "Beverage"), ("Food Products", "Foods"),
                         ("Household Products", "Brands")],
    "Energy": [("Oil, Gas & Consumable Fuels", "Petroleum"), ("Energy Equipment & Services", "Drilling")],
    "Utilities": [("Electric Utilities", "Power"), ("Multi-Utilities", "Utilities")],
    "Real Estate": [("Equity REITs", "Realty"), ("Real Estate Management", "Properties")],
    "Materials": [("Chemicals", "Chemical"), ("Metals & Mining", "Mining"),
                  ("Containers & Packaging", "Packaging")],
}
_SECTOR_VOL = {
    "Information Technology": 0.32, "Health Care": 0.30, "Financials": 0.24,
    "Consumer Discretionary": 0.30, "Communication Services": 0.28, "Industrials": 0.24,
    "Consumer Staples": 0.17, "Energy": 0.33, "Utilities": 0.17, "Real Estate": 0.22, "Materials": 0.26,
}
_STEMS = (
    "Aurora Bluefin Cobalt Driftwood Ember Falcon Granite Harbor Ironwood Juniper Kestrel Lumen "
    "Meridian Northwind Onyx Pinecrest Quarry Redwood Summit Tidewater Umbra Vantage Willow Xenon "
    "Yarrow Zephyr Alder Basalt Cinder Delta Everest Fjord Glacier Heron Indigo Jasper Kingfisher "
    "Larkspur Mistral Nimbus Orchid Prairie Quill Raven Sierra Thistle Upland Vireo Wren Zenith"
).split()
_CORP = ("Inc.", "Corp.", "Holdings", "Group", "Co.", "plc")

# Purposes keep every random stream separate, so adding one never shifts another.
PARAMS, DAILY, INTRADAY, OPTIONS, SPLITS = 1, 2, 3, 4, 5


def symbol_key(symbol: str) -> int:
    """A stable 63-bit integer for ``symbol`` (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(symbol.encode(), digest_size=8).digest(), "big") >> 1


def rng_for(seed: int, *parts: int) -> np.random.Generator:
    return np.random.default_rng([seed, *parts])


@dataclass(frozen=True)
class Company:
    symbol: str
    name: str
    sector: str
    industry: str
    market_cap: int


@dataclass(frozen=True)
class SymbolParams:
    mu: float
    sigma: float
    start_price: float
    base_volume: float
    dividend_yield: float  # 0 for non-payers
    dividend_month: int  # first ex-month of the quarterly cycle: 1, 2 or 3
    dividend_day: int
    skew: float
    curvature: float
    term_slope: float
    splits: tuple[tuple[date, float], ...] = field(default=())  # (calendar day, ratio) before rolling


def build_universe(size: int) -> list[Company]:
    if size < 1:
        raise ValueError(f"synthetic universe size must be at least 1, got {size}")
    sectors = list(_SECTORS)
    seen: set[str] = set()
    companies: list[Company] = []
    for i in range(size):
        rng = rng_for(0, PARAMS, i)
        sector = sectors[i % len(sectors)]
        industry, word = _SECTORS[sector][int(rng.integers(len(_SECTORS[sector])))]
        stem = _STEMS[i % len(_STEMS)]
        if i >= len(_STEMS):
            stem = f"{stem} {_STEMS[(i // len(_STEMS) * 7 + i) % len(_STEMS)]}"
        letters = "".join(ch for ch in stem.upper() if ch.isalpha())
        tag = word[0].upper()
        candidates = [letters[:3] + tag, letters[:2] + tag,
                      *(letters[:2] + letters[k] + tag for k in range(3, len(letters)))]
        ticker = next((c for c in candidates if c not in seen), f"{letters[:2]}{i}{tag}")
        seen.add(ticker)
        name = f"{stem} {word} {_CORP[int(rng.integers(len(_CORP)))]}"
        cap = int(10 ** rng.uniform(9.3, 12.3))
        companies.append(Company(ticker, name, sector, industry, cap))
    return companies


def build_params(seed: int, company: Company) -> SymbolParams:
    rng = rng_for(seed, PARAMS, symbol_key(company.symbol))
    pays = rng.uniform() < 0.6
    return SymbolParams(
        mu=float(rng.uniform(-0.02, 0.16)),
        sigma=float(_SECTOR_VOL[company.sector] * rng.uniform(0.7, 1.5)),
        start_price=float(np.exp(rng.uniform(np.log(15.0), np.log(400.0)))),
        base_volume=float(10 ** rng.uniform(5.6, 7.2)),
        dividend_yield=float(rng.uniform(0.008, 0.045)) if pays else 0.0,
        dividend_month=int(rng.integers(1, 4)),
        dividend_day=int(rng.integers(3, 25)),
        skew=float(rng.uniform(-0.30, -0.05)),
        curvature=float(rng.uniform(0.10, 0.60)),
        term_slope=float(rng.uniform(-0.15, 0.25)),
    )


def assign_splits(seed: int, symbols: list[str], history_start: date) -> dict[str, tuple[tuple[date, float], ...]]:
    """About one symbol in ten splits once: 2-, 3- or 4-for-1, or a 1-for-10 reverse split.

    Dates are spread over history_start+1y .. history_start+8y, a span fixed by the seed alone, so
    they never depend on today's date.
    """
    rng = rng_for(seed, SPLITS, len(symbols))
    count = max(1, round(len(symbols) / 10))
    chosen = rng.choice(len(symbols), size=min(count, len(symbols)), replace=False)
    out: dict[str, tuple[tuple[date, float], ...]] = {}
    for idx in sorted(int(i) for i in chosen):
        ratio = float(rng.choice([2.0, 3.0, 4.0, 2.0, 0.1]))
        day = history_start + timedelta(days=int(rng.integers(365, 8 * 365)))
        out[symbols[idx]] = ((day, ratio),)
    return out
