"""The covariance of the free parameters, ``s**2 (J' W J)^-1``: of one fit and of every
resample of a batch, by one computation.

``J' W J`` is kept factored as ``d_i U_ij d_j`` with ``U`` of unit diagonal
(:func:`clipscale._linalg.scaled_gram`), so that Jacobian columns of very different magnitude
(``1e-5`` next to ``3e33``) neither overflow nor lose the small parameters to rounding.
"""

from __future__ import annotations

import numpy as np

from .. import _linalg as la
from .batch import Batch

__all__ = ["covariance", "covariances", "residual_variance"]


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
    if s2 is None:
        s2 = residual_variance(batch, theta, y, w, dof)
    unit, d = _factored_normal(batch, theta, w, normal)
    return la.inverse_factored(unit, d) * s2[:, None, None]


def covariance(
    batch: Batch, theta: np.ndarray, y: np.ndarray, w: np.ndarray, dof: int
) -> tuple[np.ndarray, float | None]:
    """The covariance of one fit at ``theta`` (shape ``(p,)``) and the condition number of its
    unit-diagonal ``J' W J`` (a NaN covariance and ``None`` where the Jacobian is not finite or
    no degree of freedom is left).
    """
    k = batch.free_idx.size
    jac = batch.residual_jacobian(theta[None], finite=False)
    if dof <= 0 or not np.all(np.isfinite(jac)):
        return np.full((k, k), np.nan), None
    w2 = w[None]
    s2 = residual_variance(batch, theta[None], y, w2, np.array([dof]))
    unit, d = la.scaled_gram(jac, w2)
    cov = la.inverse_factored(unit, d)[0] * s2[0]
    with np.errstate(all="ignore"):
        cond = float(np.linalg.cond(unit[0])) if k else 1.0
    return cov, cond


def _factored_normal(
    batch: Batch, theta: np.ndarray, w: np.ndarray, normal: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """``J' W J`` of every row as ``(U, d)``; rows the solver gave (``normal``) are factored,
    the others computed from the Jacobian."""
    m, k = theta.shape[0], batch.free_idx.size
    unit, d = np.full((m, k, k), np.nan), np.ones((m, k))
    if normal is not None:
        unit[:], d[:] = la.unit_diagonal(normal)
    todo = np.flatnonzero(~np.isfinite(unit).all(axis=(1, 2)))
    if todo.size:
        th, wt = (theta, w) if todo.size == m else (theta[todo], w[todo])
        unit[todo], d[todo] = la.scaled_gram(batch.residual_jacobian(th), wt)
    return unit, d


def residual_variance(batch, theta, y, w, dof):
    """Weighted residual variance of every resample on the loss's scale."""
    with np.errstate(all="ignore"):
        r = batch.loss.transform(np.broadcast_to(y, w.shape)) - batch.transformed(theta)
        s2 = np.einsum("mn,mn->m", w, np.where(np.isfinite(r), r, 0.0) ** 2)
        return s2 / np.where(dof > 0, dof, np.nan)
