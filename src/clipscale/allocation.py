"""Compute-optimal allocation: the model size and data that minimise a joint law at fixed compute.

Training compute is ``C = k N D`` (``k = 6`` FLOPs per parameter per token for a dense
transformer, forward and backward). At fixed ``C`` the loss ``L(N, D = C / (k N))`` of a joint
law has a single minimum in ``N`` when every exponent is positive:

* a form with a closed form declares it in :meth:`~clipscale.forms.Form.optimal_allocation`:
  ``chinchilla`` (Hoffmann et al. 2022, eq. 4)
  ``N* = G (C/k)^(beta/(alpha+beta))``, ``D* = (C/k)^(alpha/(alpha+beta)) / G`` with
  ``G = (alpha A / (beta B))^(1/(alpha+beta))``; ``kaplan``, with ``r = alpha_N / alpha_D``,
  ``N* = (r N_c^r (C/k) / D_c)^(1/(r+1))``.
* any other form whose inputs include ``params`` and ``samples`` (e.g. ``data_constrained``,
  with its other inputs passed as ``inputs=``): a vectorised search over ``log N`` (a grid, then
  five zooms), reporting an error where the minimum sits at the edge of the range.

:func:`optimal_params` is the one search; :func:`clipscale.plotting.compute_optimal_path` uses
it too, inside the box of a figure.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .bootstrap import BootstrapResult
from .data import as_float_array
from .exceptions import DataError, FitError
from .forms import Form
from .results import FitResult

__all__ = ["compute_optimal", "optimal_params"]

_COLUMNS = ("params", "samples", "tokens_per_param", "loss")


def compute_optimal(
    result: Any,
    compute: Any,
    *,
    flops_per_param_token: float = 6.0,
    confidence_level: float = 0.95,
    inputs: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    r"""Compute-optimal model size ``N*``, data ``D*`` and loss at each compute budget.

    Parameters
    ----------
    result : FitResult or BootstrapResult
        A fit of a joint law in ``params`` and ``samples`` (``"chinchilla"``, ``"kaplan"``,
        ``"data_constrained"``, ...). A bootstrap result (anything with a ``draws`` DataFrame of
        parameter draws, one row per resample, and the point-estimate fit) adds percentile
        intervals.
    compute : float or array-like
        Training compute ``C`` in FLOPs, one or many (e.g. ``np.geomspace(1e20, 1e26, 7)``).
    flops_per_param_token : float, default 6
        ``k`` in ``C = k N D``.
    confidence_level : float, default 0.95
        Coverage of the bootstrap intervals.
    inputs : mapping, optional
        Values of the form's other inputs, held fixed (e.g. ``{"unique_samples": 1e11}`` for
        ``data_constrained``: a data budget of unique tokens).

    Returns
    -------
    pandas.DataFrame
        One row per compute value: ``compute``, ``params`` (N*), ``samples`` (D*),
        ``tokens_per_param`` (D*/N*) and ``loss`` (the law at the optimum); with a bootstrap
        result also ``<column>_low`` and ``<column>_high``, and ``attrs["n_draws"]`` and
        ``attrs["degenerate_draws"]`` (draws without an interior optimum, left out).

    Raises
    ------
    FitError
        The fitted law has no interior optimum (an exponent or a scale is <= 0: then more
        parameters, or more data, never pays, and the allocation runs to an edge).
    DataError
        Bad ``compute`` or ``flops_per_param_token``, or a form without ``params`` and
        ``samples`` inputs.

    Examples
    --------
    >>> fit = clipscale.fit("chinchilla", {"params": N, "samples": D}, L, loss="huber_log")
    >>> clipscale.compute_optimal(fit, 5.76e23)          # doctest: +SKIP
    """
    point, draws = _split(result)
    form = point.form
    c = as_float_array(np.atleast_1d(np.asarray(compute, dtype=float)), "compute", positive=True)
    k = float(flops_per_param_token)
    if not np.isfinite(k) or k <= 0:
        raise DataError(f"flops_per_param_token must be a positive number, got {k!r}")
    if not 0 < confidence_level < 1:
        raise DataError(f"confidence_level must be in (0, 1), got {confidence_level!r}")
    if "params" not in form.inputs or not {"samples", "epochs"} & set(form.inputs):
        raise DataError(
            f"compute_optimal needs a joint law with inputs 'params' and 'samples'; form "
            f"{form.name!r} has inputs {list(form.inputs)}"
        )
    cpt = c / k  # N * D
    n_pt = optimal_params(form, point.params, cpt, inputs=inputs)
    if not np.all(np.isfinite(n_pt)):
        raise FitError(_no_optimum_message(form, point.params), point)
    out = pd.DataFrame({"compute": c})
    _fill(out, form, point.params, n_pt, cpt, inputs, suffix="")
    if draws is not None:
        _bootstrap_columns(out, form, draws, cpt, inputs, confidence_level)
    return out


# --------------------------------------------------------------------------- helpers
def _split(result: Any) -> tuple[Any, pd.DataFrame | None]:
    """(point-estimate fit, draws DataFrame or None).

    A :class:`~clipscale.BootstrapResult` gives its ``fit`` and ``draws``; a FitResult, or
    any object with ``form`` and ``params``, is a point fit; any other object with a ``draws``
    table of parameter draws (a stand-in for a bootstrap result) holds its point fit as
    ``.fit`` or ``.result``.
    """
    if isinstance(result, BootstrapResult):
        return result.fit, result.draws
    if isinstance(result, FitResult):
        return result, None
    draws = getattr(result, "draws", None)
    if draws is None:
        if not isinstance(getattr(result, "form", None), Form) or not hasattr(result, "params"):
            raise DataError("result must be a FitResult (or a BootstrapResult) of a joint law")
        return result, None
    point = getattr(result, "fit", None)
    point = getattr(result, "result", None) if point is None else point
    if point is None or not isinstance(getattr(point, "form", None), Form):
        raise DataError("the bootstrap result does not expose its point-estimate fit (.fit)")
    return point, pd.DataFrame(draws)


def _no_optimum_message(form: Any, params: Mapping[str, float]) -> str:
    vals = ", ".join(f"{p} = {v:.4g}" for p, v in params.items())
    return (
        f"the fitted {form.name!r} law has no interior compute-optimal allocation ({vals}): "
        "an exponent or scale <= 0 means extra parameters (or extra data) never lower the "
        "loss, so the optimum runs to an edge. Refit with exponents bounded away from 0, e.g. "
        "bounds={'alpha': (1e-3, 5), 'beta': (1e-3, 5)}."
    )


def optimal_params(
    form: Form,
    params: Mapping[str, Any],
    budget: np.ndarray,
    *,
    inputs: Mapping[str, Any] | None = None,
    log_bounds: tuple[np.ndarray, np.ndarray] | None = None,
    n_grid: int = 129,
) -> np.ndarray:
    """Model size ``N*`` minimising the law along ``N D = budget``.

    Parameters
    ----------
    form : Form
        A law whose inputs include ``params`` and ``samples``.
    params : mapping
        Parameter values; arrays of shape ``(B, 1)`` give ``B`` rows of ``N*`` at once where
        the form has a closed form (:meth:`~clipscale.forms.Form.optimal_allocation`).
    budget : numpy.ndarray
        ``N * D`` (compute over FLOPs per parameter per sample), one or many.
    inputs : mapping, optional
        Values of the form's other inputs (see :func:`compute_optimal`).
    log_bounds : (array, array), optional
        Range of ``log N`` searched, per budget; default ``0 <= log N <= log budget``.
    n_grid : int, default 129
        Points of each round of the numerical search.

    Returns
    -------
    numpy.ndarray
        ``N*`` per budget; NaN where the optimum is not inside the range (no interior optimum).
    """
    arrays = {p: np.asarray(v, float) for p, v in params.items()}
    n = form.optimal_allocation(arrays, budget)
    if n is None:
        return _search_params(form, arrays, budget, inputs, log_bounds=log_bounds, n_grid=n_grid)
    if log_bounds is not None:
        with np.errstate(all="ignore"):
            ln = np.log(n)
        n = np.where((ln > log_bounds[0]) & (ln < log_bounds[1]), n, np.nan)
    return n


def _x_of(form: Any, n: np.ndarray, d: np.ndarray, inputs: Mapping[str, Any] | None) -> np.ndarray:
    """The form's input array at model sizes ``n`` and data ``d`` (other inputs from ``inputs``)."""
    given = dict(inputs or {})
    unique = given.get("unique_samples")
    unique = None if unique is None else np.asarray(unique, dtype=float)
    cols = []
    for name in form.inputs:
        if name == "params":
            cols.append(n)
        elif name == "samples":
            cols.append(d)
        elif name == "epochs":  # no unique-data budget: one epoch
            cols.append(np.ones_like(d) if unique is None else d / unique)
        elif name == "unique_samples":
            cols.append(d if unique is None else unique)  # no budget: every token is new
        elif name in given:
            cols.append(np.broadcast_to(np.asarray(given[name], dtype=float), n.shape))
        else:
            raise DataError(
                f"form {form.name!r} needs input {name!r} to allocate compute: pass "
                f"inputs={{{name!r}: ...}}"
            )
    return np.column_stack([np.broadcast_to(col, n.shape) for col in cols])


