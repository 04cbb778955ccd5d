"""The vectorised solver: fit one form to many weight vectors (and targets) at once.

A bootstrap resample is a weight vector over the fitted points (pairs: multinomial counts,
Bayesian: Dirichlet weights, cluster: group counts) or a new target vector (residual, wild).
All ``m`` resamples share ``x``, so every step below works on arrays with a leading resample
axis and the forms' broadcasting ``predict`` / ``jacobian`` ((m, 1) parameters -> (m, n)).

1. **Levenberg–Marquardt, batched** (:mod:`clipscale._lm`): warm-started from the point
   estimate with each resample's free linear parameters re-solved for its own weights
   (variable projection); each resample keeps its own damping ``lambda`` and its own accept /
   reject decision (Nielsen's gain-ratio update). Steps come from the ``(m, k, k)`` normal
   equations on the transformed residuals ``t(y) - t(yhat)`` with Moré's diagonal scaling.
   Every iteration tries two steps at once, the damped one and one with ``lambda / 1000``
   plus geodesic acceleration (Transtrum & Sethna 2012: a second-order correction from one
   extra residual evaluation), which crosses the curved valleys of ``E + A x**-alpha`` in a few
   iterations. Bounds: a parameter at a bound that the gradient or the step pushes outward is
   frozen for that step, and every step is clipped into the box (a projected step). Losses
   that are not least squares (``huber_log``, ``asymmetric``) use IRLS weights
   ``w * rho'(r) / (2 r)`` in the same iteration, plus a step with the loss's exact curvature,
   with acceptance on the exact loss. A resample stops when the Newton decrement (the decrease
   the undamped Gauss–Newton step still predicts) is below ``1e-11`` of its loss, or when ten
   iterations lowered its loss by less than ``1e-9`` of itself.
2. **Grid check** (:mod:`clipscale._grid_check`): variable projection of the form's start
   grid for every resample's weights at once (Gram matrices of all grid points by one matrix
   product, bounded linear solves by enumerating the faces of the box), the best candidates
   scored on the exact loss. A resample whose best grid point beats its LM solution belongs
   to another basin: it is re-polished from that grid point and keeps the better solution.
3. **Fallback**: the few resamples LM did not converge on are refitted one by one with the
   scalar fitter's polish (``scipy.optimize.least_squares``); they are counted
   (``status == 2``), as are failures (``-1``) and degenerate resamples (``-2``).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _varpro, forms
from ._grid_check import grid_check
from ._lm import _gram, levenberg_marquardt
from .losses import Loss, get_loss

__all__ = [
    "Batch",
    "Solution",
    "solve",
    "levenberg_marquardt",
    "grid_check",
    "covariances",
    "residual_variance",
]

_STATUS = {0: "ok", 1: "regrid", 2: "fallback", -1: "failed", -2: "degenerate"}


@dataclass(frozen=True, eq=False)
class Batch:
    """Form, loss, inputs and parameter layout shared by every resample."""

    form: forms.Form
    loss: Loss
    x: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    fixed: Mapping[str, float] = field(default_factory=dict)

    @classmethod
    def from_fit(cls, result: Any) -> Batch:
        """The batch problem of a :class:`~clipscale.FitResult`."""
        settings = result.settings
        options = {k: settings[k] for k in ("huber_delta", "asymmetry") if k in settings}
        loss = get_loss(result.loss, **options)
        names = result.form.param_names
        lo = np.array([float(settings["bounds"][p][0]) for p in names])
        hi = np.array([float(settings["bounds"][p][1]) for p in names])
        fixed = {k: float(v) for k, v in settings["fixed"].items()}
        return cls(result.form, loss, np.asarray(result.x, float), lo, hi, fixed)

    @property
    def names(self) -> tuple[str, ...]:
        return self.form.param_names

    @property
    def free_idx(self) -> np.ndarray:
        return np.array([i for i, p in enumerate(self.names) if p not in self.fixed], int)

    @property
    def n(self) -> int:
        return self.x.shape[0]

    def params(self, theta: np.ndarray) -> dict[str, np.ndarray]:
        """Parameter mapping of ``(m, p)`` vectors as ``(m, 1)`` arrays (the forms broadcast)."""
        return {p: theta[:, i : i + 1] for i, p in enumerate(self.names)}

    def transformed(self, theta: np.ndarray) -> np.ndarray:
        """``t(yhat)``, shape ``(m, n)``."""
        p = self.params(theta)
        with np.errstate(all="ignore"):
            if self.loss.log_space:
                return np.broadcast_to(self.form.log_predict(p, self.x), (theta.shape[0], self.n))
            return np.broadcast_to(
                self.loss.transform(self.form.predict(p, self.x)), (theta.shape[0], self.n)
            )

    def residual_jacobian(self, theta: np.ndarray) -> np.ndarray:
        """``d (t(y) - t(yhat)) / d theta_free``, shape ``(m, n, k)``; non-finite entries are 0."""
        p = self.params(theta)
        with np.errstate(all="ignore"):
            jac = self.form.jacobian(p, self.x)
            if jac.shape[-1] != self.free_idx.size:
                jac = jac[..., self.free_idx]
            if self.loss.name == "ls":  # identity transform
                if jac.base is None and jac.flags.writeable:  # a fresh array: negate in place
                    out = np.negative(jac, out=jac)
                else:
                    out = -jac
            else:
                out = jac * -self.loss.dtransform(self.form.predict(p, self.x))[..., None]
        out = np.broadcast_to(out, (theta.shape[0], self.n, self.free_idx.size))
        return out if np.isfinite(out).all() else np.where(np.isfinite(out), out, 0.0)

    def value(self, theta: np.ndarray, ty: np.ndarray, w: np.ndarray) -> np.ndarray:
        """``sum_i w_i rho(r_i)`` per resample (``inf`` where not finite).

        The solver works with this sum; :meth:`reported` turns it into the loss's own value.
        """
        return self._value_of(ty - self.transformed(theta), w)

    def _value_of(self, r: np.ndarray, w: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            terms = np.where(w == 0, 0.0, w * self.loss.rho(r))
            total = terms.sum(axis=-1)
        return np.where(np.isfinite(total), total, np.inf)

    def reported(self, total: np.ndarray, w: np.ndarray) -> np.ndarray:
        """The loss value a fit reports (``asymmetric`` is a weighted mean, not a sum)."""
        if getattr(self.loss, "asymmetry", None) is not None:
            return total / w.sum(axis=-1)
        return total

    def irls(self, r: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Weights ``w * rho'(r) / (2 r)`` of the quadratic surrogate (``w`` for least squares)."""
        if self.loss.is_least_squares:
            return np.where(np.isfinite(r), w, 0.0)
        with np.errstate(all="ignore"):
            floor = 1e-9 * np.max(np.where(np.isfinite(r), np.abs(r), 0), axis=-1, keepdims=True)
            rs = np.where(np.abs(r) > floor, r, np.where(r < 0, -1, 1) * (floor + 1e-300))
            u = self.loss.drho(rs) / (2.0 * rs)
        return np.where(np.isfinite(u) & np.isfinite(r), w * u, 0.0)


