"""Per-resample covariances of the free parameters and residual variances."""

from __future__ import annotations

import numpy as np

from .. import _linalg as la
from .batch import Batch

__all__ = ["covariances", "residual_variance"]


def covariances(
    batch: Batch,
    theta: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    dof: np.ndarray,
    *,
    s2: np.ndarray | None = None,
    normal: np.ndarray | None = None,
) -> np.ndarray:
    """Per-resample covariance of the free parameters, ``s**2 (J' W J)^-1``, shape (m, k, k).

    The same estimate as :func:`clipscale.fit` reports (``s**2`` the weighted residual variance
    on ``dof`` degrees of freedom), so a studentized interval divides like by like. ``s2`` and
    ``normal`` (``J' W J``, NaN rows computed here) may come from the solver.
    """
    m = theta.shape[0]
    y = np.broadcast_to(y, (m, batch.n))
    if s2 is None:
        s2 = residual_variance(batch, theta, y, w, dof)
    jtj = np.full((m, batch.free_idx.size, batch.free_idx.size), np.nan)
    if normal is not None:
        jtj[:] = normal
    todo = np.flatnonzero(~np.isfinite(jtj).all(axis=(1, 2)))
    if todo.size:
        every = todo.size == m
        th, wt = (theta, w) if every else (theta[todo], w[todo])
        jtj[todo] = la.gram(batch.residual_jacobian(th), wt)
    with np.errstate(all="ignore"):
        return la.inverse_scaled(jtj) * s2[:, None, None]


def residual_variance(batch, theta, y, w, dof):
    """Weighted residual variance of every resample on the loss's scale."""
    with np.errstate(all="ignore"):
        r = batch.loss.transform(np.broadcast_to(y, w.shape)) - batch.transformed(theta)
        s2 = np.einsum("mn,mn->m", w, np.where(np.isfinite(r), r, 0.0) ** 2)
        return s2 / np.where(dof > 0, dof, np.nan)
