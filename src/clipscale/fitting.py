"""``fit()``: global fits of scaling-law forms without user starting values.

The search has three steps:

1. **Grid** the nonlinear parameters (exponents, breaks, shifts) over ranges the form derives
   from the data (``forms._base.start_grid``, searched by ``_engine.grid``).
2. **Variable projection**: for every grid point at once, solve the linear parameters exactly
   by bounded weighted linear least squares (weights that make the linear problem match the
   loss to first order, e.g. ``1/y**2`` for log losses), then score each grid point on the
   real loss.
3. **Polish** the best few grid points with ``scipy.optimize.least_squares`` (analytic
   Jacobian, bounds), or ``scipy.optimize.minimize`` for losses that are not sums of squares
   (``_engine.problem``).

Nothing is random, so a fit is deterministic for a given input.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from . import forms
from ._engine.batch import Batch
from ._engine.covariance import covariance
from ._engine.grid import grid_starts
from ._engine.problem import Problem
from .exceptions import (
    BoundWarning,
    ClipscaleWarning,
    DataError,
    FitError,
    IdentifiabilityWarning,
)
from .forms._base import validate_data
from .losses import Loss, get_loss
from .results import FitResult, data_hash

__all__ = ["fit", "fit_power_law"]

_AT_BOUND = 1e-8  # a parameter this close to a bound (relative, at least absolute) is on it


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
    problem, extra_start = _setup(form, x, y, loss_obj, weights, fixed, bounds, params)
    fixed_vals = problem.fixed

    best = None if fixed_vals else _closed_form(problem)
    if best is None:
        starts = grid_starts(problem, form.n_starts if n_starts is None else n_starts)
        if extra_start is not None:
            starts.append(extra_start)
        if not starts:
            raise FitError(
                f"no grid point of form {form.name!r} gives a finite {loss_obj.name} loss on "
                "this data; check the bounds, or use loss='ls' for data that is not positive"
            )
        best = problem.search(starts)
    theta, value = best
    # the polish keeps iterates strictly inside the bounds, so a parameter that converged to
    # a bound ends just inside it (E = 5e-324 or 2e-16 for a floor at 0): put it on the bound
    # when that costs nothing (loss unchanged to 1e-12 relative)
    for edge in (problem.lo, problem.hi):
        near = np.isfinite(edge) & (np.abs(theta - edge) <= _AT_BOUND * np.maximum(1.0, abs(edge)))
        if near.any():
            snapped = np.where(near, edge, theta)
            if problem.value(snapped) <= value * (1 + 1e-12):
                theta, value = snapped, problem.value(snapped)
    if not np.isfinite(value):
        partial = _make_result(problem, theta, value, ["fit did not reach a finite loss"], False)
        raise FitError(
            f"the {form.name!r} fit did not reach a finite loss; check bounds and data", partial
        )
    notes: list[str] = []
    result = _make_result(problem, theta, value, notes, warn)
    return result


def initial_guess(
    form: str | forms.Form, x: Any, y: Any, *, loss: str | Loss = "log_ls"
) -> dict[str, float]:
    """A data-driven starting point: the best point of the fitter's start grid, unpolished.

    Every nonlinear parameter is taken from the form's grid (derived from the data) and every
    linear one solved exactly for it; :func:`fit` never needs this, but other optimisers can
    start from it. Also available as ``form.guess(x, y)``.
    """
    return forms.get(form).guess(x, y, loss=loss)


def _setup(form, x, y, loss_obj, weights, fixed, bounds, params):
    """Validate the data and parameter settings of one fit; the problem and any user start."""
    lo, hi, fixed_vals, extra_start = _resolve_parameters(form, fixed, bounds, params)
    free = [p for p in form.param_names if p not in fixed_vals]
    x_arr, y_arr, w = validate_data(
        form, x, y, weights=weights, y_greater_than=loss_obj.y_greater_than, min_points=len(free)
    )
    return Problem(Batch(form, loss_obj, x_arr, lo, hi, fixed_vals), y_arr, w), extra_start


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


def _closed_form(problem: Problem) -> tuple[np.ndarray, float] | None:
    """The form's closed-form optimum of the loss; None without one or if it breaks the bounds."""
    theta = problem.form.closed_form(problem.x, problem.y, problem.w, problem.loss)
    if theta is None:
        return None
    if np.any(theta < problem.lo) or np.any(theta > problem.hi) or not np.all(np.isfinite(theta)):
        return None
    return theta, problem.value(theta)


# --------------------------------------------------------------------------- the result
def _make_result(
    problem: Problem, theta: np.ndarray, value: float, notes: list[str], warn: bool
) -> FitResult:
    names = problem.names
    free = [names[i] for i in problem.free_idx]
    n, k = problem.x.shape[0], len(free)
    dof = int(np.count_nonzero(problem.w > 0)) - k
    params = problem.as_dict(theta)
    stderr = {p: 0.0 for p in names}
    cov = np.full((k, k), np.nan)
    if k and dof > 0:
        cov, cond = covariance(problem.batch, theta, problem.y, problem.w, dof)
        if cond is not None and (not np.isfinite(cond) or cond > 1e12):
            notes.append(
                f"poorly conditioned: the Jacobian's condition number is {cond:.3g}; some "
                "parameters are not separately identified by this data"
            )
    elif k:
        notes.append(f"no degrees of freedom left ({n} points, {k} free parameters): no errors")
    for j, p in enumerate(free):
        stderr[p] = float(np.sqrt(cov[j, j])) if cov[j, j] >= 0 else np.nan
    kinds: dict[str, type[ClipscaleWarning]] = {}
    for i in problem.free_idx:
        p, v = names[i], theta[i]
        for bound, side in ((problem.lo[i], "lower"), (problem.hi[i], "upper")):
            if np.isfinite(bound) and abs(v - bound) <= _AT_BOUND * max(1.0, abs(bound)):
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
