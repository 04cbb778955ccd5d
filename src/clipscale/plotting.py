"""Matplotlib figures of fits and frontiers; matplotlib is imported only when a function runs.

Every function draws into ``ax`` (default: the current pyplot Axes) and returns it, so panels
compose:

    ax = plot_frontier(runs, color_by="upstream_dataset")
    plot_fit(result, ax=ax, label="OpenCLIP", show_data=False)

- ``plot_fit``: data, fitted curve, dashed extrapolation (and a bootstrap band);
- ``plot_residuals``: residuals on the loss's scale (``log y - log yhat``) against x;
- ``plot_compare``: several fits (forms, losses) of the same data on one Axes;
- ``plot_frontier``: every run, and the frontier a law is fitted to;
- ``plot_predictions``: a law extrapolated to a table of predictions, with observed runs;
- ``plot_corner``: pairwise scatter and histograms of bootstrap draws;
- ``plot_isoloss``: iso-loss contours of a joint law ``L(N, D)`` and its compute-optimal
  frontier.

Functions that take a fit also take a bootstrap result (any object with ``predict_interval``
and its point fit as ``.fit``): ``plot_fit`` then shades the interval of the curve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from .exceptions import DataError
from .losses import get_loss

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from .results import FitResult

__all__ = [
    "compute_optimal_path",
    "equation",
    "plot_compare",
    "plot_corner",
    "plot_fit",
    "plot_frontier",
    "plot_isoloss",
    "plot_predictions",
    "plot_residuals",
]


def _num(value: float, digits: int = 4) -> str:
    """A number for mathtext: ``digits`` significant digits, powers of ten written out."""
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa}\times10^{{{int(exponent)}}}"
    return text


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
    p = dict(result.params)
    name = result.form.name
    if name in ("saturating", "shifted") and abs(p["E"]) < 1e-9 * float(np.max(np.abs(result.y))):
        p["E"] = 0.0  # a floor at its bound of 0 shows as 0, not as 1.8e-26
    if name == "power":
        body = rf"{_num(p['beta'], digits)}\,{x}^{{{_num(p['alpha'], digits)}}}"
    elif name == "saturating":
        body = (
            rf"{_num(p['E'], digits)} + {_num(p['A'], digits)}\,"
            rf"{x}^{{{_num(-p['alpha'], digits)}}}"
        )
    elif name == "shifted":
        body = (
            rf"{_num(p['E'], digits)} + {_num(p['A'], digits)}\,"
            rf"({x} + {_num(p['s'], digits)})^{{{_num(-p['alpha'], digits)}}}"
        )
    else:  # no compact formula: the form's name and its values, three to a line
        values = [f"{k} = {v:.{min(digits, 4)}g}" for k, v in p.items()]
        lines = [", ".join(values[i : i + 3]) for i in range(0, len(values), 3)]
        return "\n".join([f"{name}:", *lines])
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


def _point(obj: Any) -> FitResult:
    """The fit behind ``obj``: a FitResult itself, or the point fit a bootstrap result holds."""
    if hasattr(obj, "form") and hasattr(obj, "params") and hasattr(obj, "x"):
        return obj
    for name in ("result", "fit_result", "point", "fit"):
        inner = getattr(obj, name, None)
        if hasattr(inner, "form") and hasattr(inner, "params") and hasattr(inner, "x"):
            return inner
    raise DataError(
        f"expected a FitResult (from clipscale.fit) or a bootstrap result, got {type(obj).__name__}"
    )


def _interval(source: Any, x: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of ``source.predict_interval(x, confidence_level=level)``.

    Accepts a DataFrame with ``lower``/``upper`` (or ``low``/``high``) columns, an object with
    ``low`` and ``high`` attributes, or a ``(low, high)`` pair.
    """
    out = source.predict_interval(x, confidence_level=level)
    if isinstance(out, pd.DataFrame):
        cols = {str(c).lower(): c for c in out.columns}
        for low, high in (("lower", "upper"), ("low", "high"), ("ci_lower", "ci_upper")):
            if low in cols and high in cols:
                out = (out[cols[low]], out[cols[high]])
                break
        else:
            raise DataError(f"predict_interval gave columns {list(out.columns)}; no lower/upper")
    elif hasattr(out, "low") and hasattr(out, "high"):
        out = (out.low, out.high)
    low, high = out
    return np.asarray(low, dtype=float), np.asarray(high, dtype=float)


def _outside(lo: float, hi: float, targets: list[float]) -> list[tuple[float, float]]:
    """The spans between the data's range ``[lo, hi]`` and the extrapolation targets."""
    spans = []
    if targets and max(targets) > hi:
        spans.append((hi, max(targets)))
    if targets and min(targets) < lo:
        spans.append((min(targets), lo))
    return spans


