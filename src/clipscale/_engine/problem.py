"""One fit's data, loss and parameter layout, and the local polish steps.

``Problem.search`` refines each start over the nonlinear parameters by variable projection
(linear parameters re-solved exactly at every step, Kaufman's Jacobian), then polishes the best
over all free parameters with ``scipy.optimize.least_squares``; losses that are not sums of
squares finish with L-BFGS-B on the exact objective and its analytic gradient.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy.optimize import least_squares, minimize

from .. import _linalg as la
from .batch import Batch


class Problem:
    """One fit: the layout of a :class:`~clipscale._engine.batch.Batch` (form, loss, inputs,
    bounds, fixed parameters) with one target vector ``y`` and one weight vector ``w``.

    Predictions and Jacobians are the batch's, at one parameter vector (a batch of one row),
    so the point fit and the bootstrap evaluate the same expressions.
    """

    def __init__(self, batch: Batch, y: np.ndarray, w: np.ndarray):
        self.batch, self.y, self.w = batch, y, w
        self.form, self.loss, self.x = batch.form, batch.loss, batch.x
        self.fixed, self.lo, self.hi = batch.fixed, batch.lo, batch.hi
        self.names, self.free_idx = batch.names, batch.free_idx
        self.ty = self.loss.transform(y)
        self.sw = np.sqrt(w)
        # first-order weights that make the linear sub-problem match the loss near the data
        self.sw_lin = np.sqrt(w * self.loss.dtransform(y) ** 2)
        free = set(self.free_idx.tolist())
        form = self.form
        self.lin_free_idx = np.array(
            [i for i, p in enumerate(self.names) if p in form.linear and i in free], int
        )
        self.varpro_idx = np.array(
            [i for i, p in enumerate(self.names) if p not in form.linear and i in free], int
        )

    def as_dict(self, theta: np.ndarray) -> dict[str, float]:
        return {p: float(v) for p, v in zip(self.names, theta, strict=True)}

    def full(self, free_theta: np.ndarray, template: np.ndarray) -> np.ndarray:
        theta = template.copy()
        theta[self.free_idx] = free_theta
        return theta

    def transformed_prediction(self, theta: np.ndarray) -> np.ndarray:
        return self.batch.transformed(theta[None])[0]

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        """``t(y) - t(yhat)`` (unweighted)."""
        r = self.ty - self.transformed_prediction(theta)
        return np.where(np.isfinite(r), r, 1e10)

    def value(self, theta: np.ndarray) -> float:
        return self.loss.value(self.ty - self.transformed_prediction(theta), self.w)

    def residual_jacobian(self, theta: np.ndarray) -> np.ndarray:
        """``d r / d theta_free`` of the unweighted residuals (non-finite entries 0)."""
        return self.batch.residual_jacobian(theta[None])[0]

    def search(self, starts: list[np.ndarray]) -> tuple[np.ndarray, float]:
        """Polish every start over the nonlinear parameters, then the best over all."""
        cands = [(s, self.value(s)) for s in starts]
        if self.varpro_idx.size:
            with warnings.catch_warnings(), np.errstate(all="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                for s in starts:
                    try:
                        c = self._polish_projected(s)
                    except ValueError:  # scipy rejects a Jacobian that overflowed: skip start
                        continue
                    cands.append((c, self.value(c)))
        return self.polish(min(cands, key=lambda pv: pv[1])[0])

    def polish(self, theta0: np.ndarray) -> tuple[np.ndarray, float]:
        """Local refinement of all free parameters from ``theta0``; returns (theta, loss)."""
        lo, hi = self.lo[self.free_idx], self.hi[self.free_idx]
        x0 = np.clip(theta0[self.free_idx], lo, hi)
        if self.free_idx.size == 0:
            return theta0, self.value(theta0)
        best = (theta0, self.value(theta0))
        sw = self.sw

        def fun(f: np.ndarray) -> np.ndarray:
            return sw * self.residuals(self.full(f, theta0))

        def jac(f: np.ndarray) -> np.ndarray:
            j = sw[:, None] * self.residual_jacobian(self.full(f, theta0))
            return np.where(np.isfinite(j), j, 0.0)

        kw: dict[str, Any] = dict(x_scale="jac", xtol=1e-12, ftol=1e-12, gtol=1e-12)
        kw["max_nfev"] = 100 * (x0.size + 1)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            try:
                sol = least_squares(fun, x0, jac=jac, bounds=(lo, hi), method="trf", **kw)
                cand = self.full(np.clip(sol.x, lo, hi), theta0)
                best = min(best, (cand, self.value(cand)), key=lambda pv: pv[1])
            except ValueError:  # the Jacobian overflowed (column norms inf): keep theta0
                pass
            if not self.loss.is_least_squares:
                best = min(best, self._polish_general(best[0]), key=lambda pv: pv[1])
        return best

    def _project(self, theta: np.ndarray) -> np.ndarray:
        """Solve the free linear parameters exactly for the nonlinear ones in ``theta``."""
        names, form = self.names, self.form
        if not form.linear:
            return theta
        nl = {p: np.array([theta[names.index(p)]]) for p in form.nonlinear}
        B = form.basis(nl, self.x)[0]
        lin = list(form.linear)
        target = self.y.copy()
        for j, p in enumerate(lin):
            if p in self.fixed:
                target -= self.fixed[p] * B[:, j]
        cols = [lin.index(names[i]) for i in self.lin_free_idx]
        Bw, tw = B[:, cols] * self.sw_lin[:, None], target * self.sw_lin
        Bn, scale = la.unit_columns(Bw)
        if not (np.all(np.isfinite(Bn)) and np.all(np.isfinite(tw))):
            return theta  # basis overflowed (checked after weighting: LAPACK rejects inf)
        lo, hi = self.lo[self.lin_free_idx], self.hi[self.lin_free_idx]
        coef = np.linalg.lstsq(Bn, tw, rcond=None)[0] / scale
        if np.any(coef < lo) or np.any(coef > hi):
            coef = la.bounded_lstsq(Bw[None], tw[None], lo, hi)[0][0]
        out = theta.copy()
        out[self.lin_free_idx] = coef
        return out

    def _polish_projected(self, theta0: np.ndarray) -> np.ndarray:
        """Variable projection: least squares over the nonlinear parameters only.

        The linear parameters are re-solved exactly (first-order weighted for transformed
        losses) at every step; the Jacobian is Kaufman's, ``P_perp @ J_nonlinear``.
        """
        idx = self.varpro_idx
        lo, hi = self.lo[idx], self.hi[idx]
        free = list(self.free_idx)
        nl_cols = [free.index(i) for i in idx]
        lin_cols = [free.index(i) for i in self.lin_free_idx]
        sw = self.sw

        def theta_of(phi: np.ndarray) -> np.ndarray:
            theta = theta0.copy()
            theta[idx] = phi
            return self._project(theta)

        def fun(phi: np.ndarray) -> np.ndarray:
            return sw * self.residuals(theta_of(phi))

        def jac(phi: np.ndarray) -> np.ndarray:
            theta = theta_of(phi)
            J = sw[:, None] * self.residual_jacobian(theta)
            J = np.where(np.isfinite(J), J, 0.0)
            Jn, Jl = J[:, nl_cols], J[:, lin_cols]
            inside = (theta[self.lin_free_idx] > self.lo[self.lin_free_idx]) & (
                theta[self.lin_free_idx] < self.hi[self.lin_free_idx]
            )
            Jl = Jl[:, inside]
            if Jl.shape[1]:
                Jl = la.unit_columns(Jl)[0]
                Jn = Jn - Jl @ np.linalg.lstsq(Jl, Jn, rcond=None)[0]
            return Jn

        phi0 = np.clip(theta0[idx], lo, hi)
        sol = least_squares(
            fun,
            phi0,
            jac=jac,
            bounds=(lo, hi),
            method="trf",
            x_scale="jac",
            xtol=1e-10,
            ftol=1e-10,
            gtol=1e-10,
            max_nfev=50 * (idx.size + 1),
        )
        return theta_of(np.clip(sol.x, lo, hi))

    def _polish_general(self, theta0: np.ndarray) -> tuple[np.ndarray, float]:
        """Minimise a loss that is not a sum of squares (robust, then L-BFGS-B on the exact sum)."""
        lo, hi = self.lo[self.free_idx], self.hi[self.free_idx]
        x0 = theta0[self.free_idx]
        out = (theta0, self.value(theta0))
        if np.allclose(self.w, self.w[0]) and self.loss.delta is not None:
            # scipy's 'huber' with f_scale=delta is exactly sum(huber(delta, r)) for equal weights
            sol = least_squares(
                lambda f: self.residuals(self.full(f, theta0)),
                x0,
                jac=lambda f: self.residual_jacobian(self.full(f, theta0)),
                bounds=(lo, hi),
                loss="huber",
                f_scale=self.loss.delta,
                x_scale="jac",
                xtol=1e-14,
                ftol=1e-14,
                gtol=1e-14,
            )
            cand = self.full(np.clip(sol.x, lo, hi), theta0)
            out = min(out, (cand, self.value(cand)), key=lambda pv: pv[1])
        start = out[0][self.free_idx]
        scale = np.where(np.abs(start) > 0, np.abs(start), 1.0)

        def obj(z: np.ndarray, smoothing: float) -> tuple[float, np.ndarray]:
            theta = self.full(z * scale, theta0)
            r = self.ty - self.transformed_prediction(theta)
            val, dr = self.loss.value_and_grad(r, self.w, smoothing)
            if not np.isfinite(val):
                return 1e300, np.zeros_like(z)
            return val, (dr @ self.residual_jacobian(theta)) * scale

        zb = list(zip(lo / scale, hi / scale, strict=True))
        zb = [(min(a, b), max(a, b)) for a, b in zb]
        # continuation on a kink (Loss.continuation): coarse smoothed stages by least squares,
        # the fine ones and the exact loss by L-BFGS-B
        coarse, levels = self.loss.continuation(self.ty - self.transformed_prediction(out[0]))
        if coarse:
            out = min(out, self._polish_smoothed(out[0], coarse), key=lambda pv: pv[1])
        z = out[0][self.free_idx] / scale
        for smoothing in levels:
            sol = minimize(
                obj,
                z,
                args=(smoothing,),
                jac=True,
                method="L-BFGS-B",
                bounds=zb,
                options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-12},
            )
            z = sol.x
            cand = self.full(np.clip(z * scale, lo, hi), theta0)
            out = min(out, (cand, self.value(cand)), key=lambda pv: pv[1])
        return out

    def _polish_smoothed(self, theta0: np.ndarray, levels: list[float]) -> tuple[np.ndarray, float]:
        """Least squares on the ``asymmetric`` loss smoothed with each width in ``levels``.

        The smoothed loss is a sum of squares (:meth:`Loss.smoothed_terms`), minimised by
        ``least_squares`` with its analytic Jacobian: several times faster than L-BFGS-B for
        the coarse stages of the continuation.
        """
        lo, hi = self.lo[self.free_idx], self.hi[self.free_idx]
        out = (theta0, self.value(theta0))
        f0 = np.clip(theta0[self.free_idx], lo, hi)
        for smoothing in levels:

            def fun(f: np.ndarray, s: float = smoothing) -> np.ndarray:
                r = self.ty - self.transformed_prediction(self.full(f, theta0))
                return self.loss.smoothed_terms(np.where(np.isfinite(r), r, 1e10), self.w, s)[0]

            def jac(f: np.ndarray, s: float = smoothing) -> np.ndarray:
                theta = self.full(f, theta0)
                r = self.ty - self.transformed_prediction(theta)
                d = self.loss.smoothed_terms(np.where(np.isfinite(r), r, 1e10), self.w, s)[1]
                j = d[:, None] * self.residual_jacobian(theta)
                return np.where(np.isfinite(j), j, 0.0)

            sol = least_squares(fun, f0, jac=jac, bounds=(lo, hi), method="trf", x_scale="jac",
                                xtol=1e-10, ftol=1e-10, gtol=1e-10, max_nfev=60)  # fmt: skip
            f0 = np.clip(sol.x, lo, hi)
            cand = self.full(f0, theta0)
            out = min(out, (cand, self.value(cand)), key=lambda pv: pv[1])
        return out
