"""``fit_many``: one law per group of runs, optionally with parameters tied across groups.

Without ``shared`` every group is an independent :func:`clipscale.fit` (run in parallel through
joblib, so ``with joblib.parallel_backend("dask"): fit_many(...)`` spreads thousands of groups
over a cluster). With ``shared=["alpha", "beta"]`` the groups are one *stacked* problem: the
shared parameters are common, every other free parameter has one value per group, and the
total loss over all runs is minimised jointly:

1. independent fits give each group's starting values; the shared parameters start at the
   median of the groups' estimates (and at the largest group's, keeping the better);
2. one joint polish of all parameters at once (``scipy.optimize.least_squares``, analytic
   block-sparse Jacobian: the form evaluates every run with its own group's parameters in one
   broadcast call; non-least-squares losses then go through L-BFGS-B with analytic gradients);
3. every group is refitted globally with the shared values fixed (so each group's parameters
   are its exact conditional optimum, and a group stuck in a poor basin is rescued), then the
   joint polish is repeated if that lowered the total loss.

Standard errors of the shared parameters come from the stacked Gauss-Newton matrix, reduced
to the shared block by a Schur complement per group (cost linear in the number of groups).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from . import forms
from ._engine.stacked import Stacked
from .exceptions import ClipscaleError, DataError, FitError
from .fitting import fit

__all__ = ["fit_many"]


def fit_many(
    data: pd.DataFrame,
    form: str | forms.Form,
    *,
    by: str | Sequence[str],
    y: str,
    x: str | Sequence[str] | Mapping[str, str] | None = None,
    shared: Sequence[str] | None = None,
    weights: str | None = None,
    n_jobs: int | None = 1,
    **fit_kwargs: Any,
) -> pd.DataFrame:
    """Fit ``form`` to every group of ``data``, optionally with some parameters shared.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per run.
    form : str or Form
        The law (as for :func:`clipscale.fit`).
    by : str or list of str
        Column(s) defining the groups.
    y : str
        Column of the metric.
    x : str, list of str or mapping, optional
        Column(s) of the inputs: one column for a 1-D form; for a joint form a list in
        ``form.inputs`` order or a mapping ``{input: column}``. Default: columns named like
        the form's inputs.
    shared : list of str, optional
        Parameters common to all groups (one joint fit). ``None``: independent fits.
    weights : str, optional
        Column of per-run weights.
    n_jobs : int, default 1
        Parallel jobs for the per-group fits (joblib; ``-1`` = all cores).
    **fit_kwargs
        Passed to :func:`clipscale.fit`: ``loss``, ``huber_delta``, ``asymmetry``, ``bounds``,
        ``fixed``, ``n_starts``, ``warn``.

    Returns
    -------
    pandas.DataFrame
        One row per group (indexed by the ``by`` values): every parameter, ``<param>_stderr``,
        ``loss`` (the group's loss at the fitted values), ``n``, ``error`` (why a group could not
        be fitted, else empty) and ``result`` (the group's :class:`FitResult`; shared parameters
        appear there as fixed, with the joint standard error). ``attrs`` holds ``shared``,
        ``joint_loss`` (the loss over all runs) and ``shared_covariance``.

    Raises
    ------
    DataError
        Missing columns, unknown or fixed shared parameters.
    FitError
        No group could be fitted.
    """
    form = forms.get(form)
    by_cols = [by] if isinstance(by, str) else list(by)
    columns = _input_columns(form, x)
    needed = by_cols + columns + [y] + ([weights] if weights else [])
    missing = [c for c in needed if c not in data.columns]
    if missing:
        raise DataError(f"data has no column(s) {missing}; it has {list(data.columns)}")
    shared = list(shared or [])
    fixed = dict(fit_kwargs.get("fixed") or {})
    bad = [p for p in shared if p not in form.param_names or p in fixed]
    if bad:
        raise DataError(
            f"shared names {bad}, which are not free parameters of form {form.name!r} "
            f"(its parameters: {', '.join(form.param_names)})"
        )
    keys, parts = [], []
    for key, part in data.groupby(by_cols, sort=True):
        keys.append(key if len(by_cols) > 1 else key[0] if isinstance(key, tuple) else key)
        parts.append(_group_data(form, part, columns, y, weights))
    if not parts:
        raise DataError("data has no rows to group")
    results = _fit_groups(form, parts, fit_kwargs, n_jobs)
    attrs: dict[str, Any] = {"shared": tuple(shared), "form": form.name}
    if shared:
        results, attrs = _fit_shared(form, parts, results, shared, fit_kwargs, n_jobs, attrs)
    return _table(form, keys, by_cols, results, attrs)


# --------------------------------------------------------------------------- data
def _input_columns(form: forms.Form, x: Any) -> list[str]:
    if x is None:
        if len(form.inputs) == 1:
            raise DataError(f"form {form.name!r} has one input: pass x='<column of the scale>'")
        return list(form.inputs)
    if isinstance(x, str):
        cols = [x]
    elif isinstance(x, Mapping):
        missing = [i for i in form.inputs if i not in x]
        if missing:
            raise DataError(f"x has no column for the inputs {missing} of form {form.name!r}")
        cols = [x[i] for i in form.inputs]
    else:
        cols = list(x)
    if len(cols) != len(form.inputs):
        raise DataError(
            f"form {form.name!r} takes inputs {list(form.inputs)}; x names {len(cols)} column(s)"
        )
    return cols


def _group_data(form, part, columns, y, weights):
    xg = part[columns[0]] if len(columns) == 1 else {
        name: part[c] for name, c in zip(form.inputs, columns, strict=True)}  # fmt: skip
    return xg, part[y], (part[weights] if weights else None)


def _fit_one(form, xg, yg, wg, kwargs):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fit(form, xg, yg, weights=wg, **kwargs)
    except ClipscaleError as exc:
        return exc


def _fit_groups(form, parts, kwargs, n_jobs, fixed_extra=None):
    kw = dict(kwargs)
    kw["warn"] = False
    if fixed_extra:
        kw["fixed"] = {**(kw.get("fixed") or {}), **fixed_extra}
    if n_jobs == 1 or len(parts) == 1:
        return [_fit_one(form, *part, kw) for part in parts]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs)(delayed(_fit_one)(form, *part, kw) for part in parts)


# --------------------------------------------------------------------------- the joint fit


def _fit_shared(form, parts, results, shared, fit_kwargs, n_jobs, attrs):
    good = [j for j, r in enumerate(results) if not isinstance(r, Exception)]
    if not good:
        raise FitError(f"no group could be fitted; first error: {results[0]}")
    ok = [results[j] for j in good]
    good_parts = [parts[j] for j in good]
    prob = Stacked(form, ok, shared, fit_kwargs)
    estimates = np.array([[r.params[p] for p in shared] for r in ok])
    largest = max(range(len(ok)), key=lambda j: ok[j].n)
    starts = [np.median(estimates, axis=0), estimates[largest]]
    theta, value = min((prob.polish(prob.theta0(s, ok)) for s in starts), key=lambda tv: tv[1])
    refits: list = []
    for _ in range(3):
        # every group's global optimum at the shared values: exact conditional optima, and a
        # group the joint polish left in a poor basin is moved out of it
        sh = prob.split(theta)[0]
        refits = _fit_groups(form, good_parts, fit_kwargs, n_jobs, _named(shared, sh))
        if any(isinstance(r, Exception) for r in refits):
            raise FitError(f"a group failed with the shared values fixed: {refits}")
        cand = prob.theta0(sh, refits)
        cand_value = prob.value(cand)
        if not cand_value < value - 1e-9 * abs(value):
            break
        polished = prob.polish(cand)
        if polished[1] >= cand_value - 1e-9 * abs(cand_value):
            theta, value = cand, cand_value
            break
        theta, value = polished
    else:
        sh = prob.split(theta)[0]
        refits = _fit_groups(form, good_parts, fit_kwargs, n_jobs, _named(shared, sh))
    sh = prob.split(theta)[0]
    final = prob.theta0(sh, refits)
    value = min(value, prob.value(final))
    cov = prob.shared_covariance(final)
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    note = "shared across groups (fitted jointly): " + ", ".join(
        f"{p} = {v:.6g} +- {s:.3g}" for p, v, s in zip(shared, sh, se, strict=True)
    )
    out = list(results)
    for j, r in zip(good, refits, strict=True):
        stderr = dict(r.stderr)
        stderr.update(_named(shared, se))
        out[j] = _replace(r, stderr=stderr, notes=(*r.notes, note))
    attrs["joint_loss"] = float(value)
    attrs["shared_values"] = _named(shared, sh)
    attrs["shared_covariance"] = pd.DataFrame(cov, index=shared, columns=shared)
    return out, attrs


def _named(names: Sequence[str], values: np.ndarray) -> dict[str, float]:
    return {p: float(v) for p, v in zip(names, values, strict=True)}


def _replace(result: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(result, **changes)


def _table(form, keys, by_cols, results, attrs) -> pd.DataFrame:
    rows = []
    for r in results:
        row: dict[str, Any] = {}
        if isinstance(r, Exception):
            row.update({p: np.nan for p in form.param_names})
            row.update({f"{p}_stderr": np.nan for p in form.param_names})
            row.update(loss=np.nan, n=0, error=str(r), result=None)
        else:
            row.update(dict(r.params))
            row.update({f"{p}_stderr": r.stderr[p] for p in form.param_names})
            row.update(loss=r.loss_value, n=r.n, error="", result=r)
        rows.append(row)
    index = (
        pd.MultiIndex.from_tuples(keys, names=by_cols)
        if len(by_cols) > 1
        else pd.Index(keys, name=by_cols[0])
    )
    table = pd.DataFrame(rows, index=index)
    table.attrs.update(attrs)
    return table
