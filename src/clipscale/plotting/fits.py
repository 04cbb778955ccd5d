"""Figures of one-input fits: the law over its data, its residuals, several laws compared."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..exceptions import DataError
from ..losses import get_loss
from ._common import (
    axes_or_current,
    draw_law,
    extrapolation_targets,
    log_axes,
    point_fit,
    shade_beyond,
)

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from ..results import FitResult

__all__ = ["equation", "plot_compare", "plot_fit", "plot_residuals"]


def equation(result: FitResult, *, x: str = "C", y: str = "E", digits: int = 5) -> str:
    """The fitted law as a matplotlib mathtext string, e.g. ``$E = 5.8581\\,C^{-0.11139}$``.

    Pure, saturating and shifted power laws get their formula with the fitted values; other
    forms their name and values (4 significant digits), three to a line.

    Parameters
    ----------
    result : FitResult
        A fit of a one-input form.
    x, y : str, default "C", "E"
        Symbols of the input and output.
    digits : int, default 5
        Significant digits of the parameters.
    """
    y_scale = float(np.max(np.abs(result.y)))
    return result.form.equation(dict(result.params), x=x, y=y, digits=digits, y_scale=y_scale)


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
    confidence_level: float = 0.95,
    band: bool = True,
) -> Axes:
    """Draw a fitted law on log-log axes: its data, its curve, and its extrapolation.

    Parameters
    ----------
    result : FitResult or bootstrap result
        A fit of a one-input form (``result.form.inputs`` of length 1). A bootstrap result
        (an object with ``predict_interval(x, confidence_level=...)`` holding its point fit as
        ``.fit``) draws the point fit and shades its interval.
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
    confidence_level : float, default 0.95
        Level of the shaded interval (bootstrap results only).
    band : bool, default True
        Shade the interval when ``result`` can give one.

    Returns
    -------
    matplotlib Axes
    """
    fit_ = point_fit(result)
    if len(fit_.form.inputs) != 1:
        raise DataError(
            f"plot_fit draws one-input laws; form {fit_.form.name!r} has inputs "
            f"{fit_.form.inputs}. Use plot_isoloss, or plot a slice with result.predict"
        )
    targets = extrapolation_targets(extrapolate_to)
    ax = axes_or_current(ax)
    x = np.asarray(fit_.x, dtype=float)
    eq = equation(fit_, x=symbols[0], y=symbols[1])
    kwargs = {"lw": 2, **(line_kwargs or {})}
    if color is not None:
        kwargs["color"] = color
    interval = (result, confidence_level) if band and hasattr(result, "predict_interval") else None
    line = draw_law(ax, fit_, targets, n_grid, kwargs, f"{label}: {eq}" if label else eq, interval)
    if show_data:
        ax.scatter(
            x,
            fit_.y,
            color=line.get_color(),
            marker=marker,
            s=80 if marker == "*" else 30,
            zorder=3,
            label=data_label or (f"{label} data" if label else "data"),
        )
    shade_beyond(ax, float(x.min()), float(x.max()), targets)
    log_axes(ax)
    ax.legend(fontsize="small")
    return ax


def _input_column(result: FitResult, name: str | None) -> tuple[np.ndarray, str]:
    """One input column of the fitted data and its name."""
    x = np.asarray(result.x, dtype=float)
    inputs = result.form.inputs
    if x.ndim == 1:
        return x, name or inputs[0]
    name = inputs[0] if name is None else name
    if name not in inputs:
        raise DataError(f"input={name!r} is not an input of form {result.form.name!r}: {inputs}")
    return x[:, inputs.index(name)], name


_RESIDUAL_LABELS = {
    "log_ls": "log y - log ŷ",
    "huber_log": "log y - log ŷ",
    "msle1p": "log(1 + y) - log(1 + ŷ)",
}


def plot_residuals(
    result: FitResult,
    ax: Axes | None = None,
    *,
    input: str | None = None,
    color: str | None = None,
    label: str | None = None,
    marker: str = "o",
) -> Axes:
    """Residuals of a fit on the scale its loss measures them, against x (log axis).

    For ``loss="log_ls"`` (the default) and ``"huber_log"`` that is ``log y - log yhat``, the
    relative error; for ``"msle1p"`` ``log(1 + y) - log(1 + yhat)``; for ``"ls"`` and
    ``"asymmetric"`` ``y - yhat``. A horizontal line marks zero; the y-axis is symmetric
    about it. Points with weight 0 (left out of the fit) are drawn hollow.

    Parameters
    ----------
    result : FitResult or bootstrap result
        The fit (a bootstrap result's point fit).
    ax : matplotlib Axes, optional
        Where to draw; default the current Axes.
    input : str, optional
        For a law of several inputs, the one on the x-axis (default the first).
    color, label, marker : optional
        Style and legend entry of the points.

    Returns
    -------
    matplotlib Axes
    """
    fit_ = point_fit(result)
    x, name = _input_column(fit_, input)
    transform = get_loss(fit_.loss).transform
    with np.errstate(all="ignore"):
        # form.predict on the stored inputs: result.fitted wants named inputs for joint laws
        fitted = fit_.form.predict(fit_.params, np.asarray(fit_.x, dtype=float))
        r = transform(np.asarray(fit_.y)) - transform(fitted)
    ax = axes_or_current(ax)
    ax.axhline(0.0, color="0.3", lw=1, zorder=1)
    used = np.asarray(fit_.weights) > 0
    points = ax.scatter(x[used], r[used], color=color, marker=marker, s=30, zorder=3, label=label)
    if not used.all():
        ax.scatter(
            x[~used],
            r[~used],
            marker=marker,
            s=30,
            zorder=3,
            facecolors="none",
            edgecolors=points.get_facecolor()[0],
            label="weight 0",
        )
    ax.set_xscale("log")
    # symmetric about zero, wide enough for every residual drawn on these Axes so far
    drawn = [c.get_offsets()[:, 1] for c in ax.collections if len(c.get_offsets())]
    finite = np.abs(np.concatenate(drawn)) if drawn else np.zeros(0)
    finite = finite[np.isfinite(finite)]
    top = 1.15 * float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    ax.set_ylim(-top, top)
    ax.grid(True, which="major", alpha=0.3)
    if not ax.get_xlabel():
        ax.set_xlabel(name)
    ax.set_ylabel(f"residual, {_RESIDUAL_LABELS.get(fit_.loss, 'y - ŷ')}")
    if label is not None or not used.all():
        ax.legend(fontsize="small")
    return ax


def plot_compare(
    results: Sequence[FitResult] | Mapping[str, FitResult],
    labels: Sequence[str] | None = None,
    ax: Axes | None = None,
    *,
    extrapolate_to: float | tuple[float, float] | None = None,
    show_data: bool = True,
    n_grid: int = 200,
) -> Axes:
    """Several fits of one-input laws (forms, losses, subsets) on one log-log Axes.

    Each data set is scattered once (fits of the same data share it), each law is a curve,
    solid over its own data and dashed out to ``extrapolate_to``. The legend names each law
    with its loss value and number of free parameters.

    Parameters
    ----------
    results : sequence of FitResult, or mapping label -> FitResult
        The fits (bootstrap results stand for their point fits).
    labels : sequence of str, optional
        One name per fit (default the form names, or the mapping's keys).
    ax : matplotlib Axes, optional
        Where to draw; default the current Axes.
    extrapolate_to : float or (float, float), optional
        As in :func:`plot_fit`.
    show_data : bool, default True
        Scatter the fitted points.
    n_grid : int, default 200
        Points of each drawn curve.

    Returns
    -------
    matplotlib Axes
    """
    if isinstance(results, Mapping):
        labels = list(results) if labels is None else labels
        results = list(results.values())
    fits = [point_fit(r) for r in results]
    if not fits:
        raise DataError("plot_compare needs at least one fit")
    if labels is None:
        labels = [f.form.name for f in fits]
    if len(labels) != len(fits):
        raise DataError(f"got {len(labels)} labels for {len(fits)} fits; give one label per fit")
    for f in fits:
        if len(f.form.inputs) != 1:
            raise DataError(f"plot_compare draws one-input laws; {f.form.name!r} has several")
    targets = extrapolation_targets(extrapolate_to)
    ax = axes_or_current(ax)
    if show_data:
        seen: list[str] = []
        for f in fits:
            if f.data_hash not in seen:
                seen.append(f.data_hash)
                name = "data" if len({g.data_hash for g in fits}) == 1 else f"data {len(seen)}"
                ax.scatter(f.x, f.y, color="0.2", s=30, zorder=4, label=name)
    for i, (f, name) in enumerate(zip(fits, labels, strict=True)):
        text = f"{name}: {f.loss} = {f.loss_value:.3g}, {len(f.free_params)} params"
        # later curves thinner, so a law drawn over an identical one leaves it visible
        draw_law(ax, f, targets, n_grid, {"lw": max(2.8 - 0.6 * i, 1.2)}, text)
    lo = min(float(np.min(f.x)) for f in fits)
    hi = max(float(np.max(f.x)) for f in fits)
    shade_beyond(ax, lo, hi, targets)
    log_axes(ax)
    ax.legend(fontsize="small")
    return ax
