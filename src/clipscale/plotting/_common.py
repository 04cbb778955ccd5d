"""What every figure shares: the fit behind a result, its interval, axes and the drawn law.

matplotlib is imported only inside the functions that draw.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..bootstrap import BootstrapResult
from ..exceptions import DataError
from ..results import FitResult

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = [
    "axes_or_current",
    "draw_law",
    "interval",
    "log_axes",
    "point_fit",
    "shade_beyond",
    "extrapolation_targets",
]


def point_fit(obj: Any) -> FitResult:
    """The fit behind ``obj``: a FitResult itself, or a bootstrap result's point fit.

    A :class:`~clipscale.BootstrapResult` holds it as ``.fit``; a stand-in for one (an object
    with ``predict_interval``, e.g. from another resampling tool) may hold it as ``.fit`` or
    ``.result``.
    """
    if isinstance(obj, FitResult):
        return obj
    if isinstance(obj, BootstrapResult):
        return obj.fit
    for name in ("fit", "result"):
        inner = getattr(obj, name, None)
        if isinstance(inner, FitResult):
            return inner
    raise DataError(
        f"expected a FitResult (from clipscale.fit) or a bootstrap result, got {type(obj).__name__}"
    )


def interval(source: Any, x: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of ``source.predict_interval(x, confidence_level=level)``.

    That is a DataFrame with ``lower`` and ``upper`` columns (a
    :class:`~clipscale.BootstrapResult`), or a ``(lower, upper)`` pair.
    """
    out = source.predict_interval(x, confidence_level=level)
    if isinstance(out, pd.DataFrame):
        if not {"lower", "upper"} <= set(out.columns):
            raise DataError(f"predict_interval gave columns {list(out.columns)}; no lower/upper")
        out = (out["lower"], out["upper"])
    low, high = out
    return np.asarray(low, dtype=float), np.asarray(high, dtype=float)


def axes_or_current(ax: Axes | None) -> Axes:
    """``ax``, or the current pyplot Axes."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.gca()


def log_axes(ax: Axes) -> None:
    """Log-log axes with a grid; narrow y ranges label their minor ticks as plain numbers."""
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


def extrapolation_targets(extrapolate_to: Any) -> list[float]:
    """``extrapolate_to`` (None, a number, or a ``(low, high)`` pair) as a list of floats."""
    if extrapolate_to is None:
        return []
    values = np.atleast_1d(np.asarray(extrapolate_to, dtype=float)).ravel()
    if values.size > 2 or not np.all(np.isfinite(values) & (values > 0)):
        raise DataError(
            "extrapolate_to must be a positive number or a (low, high) pair of them, "
            f"got {extrapolate_to!r}"
        )
    return [float(v) for v in values]


def _outside(lo: float, hi: float, targets: list[float]) -> list[tuple[float, float]]:
    """The spans between the data's range ``[lo, hi]`` and the extrapolation targets."""
    spans = []
    if targets and max(targets) > hi:
        spans.append((hi, max(targets)))
    if targets and min(targets) < lo:
        spans.append((min(targets), lo))
    return spans


def draw_law(
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
        low, high = interval(source, xs, level)
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


def shade_beyond(ax: Axes, lo: float, hi: float, targets: list[float]) -> None:
    """Grey spans between the data's range ``[lo, hi]`` and the extrapolation targets."""
    for i, (a, b) in enumerate(_outside(lo, hi, targets)):
        ax.axvspan(a, b, color="0.5", alpha=0.12, lw=0, label=None if i else "beyond the data")
