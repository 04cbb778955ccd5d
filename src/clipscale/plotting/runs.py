"""Figures of run tables: every run with its frontier, and a law beside its predictions.

Public through :mod:`clipscale.plotting`; matplotlib is imported only when a function runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from ..exceptions import DataError
from ..frontier import frontier
from ._common import axes_or_current, log_axes
from .fits import plot_fit

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from ..results import FitResult

__all__ = ["plot_frontier", "plot_predictions"]


def plot_frontier(
    df: pd.DataFrame,
    x: str = "compute",
    y: str = "metric",
    *,
    color_by: str | None = None,
    method: str = "bins",
    ax: Axes | None = None,
    frontier_kwargs: Mapping[str, Any] | None = None,
) -> Axes:
    """Scatter every run on log-log axes and mark the frontier that a law would be fitted to.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per run.
    x, y : str, default "compute", "metric"
        Columns of the budget and of the error (smaller is better).
    color_by : str, optional
        Column whose values colour the runs, one legend entry per value (in sorted order);
        default one colour.
    method : {"bins", "pareto", "hull"}, default "bins"
        Frontier recipe of :func:`clipscale.frontier.frontier`. With ``"bins"`` the marked
        points are each bin's best y at the bin's geometric centre (the points the paper
        fits), with the bin edges as a horizontal bar; otherwise the selected runs themselves,
        joined by a line.
    ax : matplotlib Axes, optional
        Where to draw; default the current Axes.
    frontier_kwargs : mapping, optional
        Extra arguments of :func:`~clipscale.frontier.frontier` (``n_bins``, ``pad``, ...).

    Returns
    -------
    matplotlib Axes
    """
    best = frontier(df, x, y, method=method, **(frontier_kwargs or {}))
    ax = axes_or_current(ax)
    if color_by is None:
        ax.scatter(df[x], df[y], s=25, alpha=0.75, label="runs")
    else:
        if color_by not in df.columns:
            raise DataError(
                f"color_by={color_by!r} is not a column of df; columns are {list(df.columns)}"
            )
        for value in sorted(df[color_by].dropna().unique(), key=str):
            rows = df[df[color_by] == value]
            ax.scatter(rows[x], rows[y], s=25, alpha=0.75, label=str(value))
    style = {"s": 90, "facecolors": "none", "edgecolors": "black", "linewidths": 1.5, "zorder": 4}
    if method == "bins":
        ax.errorbar(
            best[x],
            best[y],
            xerr=[best[x] - best["bin_low"], best["bin_high"] - best[x]],
            fmt="none",
            ecolor="0.4",
            elinewidth=0.8,
            capsize=2,
            zorder=2,
        )
    else:
        ax.plot(best[x], best[y], color="black", lw=0.8, zorder=2)
    ax.scatter(best[x], best[y], marker="D", label=f"frontier ({method})", **style)
    log_axes(ax)
    if not ax.get_xlabel():
        ax.set_xlabel(x)
    if not ax.get_ylabel():
        ax.set_ylabel(y)
    ax.legend(fontsize="small")
    return ax


def plot_predictions(
    result: FitResult,
    pred: pd.DataFrame,
    ax: Axes | None = None,
    *,
    group_by: str = "arch",
    label: str | None = None,
    color: str = "0.3",
) -> Axes:
    """Draw a law extrapolated to a table of predictions, with the observed runs beside them.

    Parameters
    ----------
    result : FitResult
        The law (a one-input fit of the error ``E``).
    pred : pandas.DataFrame
        One row per prediction, with columns ``compute``, ``predicted`` and ``observed`` in
        percent of ``1 - E`` (accuracy or recall; ``observed`` NaN where there is no run) and
        ``group_by``; the table of :func:`clipscale.reproduce.predictions` for one task.
    ax : matplotlib Axes, optional
        Where to draw; default the current Axes.
    group_by : str, default "arch"
        Column whose values colour the predictions (``ViT-`` prefixes are dropped in the legend).
    label : str, optional
        Name of the law in the legend.
    color : str, default "0.3"
        Colour of the law's curve.

    Returns
    -------
    matplotlib Axes
        Predictions are ``X`` markers on the law, observed best runs open circles joined to
        their prediction by a vertical segment.
    """
    missing = {"compute", "predicted", "observed", group_by} - set(pred.columns)
    if missing:
        raise DataError(f"pred lacks column(s) {sorted(missing)}; pass reproduce.predictions()")
    ax = plot_fit(
        result,
        ax,
        label=label,
        color=color,
        show_data=False,
        extrapolate_to=(pred["compute"].min(), pred["compute"].max()),
    )
    for i, (key, group) in enumerate(pred.groupby(group_by, sort=False)):
        c = f"C{i % 10}"
        name = str(key).removeprefix("ViT-").replace("-", "/")
        ax.scatter(group["compute"], 1 - group["predicted"] / 100, marker="X", color=c, label=name)
        seen = group.dropna(subset=["observed"])
        if len(seen):
            e_pred, e_seen = 1 - seen["predicted"] / 100, 1 - seen["observed"] / 100
            ax.vlines(seen["compute"], e_pred, e_seen, color=c, lw=1)
            ax.scatter(seen["compute"], e_seen, marker="o", facecolors="none", edgecolors=c)
    ax.scatter([], [], marker="o", facecolors="none", edgecolors=color, label="best run")
    ax.legend(fontsize="small", ncols=2, loc="lower left")
    return ax
