"""Vectorised Black-Scholes-Merton implied volatility, with a reason code for every option left unsolved.

The solver works on the out-of-the-money side: an in-the-money quote is turned into the price of the
opposite option through put-call parity (its time value), so the target is always a small positive
number and the solver never subtracts a large intrinsic value inside its loop. Prices are normalised
so that only x = -|log(F/K)| and s = sigma sqrt(T) remain. From an analytic first guess (see
``_initial_guess``) it runs Newton's method on ``log(price)`` in s (log-price is close to linear for deep
out-of-the-money options, where plain Newton on price crawls), kept inside a shrinking bracket and
replaced by bisection whenever a step would leave it. Typically 3-4 price evaluations per option.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from scipy.special import ndtr, ndtri

from stockula_pipelines.lib.quant.dates import time_to_expiry

__all__ = ["REASONS", "IVResult", "count_reasons", "implied_volatility", "mid_price", "time_to_expiry"]

# Reason codes, stored as int8 in IVResult.reason; REASONS[code] is the label.
REASONS = (
    "ok",
    "expired",  # T <= 0: the contract has reached its expiry instant
    "invalid_input",  # S, K, T, r or q missing, non-finite, or S/K not positive
    "no_quote",  # the price is missing or not positive
    "below_intrinsic",  # price at or below the discounted intrinsic value: no time value to invert
    "above_max_price",  # call >= S e^{-qT}, put >= K e^{-rT}: no volatility reaches it
    "vol_out_of_range",  # a solution exists but lies outside [lo, hi]
    "not_converged",
)
OK, EXPIRED, INVALID, NO_QUOTE, BELOW_INTRINSIC, ABOVE_MAX, OUT_OF_RANGE, NOT_CONVERGED = range(len(REASONS))

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_CHUNK = 16000  # see black_scholes.CHUNK for why work is blocked


class IVResult(NamedTuple):
    iv: np.ndarray  # float64, NaN where reason != 'ok'
    reason: np.ndarray  # int8 codes into REASONS

    def labels(self) -> np.ndarray:
        """The reason codes as an array of strings."""
        return np.asarray(np.asarray(REASONS, dtype=object)[self.reason], dtype=object)

    def counts(self) -> dict[str, int]:
        return count_reasons(self.reason)


def count_reasons(reason) -> dict[str, int]:
    """{label: count} for every reason that occurs (codes or labels accepted)."""
    reason = np.asarray(reason)
    if reason.dtype.kind in "iu":
        counts = np.bincount(reason.ravel(), minlength=len(REASONS))
        return {REASONS[i]: int(c) for i, c in enumerate(counts) if c}
    labels, counts = np.unique(reason.astype(str), return_counts=True)
    return {str(k): int(c) for k, c in zip(labels, counts, strict=True)}


def mid_price(bid, ask, last) -> np.ndarray:
    """Mid of bid/ask when both are > 0 and bid <= ask, else the last price when > 0, else NaN."""
    bid, ask, last = (np.asarray(x, dtype=np.float64) for x in (bid, ask, last))
    with np.errstate(invalid="ignore"):
        two_sided = (bid > 0) & (ask > 0) & (bid <= ask) & np.isfinite(ask)
        return np.where(two_sided, 0.5 * (bid + ask), np.where((last > 0) & np.isfinite(last), last, np.nan))


def _normalised_otm(x, eh, s):
    """Normalised out-of-the-money price b and db/ds for x = -|log(F/K)| <= 0, eh = e^{x/2}, s = sigma sqrt(T).

    b = e^{x/2} N(x/s + s/2) - e^{-x/2} N(x/s - s/2) is the call (or, by symmetry, put) price divided by
    sqrt(F K e^{-2rT}); it depends on x and s only, which removes T, r, q and the call/put flag from the
    loop.
    """
    d1 = x / s
    d1 += 0.5 * s
    d2 = d1 - s
    b = eh * ndtr(d1)
    b -= ndtr(d2) / eh
    vega = d1 * d1
    vega *= -0.5
    np.exp(vega, out=vega)
    vega *= eh
    vega *= _INV_SQRT_2PI
    return b, vega


def _initial_guess(x, eh, beta, log_beta):
    """A starting s = sigma sqrt(T) for the normalised problem (x <= 0, eh = e^{x/2}, 0 < beta < eh).

    Both branches undershoot (by at most ~50%, typically a few %), and log-price is concave in s, so
    Newton then climbs to the root without overshooting.
    """
    s_star = np.sqrt(-2.0 * x)  # inflection point of b in s; there d1 = 0 and d2 = -s*
    below = beta < 0.5 * eh - ndtr(-s_star) / eh
    guess = s_star.copy()
    # Root above s*: invert the at-the-money formula b = 2 N(s/2) - 1 with beta scaled by e^{-x/2}.
    up = ~below
    guess[up] = np.maximum(2.0 * ndtri(0.5 * (beta[up] / eh[up] + 1.0)), s_star[up])
    # Root below s*: b ~ s^3 / (x^2 sqrt(2 pi)) exp(-x^2 / (2 s^2)) (Mills ratio on both N terms).
    # Solve log of that for u = log s by Newton (the residual is convex and decreasing in u, so it
    # converges from anywhere), and floor it with the linear at-the-money approximation b ~ s/sqrt(2 pi).
    xb, log_b = x[below], log_beta[below]
    rhs = -log_b - 2.0 * np.log(-xb) - 0.5 * math.log(2 * math.pi)
    u = np.log(-xb / np.sqrt(-2.0 * log_b))
    x2 = xb * xb
    for _ in range(3):
        e = np.exp(-2.0 * u)
        e *= x2
        u -= (0.5 * e - 3.0 * u - rhs) / (-e - 3.0)
    lower = np.maximum(np.exp(u), beta[below] * math.sqrt(2 * math.pi))
    guess[below] = np.where(np.isfinite(lower), lower, s_star[below])
    return guess


def implied_volatility(
    price,
    S,
    K,
    T,
    r,
    q,
    is_call,
    *,
    tol: float = 1e-10,
    max_iter: int = 100,
    lo: float = 1e-4,
    hi: float = 5.0,
) -> IVResult:
    """Implied volatility of European options under Black-Scholes-Merton with dividend yield q.

    Arguments broadcast like :func:`~stockula_pipelines.lib.quant.black_scholes.bsm_price`. ``tol`` is
    the absolute tolerance on sigma (the last Newton step, or the bracket width). Volatilities are
    searched in ``[lo, hi]``; quotes implying one outside it get ``vol_out_of_range``.
    """
    if not 0 < lo < hi:
        raise ValueError(f"implied_volatility: need 0 < lo < hi, got lo={lo}, hi={hi}")
    if not tol > 0 or max_iter < 1:
        raise ValueError(f"implied_volatility: need tol > 0 and max_iter >= 1, got {tol}, {max_iter}")
    arrays = [np.asarray(a, dtype=np.float64) for a in (price, S, K, T, r, q)]
    c = np.asarray(is_call, dtype=bool)
    shape = np.broadcast_shapes(*(a.shape for a in arrays), c.shape)
    n = math.prod(shape)
    flat = [np.broadcast_to(a, shape).reshape(-1) for a in (*arrays, c)]
    iv = np.full(n, np.nan)
    reason = np.empty(n, dtype=np.int8)
    with np.errstate(all="ignore"):
        for start in range(0, max(n, 1), _CHUNK):
            s = slice(start, min(start + _CHUNK, n))
            _solve_block(*(a[s] for a in flat), iv[s], reason[s], tol, max_iter, lo, hi)
    return IVResult(iv.reshape(shape), reason.reshape(shape))


def _classify(p, S, K, T, r, q, w, ds, dk):
    reason = np.full(p.shape, OK, dtype=np.int8)
    upper = np.where(w > 0, ds, dk)
    intrinsic = np.maximum(w * (ds - dk), 0.0)
    # Later assignments win, so the most fundamental problem is the one reported.
    reason[p >= upper] = ABOVE_MAX
    reason[p <= intrinsic] = BELOW_INTRINSIC
    reason[~(p > 0)] = NO_QUOTE
    reason[~(T > 0)] = EXPIRED
    finite = np.isfinite(S + K + T + r + q)
    reason[~((S > 0) & (K > 0) & finite)] = INVALID
    return reason, intrinsic


def _solve_block(p, S, K, T, r, q, c, iv_out, reason_out, tol, max_iter, lo, hi) -> None:
    w = np.where(c, 1.0, -1.0)
    ds = S * np.exp(-q * T)
    dk = K * np.exp(-r * T)
    reason, intrinsic = _classify(p, S, K, T, r, q, w, ds, dk)
    sqrt_t = np.sqrt(T)
    # Time value = price of the out-of-the-money twin; normalised by sqrt(ds dk) (see _normalised_otm).
    beta = p - intrinsic
    beta /= np.sqrt(ds * dk)
    x = np.log(ds / dk)
    x = -np.abs(x, out=x)
    # Rows of one array so that selecting or dropping options is one fancy-indexing call. Rows:
    # 0 position in block, 1 x, 2 e^{x/2}, 3 log(beta), 4 bracket low, 5 bracket high, 6 s, 7 tol in s.
    state = np.stack(
        [
            np.arange(p.size, dtype=np.float64),
            x,
            np.exp(0.5 * x),
            np.log(beta),
            lo * sqrt_t,
            hi * sqrt_t,
            beta,
            tol * sqrt_t,
        ]
    ).take(np.flatnonzero(reason == OK), axis=1)
    x, eh, log_beta, s_lo, s_hi, beta, tol_s = state[1:]
    np.clip(_initial_guess(x, eh, beta, log_beta), s_lo * 1.0001, s_hi * 0.9999, out=state[6])
    for _ in range(max_iter):
        if state.shape[1] == 0:
            break
        x, eh, log_beta, a, b, s, tol_s = state[1:]
        f, vega = _normalised_otm(x, eh, s)
        g = np.log(f)
        g -= log_beta
        # Strict comparisons: at an exact root (g == 0) the bracket keeps s strictly inside, the Newton
        # step is zero and the option finishes below with s itself.
        np.copyto(b, s, where=g > 0)
        np.copyto(a, s, where=g < 0)
        step = g * f
        step /= vega
        new = s - step
        inside = new > a  # False for NaN, from f == 0 or vega == 0
        inside &= new < b
        np.copyto(new, 0.5 * (a + b), where=~inside)
        # Newton converges quadratically (next error ~ step^2 * |g''/2g'|, and |g''/g'| <= ~3/s for
        # log-price), so a small enough step means `new` is already within tol: skip confirming it.
        step *= step
        step *= 4.0
        done = step <= tol_s * s
        done &= inside
        done |= b - a <= tol_s
        state[6] = new
        if done.any():
            # take() with indices is ~3x faster than boolean indexing along axis 1.
            fin = np.flatnonzero(done)
            # sigma = s / sqrt(T), and row 7 holds tol * sqrt(T)
            iv_out[state[0, fin].astype(np.intp)] = state[6, fin] * tol / state[7, fin]
            state = state.take(np.flatnonzero(~done), axis=1)
    reason[state[0].astype(np.intp)] = NOT_CONVERGED
    # A solution pinned to an end of [lo, hi] means the true one lies beyond it.
    with np.errstate(invalid="ignore"):
        edge = (iv_out <= lo * (1 + 1e-9) + tol) | (iv_out >= hi * (1 - 1e-9) - tol)
    reason[edge & (reason == OK)] = OUT_OF_RANGE
    iv_out[reason != OK] = np.nan
    reason_out[:] = reason