@dataclass(frozen=True, eq=False)
class Solution:
    """Solutions of ``m`` resamples.

    ``status``: 0 converged in the batch, 1 re-polished from the grid, 2 refitted by the
    fallback loop, -1 failed (no finite loss), -2 degenerate (fewer distinct points with weight
    than free parameters).
    """

    theta: np.ndarray
    value: np.ndarray
    status: np.ndarray
    iterations: int
    #: ``J' W J`` of the free parameters where the solver had it at hand (NaN elsewhere)
    normal: np.ndarray | None = None

    @property
    def ok(self) -> np.ndarray:
        return self.status >= 0

    def rows(self, index: slice | np.ndarray) -> Solution:
        """The solutions of a subset of the resamples."""
        normal = None if self.normal is None else self.normal[index]
        return Solution(
            self.theta[index], self.value[index], self.status[index], self.iterations, normal
        )

    def counts(self) -> dict[str, int]:
        return {name: int(np.sum(self.status == code)) for code, name in _STATUS.items()}


# --------------------------------------------------------------------------- driver
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
    from .fitting import _Problem

    prob = _Problem(batch.form, batch.loss, batch.x, y, w, dict(batch.fixed), batch.lo, batch.hi)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        best, _ = prob.polish(theta)
    return best


def _weighted_ls_start(batch: Batch, start: np.ndarray, y: np.ndarray, w: np.ndarray):  # noqa: ANN202
    """For least squares on transformed targets (``log_ls``, ``msle1p``) of a form variable
    projection handles: starts from least squares in data units with the first-order weights
    ``w t'(y)**2`` (``t(y) - t(yhat) ~ t'(y) (y - yhat)``), solved by variable projection,
    where that has the lower loss; the other rows (and other losses) keep ``start``.
    Levenberg–Marquardt then needs a few iterations instead of ~20."""
    ls = dataclasses.replace(batch, loss=get_loss("ls"))
    if not (batch.loss.is_least_squares and batch.loss.name != "ls" and _varpro.applies(ls)):
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
        jtj[todo] = _gram(batch.residual_jacobian(th), wt)
    d = np.sqrt(np.diagonal(jtj, axis1=1, axis2=2))
    d = np.where(d > 0, d, 1.0)
    outer = d[:, :, None] * d[:, None, :]
    with np.errstate(all="ignore"):
        cov = _pinv_scaled(jtj / outer) / outer
    return cov * s2[:, None, None]


