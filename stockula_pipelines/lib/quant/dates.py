"""Year fractions for option pricing: the time from a snapshot to an option's expiry instant."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np

_SECONDS_PER_YEAR = 365.0 * 86400.0  # ACT/365 fixed


def _to_utc_naive_us(ts) -> np.ndarray:
    """Timestamps (aware datetimes, naive-UTC datetime64, polars/pandas series) as naive-UTC datetime64[us]."""
    if hasattr(ts, "dt") and hasattr(ts, "dtype") and hasattr(ts, "to_numpy"):
        tz = getattr(ts.dtype, "time_zone", None) or getattr(ts.dtype, "tz", None)
        if tz is not None:
            if hasattr(ts.dt, "convert_time_zone"):  # polars
                ts = ts.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            else:  # pandas
                ts = ts.dt.tz_convert("UTC").dt.tz_localize(None)
        return np.asarray(ts.to_numpy(), dtype="datetime64[us]")
    if isinstance(ts, dt.datetime):
        ts = [ts]
        scalar = True
    else:
        scalar = False
    arr = np.asarray(ts)
    if arr.dtype == object:
        # Aware datetimes are converted to UTC; naive ones are taken to be UTC already.
        conv = [
            np.datetime64("NaT")
            if v is None
            else np.datetime64((v.astimezone(dt.UTC).replace(tzinfo=None) if v.tzinfo else v), "us")
            for v in arr.ravel()
        ]
        arr = np.array(conv, dtype="datetime64[us]").reshape(arr.shape)
    arr = arr.astype("datetime64[us]")
    return arr[0] if scalar else arr


def time_to_expiry(
    snapshot_ts_utc, expiration_date, exchange_tz: str = "America/New_York", close_time: str = "16:00"
):
    """Years (ACT/365, by the second) from the snapshot to the exchange close on the expiration date.

    The expiry instant is ``close_time`` local time in ``exchange_tz`` on ``expiration_date``, so it
    follows daylight saving (16:00 New York is 20:00 UTC in summer, 21:00 in winter). The result is
    signed: zero or negative means expired, which the pricing functions turn into NaN. Accepts scalars,
    NumPy datetime64 arrays, lists, and polars or pandas series; missing values give NaN. Returns a
    float for two scalars, else a float64 array of the broadcast shape.
    """
    tz = ZoneInfo(exchange_tz)
    close = dt.time.fromisoformat(close_time)
    snap = _to_utc_naive_us(snapshot_ts_utc)
    if hasattr(expiration_date, "to_numpy"):
        expiration_date = expiration_date.to_numpy()
    if isinstance(expiration_date, dt.datetime):
        expiration_date = expiration_date.date()
    exp_days = np.asarray(expiration_date, dtype="datetime64[D]")
    # Few distinct expiries per chain: convert each once through the time-zone database.
    uniq, inverse = np.unique(exp_days.ravel(), return_inverse=True)
    instants = np.empty(uniq.shape, dtype="datetime64[us]")
    for i, day in enumerate(uniq):
        if np.isnat(day):
            instants[i] = np.datetime64("NaT")
            continue
        local = dt.datetime.combine(day.astype(dt.date), close, tzinfo=tz)
        instants[i] = np.datetime64(local.astimezone(dt.UTC).replace(tzinfo=None), "us")
    expiry = instants[inverse].reshape(exp_days.shape)
    seconds = (expiry - snap) / np.timedelta64(1, "s")  # NaT -> NaN
    years = np.asarray(seconds, dtype=np.float64) / _SECONDS_PER_YEAR
    return float(years) if years.ndim == 0 else years
