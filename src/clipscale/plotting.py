"""Matplotlib figures of fits and frontiers; matplotlib is imported only when a function runs.

Every function draws into ``ax`` (default: the current pyplot Axes) and returns it, so panels
compose::

    ax = plot_frontier(runs, color_by="upstream_dataset")
    plot_fit(result, ax=ax, label="OpenCLIP", show_data=False)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .exceptions import DataError
from .frontier import frontier

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from .results import FitResult

__all__ = ["equation", "plot_fit", "plot_frontier", "plot_predictions"]


def _num(value: float, digits: int = 4) -> str:
    """A number for mathtext: ``digits`` significant digits, powers of ten written out."""
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa}\times10^{{{int(exponent)}}}"
    return text


def equation(result: FitResult, *, x: str = "C", y: str = "E", digits: int = 5) -> str:
    """The fitted law as a matplotlib mathtext string, e.g. ``$E = 5.8581\\,C^{-0.11139}$``.

    Parameters
    ----------
    result : FitResult
        A fit of a one-input form.
    x, y : str, default "C", "E"
        Symbols of the input and output.
    digits : int, default 5
        Significant digits of the parameters.
    """
    p = result.params
    name = result.form.name
    if name == "power":
        body = rf"{_num(p['beta'], digits)}\,{x}^{{{_num(p['alpha'], digits)}}}"
    elif name == "saturating":
        body = (
            rf"{_num(p['E'], digits)} + {_num(p['A'], digits)}\,"
            rf"{x}^{{{_num(-p['alpha'], digits)}}}"
        )
    else:
        values = ", ".join(f"{k}={_num(v, digits)}" for k, v in p.items())
        return f"{result.form.formula} ({values})"
    return f"${y} = {body}$"


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.gca()


def _log_axes(ax: Axes) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.set_xscale("log")
    ax.set_yscale("log")
    # errors often span less than a decade: then label the 2..9 x 10^k ticks as plain numbers
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: _minor_label(ax, v)))
    ax.grid(True, which="major", alpha=0.3)
    ax.grid(True, which="minor", alpha=0.1)


def _minor_label(ax: Axes, value: float) -> str:
    low, high = ax.get_ylim()
    if value <= 0 or low <= 0 or high <= low:
        return ""
    span = np.log10(high / low)
    mantissa = round(value / 10 ** np.floor(np.log10(value)), 6)
    if span > 1.2 or (span > 0.8 and mantissa not in (2.0, 3.0, 5.0)):
        return ""
    return f"{value:g}"


def _targets(extrapolate_to: Any) -> list[float]:
    if extrapolate_to is None:
        return []
    values = np.atleast_1d(np.asarray(extrapolate_to, dtype=float)).ravel()
    if values.size > 2 or not np.all(np.isfinite(values) & (values > 0)):
        raise DataError(
            "extrapolate_to must be a positive number or a (low, high) pair of them, "
            f"got {extrapolate_to!r}"
        )
    return [float(v) for v in values]


def plot_fit(
    result: FitResult,
    ax: Axes | None = None,
    *,
    label: str | None = None,
    extrapolate_to: float | tuple[float, float] | None = None,
    color: str | None = None,
    show_data: bool = True,
    data_label: str | None = None,
    marker: str = "o",
    symbols: tuple[str, str] = ("C", "E"),
    n_grid: int = 200,
    line_kwargs: Mapping[str, Any] | None = None,
) -> Axes:
    """Draw a fitted law on log-log axes: its data, its curve, and its extrapolation.

    Parameters
    ----------
    result : FitResult
        A fit of a one-input form (``result.form.inputs`` of length 1).
    ax : matplotlib Axes, optional
        Where to draw; default the current Axes.
    label : str, optional
        Name of the curve; the legend entry is ``"<label>: <equation>"`` (the equation alone
        without a label), with the fitted values.
    extrapolate_to : float or (float, float), optional
        Extend the curve (dashed) to this x (or to both of a ``(low, high)`` pair) outside the
        range of the fitted data, and shade the region beyond the data.
    color : str, optional
        Colour of points and curve (default: the Axes' next colour).
    show_data : bool, default True
        Scatter the fitted points (weights are not shown).
    data_label : str, optional
        Legend entry of the points (default ``"<label> data"`` or ``"data"``).
    marker : str, default "o"
        Marker of the points.
    symbols : (str, str), default ("C", "E")
        Symbols of x and y in the equation.
    n_grid : int, default 200
        Points of the drawn curve.
    line_kwargs : mapping, optional
        Extra keyword arguments of the curve's ``ax.plot``.

    Returns
    -------
    matplotlib Axes
    """
    if len(result.form.inputs) != 1:
        raise DataError(
            f"plot_fit draws one-input laws; form {result.form.name!r} has inputs "
            f"{result.form.inputs}. Plot a slice of it with result.predict instead"
        )
    targets = _targets(extrapolate_to)
    ax = _axes(ax)
    x = np.asarray(result.x, dtype=float)
    lo, hi = float(x.min()), float(x.max())
    eq = equation(result, x=symbols[0], y=symbols[1])
    kwargs = {"lw": 2, **(line_kwargs or {})}
    if color is not None:
        kwargs["color"] = color
    grid = np.geomspace(lo, hi, n_grid)
    (line,) = ax.plot(grid, result.predict(grid), label=f"{label}: {eq}" if label else eq, **kwargs)
    kwargs["color"] = color = line.get_color()
    if show_data:
        ax.scatter(
            x,
            result.y,
            color=color,
            marker=marker,
            s=80 if marker == "*" else 30,
            zorder=3,
            label=data_label or (f"{label} data" if label else "data"),
        )
    spans = []
    if targets and max(targets) > hi:
        spans.append((hi, max(targets)))
    if targets and min(targets) < lo:
        spans.append((min(targets), lo))
    for i, (a, b) in enumerate(spans):
        ext = np.geomspace(a, b, max(n_grid // 2, 2))
        ax.plot(ext, result.predict(ext), **{**kwargs, "ls": "--"})
        ax.axvspan(a, b, color="0.5", alpha=0.12, lw=0, label=None if i else "beyond the data")
    _log_axes(ax)
    ax.legend(fontsize="small")
    return ax


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
    ax = _axes(ax)
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
    _log_axes(ax)
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
