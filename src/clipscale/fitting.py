"""``fit()``: global fits of scaling-law forms without user starting values.

The search has three steps:

1. **Grid** the nonlinear parameters (exponents, breaks, shifts) over ranges the form derives
   from the data.
2. **Variable projection**: for every grid point at once, solve the linear parameters exactly
   by bounded weighted linear least squares (weights that make the linear problem match the
   loss to first order, e.g. ``1/y**2`` for log losses), then score each grid point on the
   real loss.
3. **Polish** the best few grid points with ``scipy.optimize.least_squares`` (analytic
   Jacobian, bounds), or ``scipy.optimize.minimize`` for losses that are not sums of squares.

Nothing is random, so a fit is deterministic for a given input.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import least_squares, minimize

from . import forms
from ._linear import bounded_lstsq
from .data import as_inputs, check_xy
from .exceptions import (
    BoundWarning,
    ClipscaleWarning,
    DataError,
    FitError,
    IdentifiabilityWarning,
)
from .losses import Loss, get_loss
from .results import FitResult, data_hash

__all__ = ["fit", "fit_power_law"]

_MAX_GRID = 20000
_CHUNK = 4_000_000  # grid points x data points evaluated at once


def fit(
    form: str | forms.Form,
    x: Any,
    y: Any,
    *,
    loss: str | Loss = "log_ls",
    weights: Any = None,
    fixed: Mapping[str, float] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    params: Any = None,
    huber_delta: float | None = None,
    asymmetry: float | None = None,
    n_starts: int | None = None,
    warn: bool = True,
) -> FitResult:
    r"""Fit a scaling-law form to data, finding the global optimum without starting values.

    Minimises ``sum_i w_i * rho(t(y_i) - t(yhat_i))`` (see :mod:`clipscale.losses`).

    Parameters
    ----------
    form : str or Form
        A registry name (``"power"``, ``"saturating"``, ``"shifted"``, ``"broken"``, ...) or a
        :class:`clipscale.forms.Form` instance.
    x : array-like, mapping or DataFrame
        Scale (compute, samples, parameters, ...), one value per run; for joint forms with
        several inputs (``form.inputs``), a mapping or DataFrame with one column per input.
    y : array-like, 1-D
        Metric (error, loss), one value per run.
    loss : {"log_ls", "ls", "huber_log", "msle1p", "asymmetric"}, default "log_ls"
        Objective; ``log_ls`` fits relative errors, which is what a log-log plot shows.
    weights : array-like, optional
        Non-negative weight per point, multiplying its term of the loss.
    fixed : dict, optional
        Parameters held at a value, e.g. ``{"E": 0.0}``.
    bounds : dict, optional
        ``{name: (low, high)}`` overriding the form's default bounds.
    params : lmfit.Parameters, optional
        The same through lmfit: ``vary=False`` fixes, ``min``/``max`` bound, ``value`` is
        polished as one more start.
    huber_delta : float, optional
        Threshold of ``loss="huber_log"`` (default 1e-3).
    asymmetry : float, optional
        Weight of over-predictions in ``loss="asymmetric"`` (default 10).
    n_starts : int, optional
        How many of the best grid points are polished (default ``form.n_starts``: 4, or 12 for
        the broken power law).
    warn : bool, default True
        Emit :class:`ClipscaleWarning` subclasses for the notes (they are recorded either way).

    Returns
    -------
    FitResult
        Frozen result: parameters, standard errors, covariance, loss value, diagnostics.

    Raises
    ------
    DataError
        Bad input (names the argument, rows and the fix).
    FitError
        No parameter values give a finite loss; carries the best partial result.
    """
    form = forms.get(form)
    loss_obj = get_loss(loss, huber_delta=huber_delta, asymmetry=asymmetry)
    lo, hi, fixed_vals, extra_start = _resolve_parameters(form, fixed, bounds, params)
    free = [p for p in form.param_names if p not in fixed_vals]
    x_arr = as_inputs(x, form.inputs, form_name=form.name)
    columns = [x_arr] if x_arr.ndim == 1 else list(x_arr.T)
    for name, col in zip(form.inputs, columns, strict=True):
        _, y_arr, w = check_xy(
            col,
            y,
            weights=weights,
            x_name="x" if x_arr.ndim == 1 else f"x[{name!r}]",
            positive_x=True,
            y_greater_than=loss_obj.y_greater_than,
            min_points=max(len(free), 1),
            min_distinct_x=2,
        )
    problem = _Problem(form, loss_obj, x_arr, y_arr, w, fixed_vals, lo, hi)

    best = None
    if form.name == "power" and loss_obj.name == "log_ls" and not fixed_vals:
        best = _power_ols(problem)
    if best is None:
        starts = _grid_starts(problem, form.n_starts if n_starts is None else n_starts)
        if extra_start is not None:
            starts.append(extra_start)
        if not starts:
            raise FitError(
                f"no grid point of form {form.name!r} gives a finite {loss_obj.name} loss on "
                "this data; check the bounds, or use loss='ls' for data that is not positive"
            )
        best = problem.search(starts)
    theta, value = best
    if not np.isfinite(value):
        partial = _make_result(problem, theta, value, ["fit did not reach a finite loss"], False)
        raise FitError(
            f"the {form.name!r} fit did not reach a finite loss; check bounds and data", partial
        )
    notes: list[str] = []
    result = _make_result(problem, theta, value, notes, warn)
    return result


def fit_power_law(x: Any, y: Any, **kwargs: Any) -> FitResult:
    r"""Fit the pure power law :math:`y = \beta x^{\alpha}`; same as ``fit("power", x, y, ...)``.

    With the default ``loss="log_ls"`` and no fixed parameters this is the closed-form ordinary
    least-squares line through ``(log x, log y)``, as in Cherti et al. 2023.
    """
    return fit("power", x, y, **kwargs)


# --------------------------------------------------------------------------- parameters
def _resolve_parameters(
    form: forms.Form,
    fixed: Mapping[str, float] | None,
    bounds: Mapping[str, tuple[float, float]] | None,
    params: Any,
) -> tuple[np.ndarray, np.ndarray, dict[str, float], np.ndarray | None]:
    names = form.param_names
    bnds = dict(form.default_bounds())
    fixed_vals: dict[str, float] = {}
    start: dict[str, float] = {}

    def _check_name(name: str, arg: str) -> None:
        if name not in names:
            raise DataError(
                f"{arg} names {name!r}, which is not a parameter of form {form.name!r}; "
                f"its parameters are {', '.join(names)}"
            )

    if params is not None:
        if not hasattr(params, "items"):
            raise DataError("params must be an lmfit.Parameters (or a mapping of lmfit Parameter)")
        for name, par in params.items():
            _check_name(name, "params")
            bnds[name] = (float(par.min), float(par.max))
            if not par.vary:
                fixed_vals[name] = float(par.value)
            elif par.value is not None and np.isfinite(par.value):
                start[name] = float(par.value)
    for name, pair in (bounds or {}).items():
        _check_name(name, "bounds")
        try:
            low, high = (float(v) for v in pair)
        except (TypeError, ValueError) as exc:
            raise DataError(f"bounds[{name!r}] must be a (low, high) pair, got {pair!r}") from exc
        bnds[name] = (low, high)
    for name, value in (fixed or {}).items():
        _check_name(name, "fixed")
        try:
            fixed_vals[name] = float(value)
        except (TypeError, ValueError) as exc:
            raise DataError(f"fixed[{name!r}] must be a number, got {value!r}") from exc
        if not np.isfinite(fixed_vals[name]):
            raise DataError(f"fixed[{name!r}] must be finite, got {value!r}")
    for name, (low, high) in bnds.items():
        if np.isnan(low) or np.isnan(high) or low >= high:
            raise DataError(f"bounds for {name!r} must satisfy low < high, got ({low}, {high})")
    lo = np.array([bnds[p][0] for p in names])
    hi = np.array([bnds[p][1] for p in names])
    extra = None
    if start and len(start) == len(names) - len(fixed_vals):
        extra = np.array([fixed_vals.get(p, start.get(p, 0.0)) for p in names])
        extra = np.clip(extra, lo, hi)
    return lo, hi, fixed_vals, extra


# --------------------------------------------------------------------------- the problem
class _Problem:
    """Data, loss and parameter layout of one fit."""

    def __init__(self, form, loss, x, y, w, fixed, lo, hi):  # noqa: ANN001
        self.form, self.loss, self.x, self.y, self.w = form, loss, x, y, w
        self.fixed, self.lo, self.hi = fixed, lo, hi
        self.names = form.param_names
        self.free_idx = np.array([i for i, p in enumerate(self.names) if p not in fixed], int)
        self.ty = loss.transform(y)
        self.sw = np.sqrt(w)
        # first-order weights that make the linear sub-problem match the loss near the data
        self.sw_lin = np.sqrt(w * loss.dtransform(y) ** 2)
        free = set(self.free_idx.tolist())
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
        p = self.as_dict(theta)
        if self.loss.log_space:
            return self.form.log_predict(p, self.x)
        return self.loss.transform(self.form.predict(p, self.x))

    def residuals(self, theta: np.ndarray) -> np.ndarray:
        """``t(y) - t(yhat)`` (unweighted)."""
        r = self.ty - self.transformed_prediction(theta)
        return np.where(np.isfinite(r), r, 1e10)

    def value(self, theta: np.ndarray) -> float:
        return self.loss.value(self.ty - self.transformed_prediction(theta), self.w)

    def residual_jacobian(self, theta: np.ndarray) -> np.ndarray:
        """``d r / d theta_free`` of the unweighted residuals."""
        p = self.as_dict(theta)
        yhat = self.form.predict(p, self.x)
        jac = self.form.jacobian(p, self.x)[:, self.free_idx]
        return -self.loss.dtransform(yhat)[:, None] * jac

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
        Bn, scale = _unit_columns(Bw)
        if not (np.all(np.isfinite(Bn)) and np.all(np.isfinite(tw))):
            return theta  # basis overflowed (checked after weighting: LAPACK rejects inf)
        lo, hi = self.lo[self.lin_free_idx], self.hi[self.lin_free_idx]
        coef = np.linalg.lstsq(Bn, tw, rcond=None)[0] / scale
        if np.any(coef < lo) or np.any(coef > hi):
            coef = bounded_lstsq(Bw[None], tw[None], lo, hi)[0][0]
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
                Jl = _unit_columns(Jl)[0]
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
        levels = [0.0]
        if self.loss.asymmetry is not None:
            # continuation on the kink, smoothed with width s: coarse stages by least squares
            # (fast), fine stages and the exact loss by L-BFGS-B (precise at the kinked optimum)
            r0 = self.ty - self.transformed_prediction(out[0])
            typical = float(np.median(np.abs(r0[np.isfinite(r0)]))) if r0.size else 1.0
            coarse = [typical * 10.0**-k for k in (1, 2)]
            out = min(out, self._polish_smoothed(out[0], coarse), key=lambda pv: pv[1])
            levels = [typical * 10.0**-k for k in (3, 4)] + [0.0]
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


def _unit_columns(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a`` with each column divided by its largest magnitude, and those magnitudes.

    Basis columns such as ``x**-alpha`` at x = 1e20 are ~1e-26 next to a column of ones; lstsq's
    relative cutoff treats such a column as zero (dropping its parameter) unless it is normalised.
    """
    scale = np.max(np.abs(a), axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return a / scale, scale


# --------------------------------------------------------------------------- start search
def _grid_starts(problem: _Problem, n_starts: int) -> list[np.ndarray]:
    """Variable projection over the nonlinear grid; the best ``n_starts`` full parameter vectors."""
    form, names = problem.form, problem.names
    nonlin = form.nonlinear
    raw = form.nonlinear_grid(problem.x, problem.y)
    axes = []
    for p in nonlin if not getattr(form, "paired_grid", False) else ():
        i = names.index(p)
        if p in problem.fixed:
            axes.append(np.array([problem.fixed[p]]))
            continue
        vals = np.asarray(raw[p], dtype=float)
        inside = vals[(vals >= problem.lo[i]) & (vals <= problem.hi[i])]
        if inside.size == 0:
            lo_i, hi_i = problem.lo[i], problem.hi[i]
            mid = (
                (lo_i + hi_i) / 2
                if np.isfinite(lo_i + hi_i)
                else (
                    lo_i + 1.0 if np.isfinite(lo_i) else (hi_i - 1.0 if np.isfinite(hi_i) else 0.0)
                )
            )
            inside = np.clip(vals, lo_i, hi_i) if vals.size else np.array([mid])
            inside = np.unique(inside)
        axes.append(inside)
    grid = np.array(list(itertools.product(*axes))) if axes else np.zeros((1, 0))
    if getattr(form, "paired_grid", False):
        # the form lists whole candidate points (row j of every array), not axes of a product
        grid = _paired_points(problem, raw)
    if grid.shape[0] > _MAX_GRID:
        grid = grid[np.linspace(0, grid.shape[0] - 1, _MAX_GRID).astype(int)]

    lin = list(form.linear)
    free_lin = [p for p in lin if p not in problem.fixed]
    lin_lo = np.array([problem.lo[names.index(p)] for p in free_lin])
    lin_hi = np.array([problem.hi[names.index(p)] for p in free_lin])
    # first-order weights: t(y) - t(yhat) ~ t'(y) (y - yhat)
    omega = problem.w * problem.loss.dtransform(problem.y) ** 2
    sw = np.sqrt(omega)
    n = problem.x.shape[0]
    chunk = max(1, _CHUNK // max(n * max(len(lin), 1), 1))
    thetas, values = [], []
    for start in range(0, grid.shape[0], chunk):
        g = grid[start : start + chunk]
        if not lin:  # nothing to project: score the grid points as they are
            theta, val = _score_points(problem, g)
            thetas.append(theta)
            values.append(val)
            continue
        nl = {p: g[:, j] for j, p in enumerate(nonlin)}
        with np.errstate(all="ignore"):
            B = form.basis(nl, problem.x)  # (G, n, k)
        target = np.broadcast_to(problem.y, (g.shape[0], n)).copy()
        for j, p in enumerate(lin):
            if p in problem.fixed:
                target -= problem.fixed[p] * B[:, :, j]
        cols = [lin.index(p) for p in free_lin]
        Bf = B[:, :, cols] * sw[None, :, None]
        ok = np.all(np.isfinite(Bf), axis=(1, 2)) & np.all(np.isfinite(target), axis=1)
        Bf = np.where(np.isfinite(Bf), Bf, 0.0)
        coef, _ = bounded_lstsq(Bf, np.where(np.isfinite(target), target, 0.0) * sw, lin_lo, lin_hi)
        theta = np.empty((g.shape[0], len(names)))
        for j, p in enumerate(nonlin):
            theta[:, names.index(p)] = g[:, j]
        for p in lin:
            theta[:, names.index(p)] = (
                problem.fixed[p] if p in problem.fixed else coef[:, free_lin.index(p)]
            )
        for p, v in problem.fixed.items():
            theta[:, names.index(p)] = v
        yhat = np.einsum("gnk,gk->gn", B, theta[:, [names.index(p) for p in lin]])
        with np.errstate(all="ignore"):
            r = problem.ty[None, :] - problem.loss.transform(yhat)
            val = np.sum(problem.w * problem.loss.rho(r), axis=1)
        val = np.where(ok & np.isfinite(val), val, np.inf)
        thetas.append(theta)
        values.append(val)
    theta_all = np.concatenate(thetas)
    val_all = np.concatenate(values)
    order = np.argsort(val_all, kind="stable")
    order = order[np.isfinite(val_all[order])]
    shape = tuple(len(a) for a in axes)
    if axes and int(np.prod(shape)) == val_all.size and order.size:
        # polish one start per basin: the grid's local minima, best first
        local = _local_minima(val_all.reshape(shape)).ravel()
        order = order[local[order]]
    return [theta_all[i] for i in order[:n_starts]]


def _paired_points(problem: _Problem, raw: Mapping[str, Any]) -> np.ndarray:
    """Candidate points ``(G, len(nonlinear))`` of a form with ``paired_grid = True``.

    Fixed parameters take their value; points are clipped into the bounds; non-finite rows go.
    """
    names, nonlin = problem.names, problem.form.nonlinear
    cols = []
    for p in nonlin:
        i = names.index(p)
        v = np.asarray(raw[p], dtype=float) if p not in problem.fixed else problem.fixed[p]
        cols.append(np.clip(v, problem.lo[i], problem.hi[i]))
    pts = np.column_stack(np.broadcast_arrays(*cols)) if cols else np.zeros((1, 0))
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    return np.unique(pts, axis=0) if pts.size else np.zeros((1, len(nonlin)))


def _score_points(problem: _Problem, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Full parameter vectors and loss values of grid points of a form without linear params."""
    names, nonlin = problem.names, problem.form.nonlinear
    theta = np.empty((g.shape[0], len(names)))
    for j, p in enumerate(nonlin):
        theta[:, names.index(p)] = g[:, j]
    for p, v in problem.fixed.items():
        theta[:, names.index(p)] = v
    pars = {p: theta[:, [i]] for i, p in enumerate(names)}
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if problem.loss.log_space:
            t_hat = problem.form.log_predict(pars, problem.x)
        else:
            t_hat = problem.loss.transform(problem.form.predict(pars, problem.x))
        r = problem.ty[None, :] - t_hat
        val = np.sum(problem.w * problem.loss.rho(r), axis=1)
    return theta, np.where(np.isfinite(val), val, np.inf)


def _local_minima(values: np.ndarray) -> np.ndarray:
    """Boolean mask of grid points no worse than any neighbour along every axis."""
    mask = np.isfinite(values)
    for axis in range(values.ndim):
        pad = [(0, 0)] * values.ndim
        pad[axis] = (1, 1)
        padded = np.pad(values, pad, constant_values=np.inf)
        lower = np.take(padded, range(0, values.shape[axis]), axis=axis)
        upper = np.take(padded, range(2, values.shape[axis] + 2), axis=axis)
        mask &= (values <= lower) & (values <= upper)
    return mask


def _power_ols(problem: _Problem) -> tuple[np.ndarray, float] | None:
    """Closed-form weighted OLS of ``log y`` on ``log x``; None if it breaks the bounds."""
    lx, ly, w = np.log(problem.x), np.log(problem.y), problem.w
    sw = w.sum()
    mx, my = (w @ lx) / sw, (w @ ly) / sw
    sxx = w @ (lx - mx) ** 2
    alpha = (w @ ((lx - mx) * (ly - my))) / sxx
    theta = np.array([np.exp(my - alpha * mx), alpha])
    if np.any(theta < problem.lo) or np.any(theta > problem.hi) or not np.all(np.isfinite(theta)):
        return None
    return theta, problem.value(theta)


# --------------------------------------------------------------------------- the result
def _make_result(
    problem: _Problem, theta: np.ndarray, value: float, notes: list[str], warn: bool
) -> FitResult:
    names = problem.names
    free = [names[i] for i in problem.free_idx]
    n, k = problem.x.shape[0], len(free)
    dof = int(np.count_nonzero(problem.w > 0)) - k
    params = problem.as_dict(theta)
    stderr = {p: 0.0 for p in names}
    cov = np.full((k, k), np.nan)
    with np.errstate(all="ignore"):
        r = problem.residuals(theta)
        J = problem.sw[:, None] * problem.residual_jacobian(theta)
    if k and dof > 0 and np.all(np.isfinite(J)):
        s2 = float(np.sum(problem.w * r**2)) / dof
        # column norms taken after scaling by the largest entry: J^T J itself can overflow
        # (a Jacobian column ~1e200 where a fit drives a scale parameter to ~1e-200)
        big = np.max(np.abs(J), axis=0)
        big = np.where(big > 0, big, 1.0)
        dn = np.linalg.norm(J / big, axis=0)
        dn = np.where(dn > 0, dn, 1.0)
        Ju = J / big / dn
        d = big * dn
        scaled = Ju.T @ Ju
        cond = np.linalg.cond(scaled)
        with np.errstate(over="ignore", under="ignore"):  # divide twice: d*d can under/overflow
            cov = np.linalg.pinv(scaled) / d[:, None] / d[None, :] * s2
            cov = (cov + cov.T) / 2  # pinv is symmetric only to rounding
        if not np.isfinite(cond) or cond > 1e12:
            notes.append(
                f"poorly conditioned: the Jacobian's condition number is {cond:.3g}; some "
                "parameters are not separately identified by this data"
            )
    elif k and dof <= 0:
        notes.append(f"no degrees of freedom left ({n} points, {k} free parameters): no errors")
    for j, p in enumerate(free):
        stderr[p] = float(np.sqrt(cov[j, j])) if cov[j, j] >= 0 else np.nan
    kinds: dict[str, type[ClipscaleWarning]] = {}
    for i in problem.free_idx:
        p, v = names[i], theta[i]
        for bound, side in ((problem.lo[i], "lower"), (problem.hi[i], "upper")):
            if np.isfinite(bound) and abs(v - bound) <= 1e-8 * max(1.0, abs(bound)):
                msg = f"{p} = {v:.6g} is at its {side} bound; its standard error is not reliable"
                notes.append(msg)
                kinds[msg] = BoundWarning
        se = stderr[p]
        if dof > 0 and (not np.isfinite(se) or se > 10 * max(abs(v), 1e-12)):
            msg = f"{p} is weakly identified: standard error {se:.3g} vs value {v:.3g}"
            notes.append(msg)
            kinds[msg] = IdentifiabilityWarning
    if warn:
        for msg in notes:
            warnings.warn(msg, kinds.get(msg, ClipscaleWarning), stacklevel=3)
    settings: dict[str, Any] = {
        "fixed": dict(problem.fixed),
        "bounds": {p: [float(problem.lo[i]), float(problem.hi[i])] for i, p in enumerate(names)},
        **problem.loss.settings(),
    }
    return FitResult(
        form=problem.form,
        params=params,
        stderr=stderr,
        covariance=pd.DataFrame(cov, index=free, columns=free),
        loss=problem.loss.name,
        loss_value=float(value),
        n=n,
        dof=dof,
        notes=tuple(notes),
        settings=settings,
        x=problem.x,
        y=problem.y,
        weights=problem.w,
        data_hash=data_hash(problem.x, problem.y, problem.w),
    )