def _search_params(
    form: Any,
    p: Mapping[str, np.ndarray],
    cpt: np.ndarray,
    inputs: Mapping[str, Any] | None,
    *,
    log_bounds: tuple[np.ndarray, np.ndarray] | None = None,
    n_grid: int = 129,
) -> np.ndarray:
    """Numerical ``argmin_N L(N, cpt/N)`` over ``1 <= N <= cpt`` (or ``log_bounds``), a grid
    then five zooms; NaN where the first grid's minimum is on an edge."""
    p = {k: float(np.asarray(v).ravel()[0]) for k, v in p.items()}
    lc = np.log(cpt)
    if log_bounds is None:
        lo, hi = np.zeros_like(lc), lc.copy()
    else:
        lo, hi = (np.broadcast_to(np.asarray(b, dtype=float), lc.shape).copy() for b in log_bounds)
    out = np.full(lc.shape, np.nan)
    edge = np.zeros(lc.shape, dtype=bool)
    for round_ in range(6):
        t = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, n_grid)[None, :]
        n = np.exp(t)
        d = cpt[:, None] / n
        with np.errstate(all="ignore"):
            loss = form.predict(p, _x_of(form, n.ravel(), d.ravel(), inputs)).reshape(t.shape)
        loss = np.where(np.isfinite(loss), loss, np.inf)
        j = np.argmin(loss, axis=1)
        if round_ == 0:
            edge = (j == 0) | (j == t.shape[1] - 1)
        step = (hi - lo) / (n_grid - 1)
        centre = t[np.arange(t.shape[0]), j]
        lo, hi = centre - 2 * step, centre + 2 * step
        out = np.exp(centre)
    return np.where(edge, np.nan, out)


