"""Interval arithmetic: bootstrap confidence intervals from draws.

Every function works column-wise on ``(B, m)`` arrays of draws (B resamples, m quantities), so
parameters, predictions on a grid and derived quantities share one code path. NaN draws (a
derived quantity undefined on a resample) are left out per column; infinite ones are kept.
The delta-method band of a single fit, and the loss's scale, live one layer down in
:mod:`clipscale._bands`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri, stdtrit

from .._bands import check_level
from ..exceptions import DataError

__all__ = [
    "INTERVALS",
    "call_on_draws",
    "check_interval",
    "check_level",
    "derived_se",
    "expansion_factor",
    "interval",
    "quantile",
]

INTERVALS = ("percentile", "basic", "bca", "studentized", "expanded")


def check_interval(name: Any) -> str:
    """Validate an interval type (one of :data:`INTERVALS`)."""
    if name not in INTERVALS:
        raise DataError(f"unknown interval {name!r}; choose one of {', '.join(INTERVALS)}")
    return str(name)


# --------------------------------------------------------------------------- quantiles
def quantile(draws: np.ndarray, q: Any) -> np.ndarray:
    """Column-wise linear-interpolation quantile ignoring NaN; ``q`` scalar or per column.

    Infinite draws are ordered like any other value (an interpolation touching one returns it).
    """
    a = np.sort(np.asarray(draws, float), axis=0)  # NaN sort last
    m = a.shape[1]
    count = np.sum(~np.isnan(a), axis=0)
    q = np.broadcast_to(np.asarray(q, float), (m,))
    h = q * np.maximum(count - 1, 0)
    lo = np.clip(np.floor(h).astype(int), 0, np.maximum(count - 1, 0))
    hi = np.clip(lo + 1, 0, np.maximum(count - 1, 0))
    cols = np.arange(m)
    a_lo, a_hi, frac = a[lo, cols], a[hi, cols], h - lo
    with np.errstate(invalid="ignore"):
        out = a_lo + frac * (a_hi - a_lo)
    out = np.where(np.isfinite(out) | ~np.isfinite(a_lo + a_hi), out, a_hi)
    out = np.where(frac == 0, a_lo, out)
    out = np.where(np.isnan(out) & (frac > 0), np.where(frac < 0.5, a_lo, a_hi), out)
    return np.where(count > 0, out, np.nan)


# --------------------------------------------------------------------------- intervals
def interval(
    kind: str,
    draws: np.ndarray,
    estimate: np.ndarray,
    level: float,
    *,
    se_draws: np.ndarray | None = None,
    se_hat: np.ndarray | None = None,
    jackknife: np.ndarray | None = None,
    expansion: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper ends of a ``level`` interval for every column of ``draws``.

    Parameters
    ----------
    kind : {"percentile", "basic", "bca", "studentized", "expanded"}
    draws : ndarray, shape (B, m)
    estimate : ndarray, shape (m,)
        The point estimate.
    se_draws, se_hat : ndarray
        Standard errors of every resample ``(B, m)`` and of the estimate ``(m,)``
        (``studentized``).
    jackknife : ndarray, shape (J, m)
        Leave-one-out estimates (``bca``).
    expansion : float
        ``expanded``: the ratio ``z' / z`` by which the tail quantile is pushed outwards.
    """
    draws = np.atleast_2d(np.asarray(draws, float))
    estimate = np.asarray(estimate, float).reshape(-1)
    tail = (1 - level) / 2
    if kind == "percentile":
        return quantile(draws, tail), quantile(draws, 1 - tail)
    if kind == "basic":
        return 2 * estimate - quantile(draws, 1 - tail), 2 * estimate - quantile(draws, tail)
    if kind == "expanded":
        z = ndtri(1 - tail) * expansion
        t2 = ndtr(-z)
        return quantile(draws, t2), quantile(draws, 1 - t2)
    if kind == "bca":
        return _bca(draws, estimate, level, jackknife)
    if kind == "studentized":
        return _studentized(draws, estimate, level, se_draws, se_hat)
    raise DataError(f"unknown interval {kind!r}; choose one of {', '.join(INTERVALS)}")


