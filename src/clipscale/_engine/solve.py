"""Fit every resample of a batch: variable projection or LM, the grid check, the fallback."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

from ..losses import get_loss
from . import varpro as _varpro
from .batch import Batch, Solution
from .grid_check import grid_check
from .lm import levenberg_marquardt
from .problem import Problem

__all__ = ["solve"]


def _degenerate(batch: Batch, w: np.ndarray) -> np.ndarray:
    """Resamples with fewer distinct weighted inputs than free parameters."""
    if batch.x.ndim == 1:
        _, inverse = np.unique(batch.x, return_inverse=True)
    else:
        _, inverse = np.unique(batch.x, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    onehot = np.zeros((batch.n, inverse.max() + 1))
    onehot[np.arange(batch.n), inverse] = 1.0
    distinct = ((w > 0).astype(float) @ onehot > 0).sum(axis=1)
    return distinct < batch.free_idx.size


def _fallback(batch: Batch, theta: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Refit one resample with the scalar fitter's start search and polish."""
    prob = Problem(batch, y, w)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        best, _ = prob.polish(theta)
    return best


def _weighted_ls_start(batch: Batch, start: np.ndarray, y: np.ndarray, w: np.ndarray):
    """For least squares on transformed targets (``log_ls``, ``msle1p``) of a form variable
    projection handles: starts from least squares in data units with the first-order weights
    ``w t'(y)**2`` (``t(y) - t(yhat) ~ t'(y) (y - yhat)``), solved by variable projection,
    where that has the lower loss; the other rows (and other losses) keep ``start``.
    Levenberg–Marquardt then needs a few iterations instead of ~20."""
    ls = dataclasses.replace(batch, loss=get_loss("ls"))
    if not (batch.loss.is_least_squares and not batch.loss.is_identity and _varpro.applies(ls)):
        return start
    with np.errstate(all="ignore"):
        om = w * batch.loss.dtransform(y) ** 2
        ty = batch.loss.transform(y)
    if not np.all(np.isfinite(om)):
        return start
    theta, _, ok, _, _ = _varpro.varpro(ls, start, y, om)
    ok &= batch.value(theta, ty, w) < batch.value(start, ty, w)
    return np.where(ok[:, None], theta, start)


def solve(
    batch: Batch,
    theta0: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    *,
    check_grid: bool = True,
    fallback: bool = True,
) -> Solution:
    """Fit every resample (rows of ``w``, and of ``y`` when the targets differ).

    Parameters
    ----------
    batch : Batch
    theta0 : ndarray, shape (p,)
        Warm start, normally the point estimate.
    y : ndarray, shape (n,) or (m, n)
        Targets in data units.
    w : ndarray, shape (m, n)
        Non-negative weights of each resample.
    """
    m = w.shape[0]
    y = np.broadcast_to(np.asarray(y, float), (m, batch.n))
    with np.errstate(all="ignore"):
        ty = np.broadcast_to(batch.loss.transform(y), (m, batch.n))
    start = np.broadcast_to(np.asarray(theta0, float), (m, len(batch.names))).copy()
    normal = None
    if _varpro.applies(batch):  # least squares: Gauss–Newton over the nonlinear parameters
        theta, val, conv, iters, normal = _varpro.varpro(batch, start, y, w)
        rest = np.flatnonzero(~conv)
        if rest.size:
            t2, v2, c2, it2 = levenberg_marquardt(batch, start[rest], ty[rest], w[rest], y=y[rest])
            theta[rest], val[rest], conv[rest] = t2, v2, c2
            iters = max(iters, it2)
    else:
        start = _weighted_ls_start(batch, start, y, w)  # least squares on t(y): gets close
        theta, val, conv, iters = levenberg_marquardt(batch, start, ty, w, y=y)
    status = np.zeros(m, int)
    if check_grid and batch.form.nonlinear:
        g_theta, g_val = grid_check(batch, ty, y, w, val)
        other = g_val < val * (1 - 1e-7) - 1e-300
        if other.any():
            idx = np.flatnonzero(other)
            t2, v2, c2, it2 = levenberg_marquardt(batch, g_theta[idx], ty[idx], w[idx], y=y[idx])
            better = v2 < val[idx]
            sel = idx[better]
            theta[sel], val[sel], conv[sel] = t2[better], v2[better], c2[better]
            status[sel] = 1
            iters = max(iters, it2)
    if fallback:
        for i in np.flatnonzero(~conv | ~np.isfinite(val)):
            if not np.all(np.isfinite(ty[i][w[i] > 0])):
                continue
            cand = _fallback(batch, theta[i] if np.isfinite(val[i]) else theta0, y[i], w[i])
            v = batch.value(cand[None], ty[i : i + 1], w[i : i + 1])[0]
            if v <= val[i] or not np.isfinite(val[i]):
                theta[i], val[i] = cand, v
            status[i] = 2
    status[~np.isfinite(val) | ~np.all(np.isfinite(theta), axis=1)] = -1
    status[_degenerate(batch, w)] = -2
    if normal is not None:
        normal[status != 0] = np.nan  # solved elsewhere: computed afresh when needed
    return Solution(theta, batch.reported(val, w), status, iters, normal)
