"""Compute-optimal allocation: the model size and data that minimise a joint law at fixed compute.

Training compute is ``C = k N D`` (``k = 6`` FLOPs per parameter per token for a dense
transformer, forward and backward). At fixed ``C`` the loss ``L(N, D = C / (k N))`` of a joint
law has a single minimum in ``N`` when every exponent is positive:

* ``chinchilla`` (Hoffmann et al. 2022, eq. 4):
  ``N* = G (C/k)^(beta/(alpha+beta))``, ``D* = (C/k)^(alpha/(alpha+beta)) / G`` with
  ``G = (alpha A / (beta B))^(1/(alpha+beta))``.
* ``kaplan``: with ``r = alpha_N / alpha_D``,
  ``N* = (r N_c^r (C/k) / D_c)^(1/(r+1))``.
* any other form whose inputs include ``params`` and ``samples`` (e.g. ``data_constrained``,
  with its other inputs passed as ``inputs=``): a vectorised search over ``log N`` (a grid, then
  five zooms), reporting an error where the minimum sits at the edge of the range.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from .data import as_float_array
from .exceptions import DataError, FitError

__all__ = ["compute_optimal"]

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
    n_pt = _optimal_params(form, {p: np.asarray(v, float) for p, v in point.params.items()},
                           cpt, inputs)  # fmt: skip
    if not np.all(np.isfinite(n_pt)):
        raise FitError(_no_optimum_message(form, point.params), point)
    out = pd.DataFrame({"compute": c})
    _fill(out, form, point.params, n_pt, cpt, inputs, suffix="")
    if draws is not None:
        _bootstrap_columns(out, form, draws, cpt, inputs, confidence_level)
    return out


# --------------------------------------------------------------------------- helpers
def _split(result: Any) -> tuple[Any, pd.DataFrame | None]:
    """(point-estimate FitResult, draws DataFrame or None), duck-typed for BootstrapResult."""
    draws = getattr(result, "draws", None)
    if draws is None:
        if not hasattr(result, "form") or not hasattr(result, "params"):
            raise DataError("result must be a FitResult (or a BootstrapResult) of a joint law")
        return result, None
    point = None
    for name in ("result", "fit", "point", "estimate", "fit_result"):
        cand = getattr(result, name, None)
        if cand is not None and hasattr(cand, "form") and hasattr(cand, "params"):
            point = cand
            break
    if point is None:
        raise DataError("the bootstrap result does not expose its point-estimate fit")
    return point, pd.DataFrame(draws)


def _no_optimum_message(form: Any, params: Mapping[str, float]) -> str:
    vals = ", ".join(f"{p} = {v:.4g}" for p, v in params.items())
    return (
        f"the fitted {form.name!r} law has no interior compute-optimal allocation ({vals}): "
        "an exponent or scale <= 0 means extra parameters (or extra data) never lower the "
        "loss, so the optimum runs to an edge. Refit with exponents bounded away from 0, e.g. "
        "bounds={'alpha': (1e-3, 5), 'beta': (1e-3, 5)}."
    )


def _optimal_params(
    form: Any, p: Mapping[str, np.ndarray], cpt: np.ndarray, inputs: Mapping[str, Any] | None
) -> np.ndarray:
    """``N*`` for ``N D = cpt``; NaN where there is no interior optimum (broadcasts)."""
    lc = np.log(cpt)
    with np.errstate(all="ignore"):
        if form.name == "chinchilla":
            a, b, A, B = p["alpha"], p["beta"], p["A"], p["B"]
            ok = (a > 0) & (b > 0) & (A > 0) & (B > 0)
            log_g = (np.log(a * A) - np.log(b * B)) / (a + b)
            ln = log_g + (b / (a + b)) * lc
        elif form.name == "kaplan":
            r = p["alpha_N"] / p["alpha_D"]
            ok = (r > 0) & (p["N_c"] > 0) & (p["D_c"] > 0) & (p["alpha_D"] > 0)
            ln = (np.log(r) + r * np.log(p["N_c"]) + lc - np.log(p["D_c"])) / (r + 1.0)
        else:
            return _search_params(form, p, cpt, inputs)
        return np.where(ok & np.isfinite(ln), np.exp(ln), np.nan)


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
    form: Any, p: Mapping[str, np.ndarray], cpt: np.ndarray, inputs: Mapping[str, Any] | None
) -> np.ndarray:
    """Numerical ``argmin_N L(N, cpt/N)`` over ``1 <= N <= cpt``, a grid then five zooms."""
    p = {k: float(np.asarray(v).ravel()[0]) for k, v in p.items()}
    lc = np.log(cpt)
    lo, hi = np.zeros_like(lc), lc.copy()
    out = np.full(lc.shape, np.nan)
    edge = np.zeros(lc.shape, dtype=bool)
    for round_ in range(6):
        t = lo[:, None] + (hi - lo)[:, None] * np.linspace(0.0, 1.0, 129)[None, :]
        n = np.exp(t)
        d = cpt[:, None] / n
        with np.errstate(all="ignore"):
            loss = form.predict(p, _x_of(form, n.ravel(), d.ravel(), inputs)).reshape(t.shape)
        loss = np.where(np.isfinite(loss), loss, np.inf)
        j = np.argmin(loss, axis=1)
        if round_ == 0:
            edge = (j == 0) | (j == t.shape[1] - 1)
        step = (hi - lo) / 128
        centre = t[np.arange(t.shape[0]), j]
        lo, hi = centre - 2 * step, centre + 2 * step
        out = np.exp(centre)
    return np.where(edge, np.nan, out)


def _loss_at(
    form: Any, p: Mapping[str, float], n: np.ndarray, d: np.ndarray, inputs: Any
) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.asarray(form.predict(dict(p), _x_of(form, n, d, inputs)), dtype=float)


def _fill(out, form, params, n, cpt, inputs, suffix):  # noqa: ANN001
    d = cpt / n
    out["params" + suffix] = n
    out["samples" + suffix] = d
    out["tokens_per_param" + suffix] = d / n
    out["loss" + suffix] = _loss_at(form, params, n, d, inputs)


def _bootstrap_columns(out, form, draws, cpt, inputs, confidence_level):  # noqa: ANN001
    names = [p for p in form.param_names if p in draws.columns]
    missing = [p for p in form.param_names if p not in draws.columns]
    if missing:
        raise DataError(f"the bootstrap draws lack parameters {missing}")
    if "status" in draws.columns:  # clipscale's BootstrapResult: leave failed resamples out
        draws = draws[~draws["status"].isin(["failed", "degenerate"])]
    values = draws[names].to_numpy(dtype=float)
    values = values[np.all(np.isfinite(values), axis=1)]
    b = values.shape[0]
    if form.name in ("chinchilla", "kaplan"):
        cols = {p: values[:, [j]] for j, p in enumerate(names)}
        n = _optimal_params(form, cols, cpt[None, :], inputs)  # (B, n_C)
    else:
        n = np.stack([_optimal_params(form, dict(zip(names, row, strict=True)), cpt, inputs)
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
