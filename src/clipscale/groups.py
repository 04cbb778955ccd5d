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
from scipy import sparse
from scipy.optimize import least_squares, minimize

from . import forms
from .exceptions import ClipscaleError, DataError, FitError
from .fitting import fit
from .losses import get_loss

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


def _group_data(form, part, columns, y, weights):  # noqa: ANN001, ANN202
    xg = part[columns[0]] if len(columns) == 1 else {
        name: part[c] for name, c in zip(form.inputs, columns, strict=True)}  # fmt: skip
    return xg, part[y], (part[weights] if weights else None)


def _fit_one(form, xg, yg, wg, kwargs):  # noqa: ANN001, ANN202
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fit(form, xg, yg, weights=wg, **kwargs)
    except ClipscaleError as exc:
        return exc


def _fit_groups(form, parts, kwargs, n_jobs, fixed_extra=None):  # noqa: ANN001, ANN202
    kw = dict(kwargs)
    kw["warn"] = False
    if fixed_extra:
        kw["fixed"] = {**(kw.get("fixed") or {}), **fixed_extra}
    if n_jobs == 1 or len(parts) == 1:
        return [_fit_one(form, *part, kw) for part in parts]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=n_jobs)(delayed(_fit_one)(form, *part, kw) for part in parts)


# --------------------------------------------------------------------------- the joint fit
class _Stacked:
    """All groups' runs as one problem: shared parameters, then a block per group."""

    def __init__(self, form, results, shared, fit_kwargs):  # noqa: ANN001
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

    def theta0(self, shared_vals: np.ndarray, results) -> np.ndarray:  # noqa: ANN001
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
            if self.loss.log_space:
                t_hat = self.form.log_predict(p, self.x)
            else:
                t_hat = self.loss.transform(self.form.predict(p, self.x))
        return self.ty - t_hat

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

        levels = [0.0]
        best = (theta, self.value(theta))
        if self.loss.asymmetry is not None:  # continuation, as in clipscale.fit
            typical = float(np.median(np.abs(self.residuals(theta))))
            for s in (typical * 0.1, typical * 0.01):
                best = min(best, self._smoothed_lsq(best[0], s), key=lambda tv: tv[1])
            levels = [typical * 1e-3, typical * 1e-4, 0.0]
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


def _fit_shared(form, parts, results, shared, fit_kwargs, n_jobs, attrs):  # noqa: ANN001, ANN202
    good = [j for j, r in enumerate(results) if not isinstance(r, Exception)]
    if not good:
        raise FitError(f"no group could be fitted; first error: {results[0]}")
    ok = [results[j] for j in good]
    good_parts = [parts[j] for j in good]
    prob = _Stacked(form, ok, shared, fit_kwargs)
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


def _table(form, keys, by_cols, results, attrs) -> pd.DataFrame:  # noqa: ANN001
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
