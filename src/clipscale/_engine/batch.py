"""The vectorised solver: fit one form to many weight vectors (and targets) at once.

A bootstrap resample is a weight vector over the fitted points (pairs: multinomial counts,
Bayesian: Dirichlet weights, cluster: group counts) or a new target vector (residual, wild).
All ``m`` resamples share ``x``, so every step below works on arrays with a leading resample
axis and the forms' broadcasting ``predict`` / ``jacobian`` ((m, 1) parameters -> (m, n)).

1. **Levenberg–Marquardt, batched** (:mod:`clipscale._engine.lm`): warm-started from the point
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
2. **Grid check** (:mod:`clipscale._engine.grid_check`): variable projection of the form's start
   grid for every resample's weights at once (Gram matrices of all grid points by one matrix
   product, bounded linear solves by enumerating the faces of the box), the best candidates
   scored on the exact loss. A resample whose best grid point beats its LM solution belongs
   to another basin: it is re-polished from that grid point and keeps the better solution.
3. **Fallback**: the few resamples LM did not converge on are refitted one by one with the
   scalar fitter's polish (``scipy.optimize.least_squares``); they are counted
   (``status == 2``), as are failures (``-1``) and degenerate resamples (``-2``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import forms
from ..losses import Loss, get_loss

__all__ = ["STATUS", "Batch", "Solution"]

#: resample status codes and their names (see :class:`Solution`)
STATUS = {0: "ok", 1: "regrid", 2: "fallback", -1: "failed", -2: "degenerate"}


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
        with np.errstate(all="ignore"):
            t_hat = self.loss.predict_transformed(self.form, self.params(theta), self.x)
        return np.broadcast_to(t_hat, (theta.shape[0], self.n))

    def residual_jacobian(self, theta: np.ndarray, *, finite: bool = True) -> np.ndarray:
        """``d (t(y) - t(yhat)) / d theta_free``, shape ``(m, n, k)``; non-finite entries are 0
        (kept as they are with ``finite=False``)."""
        p = self.params(theta)
        with np.errstate(all="ignore"):
            jac = self.form.jacobian(p, self.x)
            if jac.shape[-1] != self.free_idx.size:
                jac = jac[..., self.free_idx]
            if self.loss.is_identity:  # t' = 1
                if jac.base is None and jac.flags.writeable:  # a fresh array: negate in place
                    out = np.negative(jac, out=jac)
                else:
                    out = -jac
            else:
                out = jac * -self.loss.dtransform(self.form.predict(p, self.x))[..., None]
        out = np.broadcast_to(out, (theta.shape[0], self.n, self.free_idx.size))
        if not finite or np.isfinite(out).all():
            return out
        return np.where(np.isfinite(out), out, 0.0)

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
        if self.loss.asymmetry is not None:
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
        return {name: int(np.sum(self.status == code)) for code, name in STATUS.items()}


# --------------------------------------------------------------------------- driver
