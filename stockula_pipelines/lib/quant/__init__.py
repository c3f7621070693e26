"""Pure quantitative functions (no Dagster, no database): option pricing, implied volatility, returns."""

from stockula_pipelines.lib.quant.black_scholes import Greeks, bsm_greeks, bsm_price
from stockula_pipelines.lib.quant.dates import time_to_expiry
from stockula_pipelines.lib.quant.implied_vol import (
    REASONS,
    IVResult,
    count_reasons,
    implied_volatility,
    mid_price,
)
from stockula_pipelines.lib.quant.returns import (
    adjusted_close,
    adjustment_factors,
    compute_price_metrics,
    daily_returns,
    lookback_start,
    rolling_volatility,
)

__all__ = [
    "REASONS",
    "Greeks",
    "IVResult",
    "adjusted_close",
    "adjustment_factors",
    "bsm_greeks",
    "bsm_price",
    "compute_price_metrics",
    "count_reasons",
    "daily_returns",
    "implied_volatility",
    "lookback_start",
    "mid_price",
    "rolling_volatility",
    "time_to_expiry",
]
