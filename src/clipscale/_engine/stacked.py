"""The stacked joint problem of ``fit_many(..., shared=[...])``: shared parameters common to
every group, the others one value per group, one block-sparse least-squares problem."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy import sparse
from scipy.optimize import least_squares, minimize

from ..losses import get_loss

__all__ = ["Stacked"]


class Stacked:
    """All groups' runs as one problem: shared parameters, then a block per group."""

    def __init__(self, form, results, shared, fit_kwargs):
        ok = list(results)
        self.form, self.shared = form, list(shared)
        self.loss = get_loss(
            fit_kwargs.get("loss", "log_ls"),
            huber_delta=fit_kwargs.get("huber_delta"),
            asymmetry=fit_kwargs.get("asymmetry"),
        )
        self.fixed = dict(fit_kwargs.get("fixed") or {})
        names = form.param_names
        self.own = [p for p in names if p not in self.shared and p not in self.fixed]
        self.G, self.s, self.q = len(ok), len(self.shared), len(self.own)
        self.x = np.concatenate([r.x for r in ok])
        self.y = np.concatenate([r.y for r in ok])
        self.w = np.concatenate([r.weights for r in ok])
        self.g = np.concatenate([np.full(r.n, j) for j, r in enumerate(ok)])
        self.ty, self.sw = self.loss.transform(self.y), np.sqrt(self.w)
        bounds = {p: tuple(v) for p, v in ok[0].settings["bounds"].items()}
        lo_s = [bounds[p][0] for p in self.shared]
        hi_s = [bounds[p][1] for p in self.shared]
        self.lo = np.array(lo_s + [bounds[p][0] for p in self.own] * self.G)
        self.hi = np.array(hi_s + [bounds[p][1] for p in self.own] * self.G)
        rows = np.repeat(np.arange(self.x.shape[0]), self.q)
        cols = self.s + (self.g[:, None] * self.q + np.arange(self.q)[None, :]).ravel()
        self._block = (rows, cols)

    def theta0(self, shared_vals: np.ndarray, results) -> np.ndarray:
        own = [[r.params[p] for p in self.own] for r in results]
        return np.clip(np.concatenate([shared_vals, np.ravel(own)]), self.lo, self.hi)

    def split(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return theta[: self.s], theta[self.s :].reshape(self.G, self.q)

    def row_params(self, theta: np.ndarray) -> dict[str, Any]:
        sh, own = self.split(theta)
        p: dict[str, Any] = dict(self.fixed)
        p.update({k: float(v) for k, v in zip(self.shared, sh, strict=True)})
        p.update({k: own[self.g, j] for j, k in enumerate(self.own)})
        return p

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        p = self.row_params(theta)
        with np.errstate(all="ignore"):
            return self.ty - self.loss.predict_transformed(self.form, p, self.x)

    def value(self, theta: np.ndarray) -> float:
        return self.loss.value(self.residuals(theta), self.w)

    def jacobian(self, theta: np.ndarray, dense: bool) -> Any:
        """``d r / d theta`` (unweighted residuals), dense or CSR."""
        p = self.row_params(theta)
        names = self.form.param_names
        with np.errstate(all="ignore"):
            yhat = self.form.predict(p, self.x)
            J = -self.loss.dtransform(yhat)[:, None] * self.form.jacobian(p, self.x)
        J = np.where(np.isfinite(J), J, 0.0)
        js = J[:, [names.index(k) for k in self.shared]]
        jo = J[:, [names.index(k) for k in self.own]].ravel()
        n, m = J.shape[0], self.s + self.G * self.q
        block = sparse.csr_matrix((jo, self._block), shape=(n, m))
        out = sparse.hstack([sparse.csr_matrix(js), block[:, self.s :]], format="csr")
        return out.toarray() if dense else out

    def polish(self, theta: np.ndarray) -> tuple[np.ndarray, float]:
        """Joint least squares, then the exact loss where it is not a sum of squares."""
        dense = self.s + self.G * self.q <= 400
        sw = self.sw

        def fun(t: np.ndarray) -> np.ndarray:
            r = sw * self.residuals(t)
            return np.where(np.isfinite(r), r, 1e10)

        def jac(t: np.ndarray) -> Any:
            j = self.jacobian(t, dense)
            return sw[:, None] * j if dense else sparse.diags(sw) @ j

        best = (theta, self.value(theta))
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            sol = least_squares(
                fun, theta, jac=jac, bounds=(self.lo, self.hi), method="trf", x_scale="jac",
                tr_solver="exact" if dense else "lsmr", xtol=1e-12, ftol=1e-12, gtol=1e-12,
                max_nfev=200,
            )  # fmt: skip
            cand = np.clip(sol.x, self.lo, self.hi)
            best = min(best, (cand, self.value(cand)), key=lambda tv: tv[1])
            if not self.loss.is_least_squares:
                best = min(best, self._polish_exact(best[0]), key=lambda tv: tv[1])
        return best

    def _polish_exact(self, theta: np.ndarray) -> tuple[np.ndarray, float]:
        scale = np.where(np.abs(theta) > 0, np.abs(theta), 1.0)

        def obj(z: np.ndarray, smoothing: float) -> tuple[float, np.ndarray]:
            t = z * scale
            r = self.residuals(t)
            val, dr = self.loss.value_and_grad(r, self.w, smoothing)
            if not np.isfinite(val):
                return 1e300, np.zeros_like(z)
            return val, np.asarray(self.jacobian(t, False).T @ dr).ravel() * scale

        best = (theta, self.value(theta))
        coarse, levels = self.loss.continuation(self.residuals(theta))  # as in clipscale.fit
        for s in coarse:
            best = min(best, self._smoothed_lsq(best[0], s), key=lambda tv: tv[1])
        z = best[0] / scale
        zb = list(zip(self.lo / scale, self.hi / scale, strict=True))
        for smoothing in levels:
            sol = minimize(obj, z, args=(smoothing,), jac=True, method="L-BFGS-B", bounds=zb,
                           options={"maxiter": 3000, "ftol": 1e-15, "gtol": 1e-12})  # fmt: skip
            z = sol.x
            cand = np.clip(z * scale, self.lo, self.hi)
            best = min(best, (cand, self.value(cand)), key=lambda tv: tv[1])
        return best

    def _smoothed_lsq(self, theta: np.ndarray, smoothing: float) -> tuple[np.ndarray, float]:
        """Least squares on the asymmetric loss smoothed with width ``smoothing``."""
        dense = self.s + self.G * self.q <= 400

        def fun(t: np.ndarray) -> np.ndarray:
            return self.loss.smoothed_terms(self.residuals(t), self.w, smoothing)[0]

        def jac(t: np.ndarray) -> Any:
            d = self.loss.smoothed_terms(self.residuals(t), self.w, smoothing)[1]
            j = self.jacobian(t, dense)
            return d[:, None] * j if dense else sparse.diags(d) @ j

        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            sol = least_squares(
                fun, theta, jac=jac, bounds=(self.lo, self.hi), method="trf", x_scale="jac",
                tr_solver="exact" if dense else "lsmr", xtol=1e-10, ftol=1e-10, gtol=1e-10,
                max_nfev=60,
            )  # fmt: skip
        cand = np.clip(sol.x, self.lo, self.hi)
        return cand, self.value(cand)

    def shared_covariance(self, theta: np.ndarray) -> np.ndarray:
        """Gauss-Newton covariance of the shared parameters (Schur complement per group)."""
        J = self.jacobian(theta, False)
        J = sparse.diags(self.sw) @ J
        r = self.sw * self.residuals(theta)
        dof = int(np.count_nonzero(self.w > 0)) - (self.s + self.G * self.q)
        if dof <= 0 or not np.all(np.isfinite(r)):
            return np.full((self.s, self.s), np.nan)
        js = J[:, : self.s].toarray()
        schur = js.T @ js
        for j in range(self.G):
            rows = self.g == j
            a = js[rows]
            b = J[rows][:, self.s + j * self.q : self.s + (j + 1) * self.q].toarray()
            schur -= a.T @ b @ np.linalg.pinv(b.T @ b) @ b.T @ a
        return np.linalg.pinv(schur) * float(r @ r) / dof