def _loss_at(
    form: Any, p: Mapping[str, float], n: np.ndarray, d: np.ndarray, inputs: Any
) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(form.predict(dict(p), _x_of(form, n, d, inputs)), dtype=float)


def _fill(
    out: pd.DataFrame,
    form: Form,
    params: Mapping[str, float],
    n: np.ndarray,
    cpt: np.ndarray,
    inputs: Mapping[str, Any] | None,
    suffix: str,
) -> None:
    d = cpt / n
    out["params" + suffix] = n
    out["samples" + suffix] = d
    out["tokens_per_param" + suffix] = d / n
    out["loss" + suffix] = _loss_at(form, params, n, d, inputs)


def _bootstrap_columns(
    out: pd.DataFrame,
    form: Form,
    draws: pd.DataFrame,
    cpt: np.ndarray,
    inputs: Mapping[str, Any] | None,
    confidence_level: float,
) -> None:
    names = [p for p in form.param_names if p in draws.columns]
    missing = [p for p in form.param_names if p not in draws.columns]
    if missing:
        raise DataError(f"the bootstrap draws lack parameters {missing}")
    if "status" in draws.columns:  # clipscale's BootstrapResult: leave failed resamples out
        draws = draws[~draws["status"].isin(["failed", "degenerate"])]
    values = draws[names].to_numpy(dtype=float)
    values = values[np.all(np.isfinite(values), axis=1)]
    b = values.shape[0]
    # a closed form gives every draw at once, (B, n_C); else one search per draw
    n = form.optimal_allocation({p: values[:, [j]] for j, p in enumerate(names)}, cpt[None, :])
    if n is None:
        n = np.stack([optimal_params(form, dict(zip(names, row, strict=True)), cpt, inputs=inputs)
                      for row in values]) if b else np.zeros((0, cpt.size))  # fmt: skip
    good = np.all(np.isfinite(n), axis=1)
    n, values = n[good], values[good]
    d = cpt[None, :] / n
    loss = np.stack(
        [_loss_at(form, dict(zip(names, row, strict=True)), n[i], d[i], inputs)
         for i, row in enumerate(values)]
    ) if len(values) else np.zeros((0, cpt.size))  # fmt: skip
    q = [(1 - confidence_level) / 2, (1 + confidence_level) / 2]
    for col, arr in zip(_COLUMNS, (n, d, d / n, loss), strict=True):
        if arr.shape[0]:
            low, high = np.quantile(arr, q, axis=0)
        else:
            low = high = np.full(cpt.size, np.nan)
        out[col + "_low"] = low
        out[col + "_high"] = high
    out.attrs["n_draws"] = int(b)
    out.attrs["degenerate_draws"] = int(b - good.sum())
    out.attrs["confidence_level"] = confidence_level