def _draw_law(
    ax: Axes,
    result: FitResult,
    targets: list[float],
    n_grid: int,
    kwargs: dict[str, Any],
    label: str | None,
    band: tuple[Any, float] | None = None,
) -> Any:
    """The curve (solid over the data, dashed beyond it) and, with ``band``, its interval."""
    x = np.asarray(result.x, dtype=float)
    lo, hi = float(x.min()), float(x.max())
    grid = np.geomspace(lo, hi, n_grid)
    (line,) = ax.plot(grid, result.predict(grid), label=label, **kwargs)
    kwargs = {**kwargs, "color": line.get_color()}
    pieces = [grid]
    for a, b in _outside(lo, hi, targets):
        ext = np.geomspace(a, b, max(n_grid // 2, 2))
        ax.plot(ext, result.predict(ext), **{**kwargs, "ls": "--"})
        pieces.append(ext)
    if band is not None:
        source, level = band
        xs = np.unique(np.concatenate(pieces))
        low, high = _interval(source, xs, level)
        # on log axes: no band where a bound is undefined, and at most a decade beyond the
        # curve and data, so one wild interval cannot squash the figure
        ys = np.concatenate([result.predict(xs), np.asarray(result.y, dtype=float)])
        ys = ys[np.isfinite(ys) & (ys > 0)]
        ok = np.isfinite(low) & np.isfinite(high) & (high > 0)
        if ys.size:
            low = np.clip(low, ys.min() / 10, ys.max() * 10)
            high = np.clip(high, ys.min() / 10, ys.max() * 10)
        ax.fill_between(
            xs,
            low,
            high,
            where=ok,
            color=kwargs["color"],
            alpha=0.2,
            lw=0,
            label=f"{level:.0%} interval",
        )
    return line


def _shade(ax: Axes, lo: float, hi: float, targets: list[float]) -> None:
    for i, (a, b) in enumerate(_outside(lo, hi, targets)):
        ax.axvspan(a, b, color="0.5", alpha=0.12, lw=0, label=None if i else "beyond the data")


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
    fit_ = _point(result)
    if len(fit_.form.inputs) != 1:
        raise DataError(
            f"plot_fit draws one-input laws; form {fit_.form.name!r} has inputs "
            f"{fit_.form.inputs}. Use plot_isoloss, or plot a slice with result.predict"
        )
    targets = _targets(extrapolate_to)
    ax = _axes(ax)
    x = np.asarray(fit_.x, dtype=float)
    eq = equation(fit_, x=symbols[0], y=symbols[1])
    kwargs = {"lw": 2, **(line_kwargs or {})}
    if color is not None:
        kwargs["color"] = color
    interval = (result, confidence_level) if band and hasattr(result, "predict_interval") else None
    line = _draw_law(ax, fit_, targets, n_grid, kwargs, f"{label}: {eq}" if label else eq, interval)
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
    _shade(ax, float(x.min()), float(x.max()), targets)
    _log_axes(ax)
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
    fit_ = _point(result)
    x, name = _input_column(fit_, input)
    transform = get_loss(fit_.loss).transform
    with np.errstate(all="ignore"):
        # form.predict on the stored inputs: result.fitted wants named inputs for joint laws
        fitted = fit_.form.predict(fit_.params, np.asarray(fit_.x, dtype=float))
        r = transform(np.asarray(fit_.y)) - transform(fitted)
    ax = _axes(ax)
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
    fits = [_point(r) for r in results]
    if not fits:
        raise DataError("plot_compare needs at least one fit")
    if labels is None:
        labels = [f.form.name for f in fits]
    if len(labels) != len(fits):
        raise DataError(f"got {len(labels)} labels for {len(fits)} fits; give one label per fit")
    for f in fits:
        if len(f.form.inputs) != 1:
            raise DataError(f"plot_compare draws one-input laws; {f.form.name!r} has several")
    targets = _targets(extrapolate_to)
    ax = _axes(ax)
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
        _draw_law(ax, f, targets, n_grid, {"lw": max(2.8 - 0.6 * i, 1.2)}, text)
    lo = min(float(np.min(f.x)) for f in fits)
    hi = max(float(np.max(f.x)) for f in fits)
    _shade(ax, lo, hi, targets)
    _log_axes(ax)
    ax.legend(fontsize="small")
    return ax


# the other figures live in private modules (each under ~500 lines) and are public from here
from ._plot_multi import compute_optimal_path, plot_corner, plot_isoloss  # noqa: E402
from ._plot_runs import plot_frontier, plot_predictions  # noqa: E402
