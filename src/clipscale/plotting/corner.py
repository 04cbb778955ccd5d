"""Corner plot of bootstrap draws: pairwise scatter below the diagonal, histograms on it.

Public through :mod:`clipscale.plotting`; matplotlib is imported only when a function runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import DataError
from ._common import point_fit

__all__ = ["plot_corner"]


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
        point = point_fit(bootstrap)
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