def residual_variance(batch, theta, y, w, dof):  # noqa: ANN001, ANN201
    """Weighted residual variance of every resample on the loss's scale."""
    with np.errstate(all="ignore"):
        r = batch.loss.transform(np.broadcast_to(y, w.shape)) - batch.transformed(theta)
        s2 = np.einsum("mn,mn->m", w, np.where(np.isfinite(r), r, 0.0) ** 2)
        return s2 / np.where(dof > 0, dof, np.nan)


def _pinv_scaled(A: np.ndarray) -> np.ndarray:
    """``pinv`` of unit-diagonal ``(m, k, k)`` matrices: the cofactor inverse (k <= 3) where a
    matrix is well conditioned (there both agree to round-off), LAPACK's pinv elsewhere."""
    k = A.shape[1]
    if k == 0 or k > 3:
        return np.linalg.pinv(A)
    inv, det = _adjugate(A)
    with np.errstate(all="ignore"):
        inv /= det[:, None, None]
    good = np.isfinite(inv).all(axis=(1, 2)) & (np.abs(det) > 1e-6)
    if not good.all():
        bad = np.flatnonzero(~good)
        inv[bad] = np.linalg.pinv(A[bad])
    return inv


def _adjugate(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Adjugate and determinant of symmetric ``(m, k, k)`` matrices, k <= 3 (cofactors)."""
    k = A.shape[1]
    adj = np.empty_like(A)
    if k == 1:
        adj[:] = 1.0
        return adj, A[:, 0, 0].copy()
    if k == 2:
        a, b, d = A[:, 0, 0], A[:, 0, 1], A[:, 1, 1]
        adj[:, 0, 0], adj[:, 1, 1] = d, a
        adj[:, 0, 1] = adj[:, 1, 0] = -b
        return adj, a * d - b * b
    a, b, c, d, e, f = A[:, 0, 0], A[:, 0, 1], A[:, 0, 2], A[:, 1, 1], A[:, 1, 2], A[:, 2, 2]
    adj[:, 0, 0], adj[:, 1, 1], adj[:, 2, 2] = d * f - e * e, a * f - c * c, a * d - b * b
    adj[:, 0, 1] = adj[:, 1, 0] = c * e - b * f
    adj[:, 0, 2] = adj[:, 2, 0] = b * e - c * d
    adj[:, 1, 2] = adj[:, 2, 1] = b * c - a * e
    return adj, a * adj[:, 0, 0] + b * adj[:, 0, 1] + c * adj[:, 0, 2]
