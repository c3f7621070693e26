"""Vectorised Black-Scholes-Merton prices and Greeks for European options with a continuous dividend yield.

Every argument is a NumPy array or a scalar; they broadcast against each other. ``T`` is in years,
``r`` and ``q`` are continuously compounded annual rates, ``sigma`` is the annual volatility.

Units of the Greeks (they are written into the database column comments, so keep them in sync):

* ``delta``: d price / d S (per 1.00 of underlying).
* ``gamma``: d delta / d S (per 1.00 of underlying).
* ``vega``: d price / d sigma per 1.00 change of sigma (i.e. 100 vol points, NOT per 1%).
* ``theta``: d price / d t per YEAR of calendar time, S held fixed (so ``-d price / d T``); usually
  negative for a long option. Divide by 365 for a per-calendar-day figure.
* ``rho``: d price / d r per 1.00 change of r (NOT per 1%), S and q held fixed.

Inputs for which the model is undefined (T <= 0, S <= 0, K <= 0, sigma <= 0 or so small that
sigma * sqrt(T) underflows to 0, any NaN or infinity) give NaN in every output rather than raising or
warning, so one bad row never sinks a batch.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.special import ndtr

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)

# Work is done in blocks this long so the ~20 temporaries stay in cache and are small enough for glibc
# to serve from the heap: full-length temporaries get mmap'ed and unmapped on every call, and the page
# faults cost more than the arithmetic (measured ~1.5x slower on 100k options).
CHUNK = 16000  # 125 KiB per temporary: under glibc's default 128 KiB mmap threshold


class Greeks(NamedTuple):
    price: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    vega: np.ndarray
    theta: np.ndarray
    rho: np.ndarray


def _broadcast(S, K, T, r, q, sigma, is_call):
    """Flatten the broadcast inputs to 1-D; scalars stay 0-d so they are never materialised."""
    floats = [np.asarray(x, dtype=np.float64) for x in (S, K, T, r, q, sigma)]
    # +1 for calls, -1 for puts: one formula serves both sides without going through put-call parity
    # (subtracting a call from the forward loses every digit of a deep out-of-the-money put).
    w = np.where(np.asarray(is_call, dtype=bool), 1.0, -1.0)
    shape = np.broadcast_shapes(*(a.shape for a in floats), w.shape)
    # S is always materialised so that d1 and everything derived from it are arrays of the block's
    # length (the kernels write into them with `out=`); other scalars stay 0-d and cost nothing.
    flat = [
        a if a.ndim == 0 and i > 0 else np.broadcast_to(a, shape).reshape(-1)
        for i, a in enumerate((*floats, w))
    ]
    return shape, flat


def _valid(S, K, T, sigma) -> np.ndarray:
    # np.minimum propagates NaN and NaN fails the comparison; the sum of positives is finite only if
    # every term is.
    low = np.minimum(np.minimum(S, K), np.minimum(T, sigma))
    total = S + K
    total += T
    total += sigma
    return (low > 0) & (total < np.inf)


def _d1_sst(S, K, T, r, q, sigma):
    sqrt_t = np.sqrt(T)
    sst = sigma * sqrt_t
    # Poisoning sigma*sqrt(T) with NaN makes every output NaN for invalid rows with one `where`.
    valid = _valid(S, K, T, sigma) & (sst > 0)  # a subnormal sigma times sqrt(T) underflows to 0
    if not valid.all():
        sst = np.where(valid, sst, np.nan)
    d1 = np.log(S / K)
    d1 += (r - q + 0.5 * sigma * sigma) * T
    d1 /= sst
    return d1, sst, sqrt_t


def _sl(a, s: slice):
    return a if a.ndim == 0 else a[s]


def bsm_price(S, K, T, r, q, sigma, is_call) -> np.ndarray:
    """Black-Scholes-Merton price; NaN where inputs are invalid or the option has expired."""
    shape, args = _broadcast(S, K, T, r, q, sigma, is_call)
    n = math.prod(shape)
    price = np.empty(n)
    with np.errstate(all="ignore"):
        for start in range(0, max(n, 1), CHUNK):
            s = slice(start, min(start + CHUNK, n))
            S_, K_, T_, r_, q_, sig_, w = (_sl(a, s) for a in args)
            d1, sst, _ = _d1_sst(S_, K_, T_, r_, q_, sig_)
            d2 = d1 - sst
            d1 *= w
            d2 *= w
            a = S_ * np.exp(-q_ * T_) * ndtr(d1)
            a -= K_ * np.exp(-r_ * T_) * ndtr(d2)
            np.multiply(a, w, out=price[s])
    return price.reshape(shape)


def bsm_greeks(S, K, T, r, q, sigma, is_call) -> Greeks:
    """Price, delta, gamma, vega, theta and rho in one pass; see the module docstring for units."""
    shape, args = _broadcast(S, K, T, r, q, sigma, is_call)
    n = math.prod(shape)
    # One allocation for all six outputs: besides fewer page faults, freeing a block this size raises
    # glibc's dynamic mmap/trim thresholds so later calls reuse heap pages instead of faulting again.
    out = Greeks(*np.empty((len(Greeks._fields), n)))
    with np.errstate(all="ignore"):
        for start in range(0, max(n, 1), CHUNK):
            s = slice(start, min(start + CHUNK, n))
            _greeks_block(*(_sl(a, s) for a in args), *(o[s] for o in out))
    return Greeks(*(o.reshape(shape) for o in out))


def _greeks_block(S, K, T, r, q, sigma, w, price, delta, gamma, vega, theta, rho) -> None:
    d1, sst, sqrt_t = _d1_sst(S, K, T, r, q, sigma)
    eq = np.exp(-q * T)
    ds = S * eq
    b = np.exp(-r * T)
    b *= K
    n_w1 = w * d1
    ndtr(n_w1, out=n_w1)
    n_w2 = d1 - sst
    n_w2 *= w
    ndtr(n_w2, out=n_w2)
    a = ds * n_w1  # e^{-qT} S N(w d1)
    b *= n_w2  # e^{-rT} K N(w d2)
    pdf = d1 * d1
    pdf *= -0.5
    np.exp(pdf, out=pdf)
    pdf *= _INV_SQRT_2PI
    np.subtract(a, b, out=price)
    price *= w
    np.multiply(eq, n_w1, out=delta)
    delta *= w
    np.multiply(ds, pdf, out=vega)
    vega *= sqrt_t
    np.multiply(pdf, eq, out=gamma)  # e^{-qT} n(d1) / (S sigma sqrt(T))
    gamma /= S
    gamma /= sst
    # theta = -e^{-qT} S n(d1) sigma / (2 sqrt(T)) + w (q a - r b), and the first term is -vega sigma / (2T)
    np.multiply(vega, sigma, out=theta)
    theta /= T
    theta *= -0.5
    a *= q
    a -= r * b
    a *= w
    theta += a
    np.multiply(b, T, out=rho)
    rho *= w
