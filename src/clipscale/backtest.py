"""Backtests: fit on the smaller runs, predict the largest, and score the extrapolation.

A scaling law is used to extrapolate, so the honest test of a fit (and of its intervals) is to
hide the largest runs, fit the rest, and compare: ``backtest`` reports each held-out point's
error and whether its interval covered the observed value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import _render, forms
from ._bands import check_level
from .data import as_inputs
from .exceptions import DataError
from .fitting import fit

__all__ = ["backtest", "BacktestResult"]


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Outcome of :func:`backtest`; a frozen value.

    Attributes
    ----------
    fit : FitResult
        The fit on the training points (all but the ``holdout`` largest).
    bootstrap : BootstrapResult or None
        Its bootstrap (``None`` when ``n_resamples=0``: the delta-method band is used).
    holdout : int
    confidence_level : float
    kind : str
        ``"observation"`` or ``"mean"``: what the intervals are for.
    rmsle : float
        Root mean squared log error of the held-out predictions.
    mean_abs_rel_error, max_abs_rel_error : float
        Mean and largest ``|prediction - y| / |y|`` over the held-out points.
    coverage : float
        Fraction of held-out points whose interval contains the observed value.
    """

    fit: Any
    bootstrap: Any
    holdout: int
    confidence_level: float
    kind: str
    rmsle: float
    mean_abs_rel_error: float
    max_abs_rel_error: float
    coverage: float
    _table: pd.DataFrame

    @property
    def table(self) -> pd.DataFrame:
        """Held-out points: ``y``, ``prediction``, ``lower``, ``upper``, ``error``
        (prediction - y), ``log_error``, ``abs_rel_error``, ``covered``, ``extrapolated``, and
        ``decades_beyond`` (log10 of x over the largest training x; 1-D inputs)."""
        return self._table.copy()

    def summary(self) -> str:
        """Plain-text report: the fit, the scores, one line per held-out point."""
        return _render.backtest_summary(self)

    def __str__(self) -> str:
        return _render.backtest_summary(self)

    def __repr__(self) -> str:
        return _render.backtest_repr(self)

    def _repr_html_(self) -> str:
        return _render.backtest_html(self)


def backtest(
    form: str | forms.Form,
    x: Any,
    y: Any,
    *,
    holdout: int = 3,
    loss: str = "log_ls",
    weights: Any = None,
    confidence_level: float = 0.95,
    n_resamples: int = 1000,
    method: str = "pairs",
    interval: str | None = None,
    kind: str = "observation",
    rng: int | np.random.Generator | None = None,
    progress: bool | None = None,
    **fit_options: Any,
) -> BacktestResult:
    """Fit on all but the ``holdout`` largest ``x``, predict those, and score the predictions.

    Parameters
    ----------
    form, x, y, loss, weights
        As in :func:`clipscale.fit`. For joint laws (several inputs) "largest" orders points
        by the product of their inputs (e.g. parameters x samples, proportional to compute).
    holdout : int, default 3
        Number of largest points to hide from the fit.
    confidence_level : float, default 0.95
    n_resamples : int, default 1000
        Bootstrap resamples for the intervals; 0 uses the fit's delta-method band instead
        (approximate, and for the mean only).
    method, interval, rng, progress
        Passed to :meth:`FitResult.bootstrap`.
    kind : {"observation", "mean"}, default "observation"
        Interval for a new measurement (what a held-out run is) or for the law itself.
    **fit_options
        More keywords for :func:`clipscale.fit` (``fixed``, ``bounds``, ``huber_delta``, ...).

    Returns
    -------
    BacktestResult
    """
    form = forms.get(form)
    level = check_level(confidence_level)
    if kind not in ("observation", "mean"):
        raise DataError(f"kind must be 'observation' or 'mean', got {kind!r}")
    xa = as_inputs(x, form.inputs, form_name=form.name)
    ya = np.asarray(y, dtype=float).reshape(-1)
    if ya.shape[0] != xa.shape[0]:
        raise DataError(f"x has {xa.shape[0]} points but y has {ya.shape[0]}; give one y per x")
    n_free = len(form.param_names) - len(fit_options.get("fixed") or {})
    _check_holdout(holdout, xa.shape[0], n_free)
    order = np.argsort(np.log(xa).sum(axis=1) if xa.ndim == 2 else xa, kind="stable")
    train, test = order[:-holdout], order[-holdout:]
    w = None if weights is None else np.asarray(weights, dtype=float).reshape(-1)[train]
    fitted = fit(form, _take(form, xa, train), ya[train], loss=loss, weights=w, **fit_options)
    x_test = _take(form, xa, test)
    boot = None
    if n_resamples:
        boot = fitted.bootstrap(
            n_resamples, method=method, interval=interval, rng=rng, progress=progress
        )
        band = boot.predict_interval(x_test, kind=kind, confidence_level=level)
    else:
        if kind == "observation":
            raise DataError("n_resamples=0 gives only a band for the mean: pass kind='mean'")
        band = fitted.predict(x_test, confidence_level=level)
    table = _score(band, ya[test], xa, train, test)
    with np.errstate(all="ignore"):
        rmsle = float(np.sqrt(np.mean(table["log_error"] ** 2)))
    return BacktestResult(
        fit=fitted,
        bootstrap=boot,
        holdout=int(holdout),
        confidence_level=level,
        kind=kind,
        rmsle=rmsle,
        mean_abs_rel_error=float(table["abs_rel_error"].mean()),
        max_abs_rel_error=float(table["abs_rel_error"].max()),
        coverage=float(table["covered"].mean()),
        _table=table,
    )


def _check_holdout(holdout: Any, n: int, n_free: int) -> None:
    if not isinstance(holdout, int | np.integer) or isinstance(holdout, bool) or holdout < 1:
        raise DataError(f"holdout must be a whole number >= 1, got {holdout!r}")
    if n - holdout < n_free + 1:
        raise DataError(
            f"holdout={holdout} leaves {n - holdout} of {n} points to fit {n_free} parameters; "
            f"hold out at most {max(n - n_free - 1, 0)}"
        )


def _take(form: forms.Form, xa: np.ndarray, idx: np.ndarray) -> Any:
    if xa.ndim == 1:
        return xa[idx]
    return {name: xa[idx, j] for j, name in enumerate(form.inputs)}


def _score(
    band: pd.DataFrame, y: np.ndarray, xa: np.ndarray, train: np.ndarray, test: np.ndarray
) -> pd.DataFrame:
    pred = band["estimate"].to_numpy()
    table = pd.DataFrame(index=band.index)
    table["y"] = y
    table["prediction"] = pred
    table["lower"] = band["lower"].to_numpy()
    table["upper"] = band["upper"].to_numpy()
    table["error"] = pred - y
    with np.errstate(all="ignore"):
        table["log_error"] = np.log(pred) - np.log(y)
        table["abs_rel_error"] = np.abs(pred - y) / np.abs(y)
    table["covered"] = (table["lower"] <= y) & (y <= table["upper"])
    table["extrapolated"] = band["extrapolated"].to_numpy()
    if xa.ndim == 1:
        table["decades_beyond"] = np.log10(xa[test] / xa[train].max())
    return table
