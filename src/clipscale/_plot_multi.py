"""Figures of several dimensions at once: bootstrap draws (corner plot) and joint laws L(N, D).

Public through :mod:`clipscale.plotting`; matplotlib is imported only when a function runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import plotting as _base
from .exceptions import DataError

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from .results import FitResult

__all__ = ["plot_corner", "plot_isoloss", "compute_optimal_path"]


# --------------------------------------------------------------------------- corner
def _corner_axes(ax: Any, k: int) -> np.ndarray:
    """A ``(k, k)`` array of Axes: new, on a given Figure, or the array passed in."""
    if ax is None:
        import matplotlib.pyplot as plt

        ax = plt.figure(figsize=(2.0 * k + 0.6, 2.0 * k + 0.6), layout="constrained")
    if hasattr(ax, "subplots") and not hasattr(ax, "plot"):  # a Figure
        return ax.subplots(k, k, squeeze=False)
    axes = np.asarray(ax, dtype=object)
    if axes.size != k * k:
        raise DataError(f"ax must be a Figure or a {k}x{k} array of Axes for {k} parameters")
    return axes.reshape(k, k)


def plot_corner(
    bootstrap: Any,
    params: Sequence[str] | None = None,
    ax: Any = None,
    *,
    bins: int = 30,
    max_points: int = 3000,
    color: str = "C0",
) -> np.ndarray:
    """Pairwise scatter of bootstrap draws below the diagonal, a histogram of each on it.

    Parameters
    ----------
    bootstrap : bootstrap result
        Any object with a ``draws`` DataFrame (one row per resample, one column per
        parameter); its point fit (``.fit``), when present, is marked by lines.
    params : sequence of str, optional
        Columns to show; default the point fit's free parameters, or every numeric column
        of ``draws`` without a point fit.
    ax : matplotlib Figure or (k, k) array of Axes, optional
        Where to draw; default a new figure sized for ``k`` parameters.
    bins : int, default 30
        Histogram bins.
    max_points : int, default 3000
        Draws shown per scatter panel (evenly spaced rows, so the figure is deterministic);
        the histograms use every draw.
    color : str, default "C0"
        Colour of the draws.

    Returns
    -------
    numpy.ndarray of matplotlib Axes
        Shape ``(k, k)``; the panels above the diagonal are hidden.
    """
    draws = getattr(bootstrap, "draws", None)
    if not isinstance(draws, pd.DataFrame):
        raise DataError("plot_corner needs a bootstrap result with a `draws` DataFrame")
    try:
        point = _base._point(bootstrap)
    except DataError:
        point = None
    if params is None:
        if point is not None:
            params = [p for p in point.free_params if p in draws.columns]
        else:
            params = [c for c in draws.columns if pd.api.types.is_numeric_dtype(draws[c])]
    params = list(params)
    missing = [p for p in params if p not in draws.columns]
    if missing or not params:
        raise DataError(
            f"params {missing or params} are not columns of draws {list(draws.columns)}"
        )
    values = draws[params].to_numpy(dtype=float)
    values = values[np.all(np.isfinite(values), axis=1)]
    if values.shape[0] < 2:
        raise DataError("draws has fewer than two finite rows; nothing to plot")
    shown = values[np.unique(np.linspace(0, values.shape[0] - 1, max_points).astype(int))]
    k = len(params)
    axes = _corner_axes(ax, k)
    for i in range(k):
        for j in range(k):
            a = axes[i, j]
            if j > i:
                a.set_visible(False)
                continue
            if i == j:
                a.hist(values[:, i], bins=bins, color=color, alpha=0.7)
                a.set_yticks([])
            else:
                a.scatter(shown[:, j], shown[:, i], s=3, alpha=0.3, color=color, lw=0)
            if point is not None:
                a.axvline(point.params[params[j]], color="k", lw=1)
                if i != j:
                    a.axhline(point.params[params[i]], color="k", lw=1)
                    a.plot(point.params[params[j]], point.params[params[i]], "ks", ms=4)
            if i == k - 1:
                a.set_xlabel(params[j])
            else:
                a.tick_params(labelbottom=False)
            if j == 0 and i > 0:
                a.set_ylabel(params[i])
            elif j > 0:
                a.tick_params(labelleft=False)
    lo, hi = values.min(axis=0), values.max(axis=0)
    if point is not None:
        at = np.array([point.params[p] for p in params], dtype=float)
        lo, hi = np.minimum(lo, at), np.maximum(hi, at)
    pad = np.where(hi > lo, 0.05 * (hi - lo), 0.5 * np.abs(lo) + 1e-12)
    for i in range(k):
        for j in range(i + 1):
            axes[i, j].set_xlim(lo[j] - pad[j], hi[j] + pad[j])
            if i != j:
                axes[i, j].set_ylim(lo[i] - pad[i], hi[i] + pad[i])
    return axes


# --------------------------------------------------------------------------- joint laws
def _span(given: Any, data: np.ndarray, name: str) -> tuple[float, float]:
    if given is None:
        return float(data.min()) / 10.0, float(data.max()) * 10.0
    lo, hi = (float(v) for v in given)
    if not (0 < lo < hi and np.isfinite(hi)):
        raise DataError(f"{name} must be a (low, high) pair with 0 < low < high, got {given!r}")
    return lo, hi


def _joint_predict(result: FitResult, n: np.ndarray, d: np.ndarray, other: Mapping) -> np.ndarray:
    x = {"params": n, "samples": d}
    x.update({k: np.full(n.shape, float(v)) for k, v in other.items()})
    return np.asarray(result.predict(x), dtype=float)


def compute_optimal_path(
    result: FitResult,
    compute: Any,
    params_range: tuple[float, float],
    samples_range: tuple[float, float] | None = None,
    *,
    flops_per_param_sample: float = 6.0,
    other_inputs: Mapping[str, float] | None = None,
    n_grid: int = 400,
) -> pd.DataFrame:
    """For each budget ``C``, the ``N`` minimising the law at ``D = C / (k N)``, numerically.

    A dense grid over ``log N`` inside the box ``params_range x samples_range`` then a bounded
    scalar refinement (:func:`scipy.optimize.minimize_scalar`). Budgets whose optimum lies on
    an edge of the box (outside the range searched) are dropped.

    Returns
    -------
    pandas.DataFrame
        Columns ``compute``, ``params``, ``samples`` and ``loss``.
    """
    from scipy.optimize import minimize_scalar

    other = dict(other_inputs or {})
    n_lo, n_hi = params_range
    d_lo, d_hi = samples_range if samples_range is not None else (0.0, np.inf)
    rows = []
    for c in np.atleast_1d(np.asarray(compute, dtype=float)):
        a = max(
            np.log(n_lo), np.log(c / (flops_per_param_sample * d_hi)) if d_hi < np.inf else -np.inf
        )
        b = min(np.log(n_hi), np.log(c / (flops_per_param_sample * d_lo)) if d_lo > 0 else np.inf)
        if not b > a:
            continue
        ln = np.linspace(a, b, n_grid)
        n = np.exp(ln)
        with np.errstate(all="ignore"):
            z = _joint_predict(result, n, c / (flops_per_param_sample * n), other)
        if not np.isfinite(z).any():
            continue
        i = int(np.nanargmin(np.where(np.isfinite(z), z, np.nan)))
        if i in (0, n_grid - 1):
            continue  # the optimum is outside the box

        def loss(v: float, c: float = c) -> float:
            n1 = np.array([np.exp(v)])
            return float(_joint_predict(result, n1, c / (flops_per_param_sample * n1), other)[0])

        sol = minimize_scalar(loss, bounds=(ln[i - 1], ln[i + 1]), method="bounded")
        best_n = float(np.exp(sol.x))
        rows.append(
            {
                "compute": float(c),
                "params": best_n,
                "samples": float(c / (flops_per_param_sample * best_n)),
                "loss": float(sol.fun),
            }
        )
    return pd.DataFrame(rows, columns=["compute", "params", "samples", "loss"])


def plot_isoloss(
    result: FitResult,
    ax: Axes | None = None,
    *,
    params_range: tuple[float, float] | None = None,
    samples_range: tuple[float, float] | None = None,
    levels: int | Sequence[float] = 10,
    show_data: bool = True,
    show_frontier: bool = True,
    flops_per_param_sample: float = 6.0,
    other_inputs: Mapping[str, float] | None = None,
    n_grid: int = 150,
    cmap: str = "viridis",
) -> Axes:
    """Iso-loss contours of a joint law ``L(N, D)`` and its compute-optimal frontier.

    Contours of the prediction over model size ``N`` (input ``"params"``, x-axis) and data
    ``D`` (input ``"samples"``, y-axis), both log scales, labelled with their loss; the fitted
    runs as points; and the compute-optimal frontier: for budgets ``C = k N D`` (``k = 6``
    FLOPs per parameter per sample), the ``(N, D)`` minimising the law along ``D = C/(k N)``
    (:func:`compute_optimal_path`; numerical, so it works for any joint form).

    Parameters
    ----------
    result : FitResult or bootstrap result
        A fit of a form whose inputs include ``"params"`` and ``"samples"``.
    ax : matplotlib Axes, optional
        Where to draw; default the current Axes.
    params_range, samples_range : (float, float), optional
        Axis ranges; default a decade beyond the data on each side.
    levels : int or sequence of float, default 10
        Number of contour levels (quantiles of the predictions over the box, rounded to 3
        significant digits, so the contours spread over the figure), or the levels themselves.
    show_data, show_frontier : bool, default True
        Draw the fitted runs; draw the compute-optimal frontier.
    flops_per_param_sample : float, default 6.0
        ``k`` in ``C = k N D``.
    other_inputs : mapping, optional
        Constant values of any further inputs of the form (e.g. ``unique_samples``).
    n_grid : int, default 150
        Grid points per axis of the contours.
    cmap : str, default "viridis"
        Colour map of the contour lines.

    Returns
    -------
    matplotlib Axes
    """
    fit_ = _base._point(result)
    inputs = tuple(fit_.form.inputs)
    other = dict(other_inputs or {})
    needed = {"params", "samples"}
    if not needed <= set(inputs):
        raise DataError(
            f"plot_isoloss draws laws of inputs 'params' and 'samples'; form {fit_.form.name!r} "
            f"has inputs {inputs}"
        )
    rest = [i for i in inputs if i not in needed and i not in other]
    if rest:
        raise DataError(f"form {fit_.form.name!r} also takes {rest}: give them in other_inputs")
    x = np.asarray(fit_.x, dtype=float)
    n_data, d_data = x[:, inputs.index("params")], x[:, inputs.index("samples")]
    nr = _span(params_range, n_data, "params_range")
    dr = _span(samples_range, d_data, "samples_range")
    nn, dd = np.meshgrid(np.geomspace(*nr, n_grid), np.geomspace(*dr, n_grid))
    with np.errstate(all="ignore"):
        z = _joint_predict(fit_, nn.ravel(), dd.ravel(), other).reshape(nn.shape)
    finite = z[np.isfinite(z) & (z > 0)]
    if finite.size == 0:
        raise DataError("the law has no finite positive prediction in the plotted range")
    if np.ndim(levels) == 0:
        # quantiles of the predictions over the box, so the contours spread over the figure
        raw = np.quantile(finite, np.linspace(0.04, 0.96, int(levels)))
        levels = np.unique([float(f"{v:.3g}") for v in raw])
    ax = _base._axes(ax)
    cs = ax.contour(nn, dd, z, levels=np.asarray(levels, dtype=float), cmap=cmap, linewidths=1)
    ax.clabel(cs, fmt=lambda v: f"{v:.3g}", fontsize="x-small")
    if show_data:
        ax.scatter(n_data, d_data, s=18, color="k", zorder=3, label="runs")
    if show_frontier:
        budgets = np.geomspace(
            flops_per_param_sample * nr[0] * dr[0], flops_per_param_sample * nr[1] * dr[1], 60
        )
        path = compute_optimal_path(
            fit_, budgets, nr, dr, flops_per_param_sample=flops_per_param_sample, other_inputs=other
        )
        k = f"{flops_per_param_sample:g}"
        ax.plot(
            path["params"],
            path["samples"],
            color="tab:red",
            lw=2,
            label=f"compute-optimal (C = {k}ND)",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(*nr)
    ax.set_ylim(*dr)
    ax.set_xlabel("parameters N")
    ax.set_ylabel("samples D")
    ax.grid(True, which="major", alpha=0.2)
    if show_data or show_frontier:
        ax.legend(fontsize="small", loc="best")
    return ax