def _bca(
    draws: np.ndarray, estimate: np.ndarray, level: float, jackknife: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    if jackknife is None or len(jackknife) < 3:
        raise DataError("interval='bca' needs jackknife estimates; they are not available here")
    valid = ~np.isnan(draws)
    count = valid.sum(axis=0)
    below = np.sum(valid & (draws < estimate), axis=0) + 0.5 * np.sum(draws == estimate, axis=0)
    p = np.clip(below / np.maximum(count, 1), 0.5 / np.maximum(count, 1), 1 - 0.5 / count)
    z0 = ndtri(p)
    jack = np.asarray(jackknife, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        dev = np.nanmean(jack, axis=0) - jack
        accel = np.nansum(dev**3, axis=0) / (6 * np.nansum(dev**2, axis=0) ** 1.5)
    accel = np.where(np.isfinite(accel), accel, 0.0)
    tail = (1 - level) / 2
    ends = []
    for zq in (ndtri(tail), ndtri(1 - tail)):
        with np.errstate(invalid="ignore", divide="ignore"):
            q = ndtr(z0 + (z0 + zq) / (1 - accel * (z0 + zq)))
        ends.append(quantile(draws, np.where(np.isfinite(q), q, 0.5)))
    return ends[0], ends[1]


def _studentized(
    draws: np.ndarray,
    estimate: np.ndarray,
    level: float,
    se_draws: np.ndarray | None,
    se_hat: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    if se_draws is None or se_hat is None:
        raise DataError("interval='studentized' needs standard errors of every resample")
    se_hat = np.asarray(se_hat, float).reshape(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (draws - estimate) / se_draws
    t = np.where(np.isfinite(t) | np.isinf(draws), t, np.nan)
    # a resample that its law fits exactly (as many distinct points as free parameters) has a
    # standard error of rounding size and no t statistic: leave it out rather than let 1e14 in
    exact = np.asarray(se_draws, float) <= 1e-8 * np.abs(se_hat)
    t = np.where(exact, np.nan, t)
    tail = (1 - level) / 2
    low = estimate - quantile(t, 1 - tail) * se_hat
    high = estimate - quantile(t, tail) * se_hat
    usable = np.isfinite(se_hat) & (se_hat > 0)
    if not usable.all():  # no standard error at the estimate (e.g. at a bound): percentile
        plow, phigh = quantile(draws, tail), quantile(draws, 1 - tail)
        low, high = np.where(usable, low, plow), np.where(usable, high, phigh)
    return low, high


def expansion_factor(level: float, n: int, p: int, *, shrunk: bool) -> float:
    """``z'/z`` of the expanded percentile interval: t quantile on ``n - p`` dof over the normal,
    times ``sqrt(n / (n - p))`` when the resampling scheme shrinks the spread (pairs-type)."""
    df = max(n - p, 1)
    tail = (1 - level) / 2
    factor = stdtrit(df, 1 - tail) / ndtri(1 - tail)
    return float(factor * (np.sqrt(n / df) if shrunk else 1.0))


# --------------------------------------------------------------------------- derived quantities
def call_on_draws(fn: Callable, names: tuple[str, ...], theta: np.ndarray) -> np.ndarray:
    """``fn`` on every row of ``theta`` as ``(m, q)``: once on arrays, else once per row."""
    m = theta.shape[0]
    try:
        with np.errstate(all="ignore"):
            out = np.asarray(fn({p: theta[:, i] for i, p in enumerate(names)}), float)
        if out.shape[:1] == (m,) and out.ndim <= 2:
            return out.reshape(m, -1)
    except Exception:  # noqa: BLE001 - fall back to one call per resample
        pass
    rows = []
    with np.errstate(all="ignore"):
        for row in theta:
            vals = fn({p: float(v) for p, v in zip(names, row, strict=True)})
            rows.append(np.atleast_1d(np.asarray(vals, float)).ravel())
    return np.array(rows).reshape(m, -1)


def derived_se(
    fn: Callable,
    names: tuple[str, ...],
    free: list[int],
    theta: np.ndarray,
    cov: np.ndarray,
) -> np.ndarray:
    """Delta-method standard errors of ``fn`` at every row (central differences)."""
    grads = []
    for i in free:
        h = 1e-6 * np.maximum(np.abs(theta[:, i]), 1e-8)
        up, down = theta.copy(), theta.copy()
        up[:, i] += h
        down[:, i] -= h
        diff = call_on_draws(fn, names, up) - call_on_draws(fn, names, down)
        grads.append(diff / (2 * h[:, None]))
    g = np.stack(grads, axis=-1)  # (m, q, k)
    return np.sqrt(np.maximum(np.sum(g @ cov * g, axis=-1), 0.0))
