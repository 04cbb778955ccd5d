"""Figures of joint laws ``L(N, D)``: iso-loss contours and the compute-optimal path.

Public through :mod:`clipscale.plotting`; matplotlib is imported only when a function runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..allocation import optimal_params
from ..exceptions import DataError
from ._common import axes_or_current, point_fit

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from ..results import FitResult

__all__ = ["compute_optimal_path", "plot_isoloss"]


# --------------------------------------------------------------------------- joint laws
def _span(given: Any, data: np.ndarray, name: str) -> tuple[float, float]:
    if given is None:
        return float(data.min()) / 10.0, float(data.max()) * 10.0
    lo, hi = (float(v) for v in given)
    if not (0 < lo < hi and np.isfinite(hi)):
        raise DataError(f"{name} must be a (low, high) pair with 0 < low < high, got {given!r}")
    return lo, hi


def _joint_predict(
    result: FitResult, n: np.ndarray, d: np.ndarray, other: Mapping[str, float]
) -> np.ndarray:
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
    """For each budget ``C``, the ``N`` minimising the law at ``D = C / (k N)`` inside a box.

    The search of :func:`clipscale.compute_optimal` (the form's closed form where it has one,
    else a grid over ``log N`` and zooms: :func:`clipscale.allocation.optimal_params`), over
    ``log N`` inside the box ``params_range x samples_range``. Budgets whose optimum lies on
    an edge of the box (outside the range searched) are dropped.

    Parameters
    ----------
    result : FitResult or bootstrap result
        A fit of a form whose inputs include ``"params"`` and ``"samples"``.
    compute : float or array-like
        Budgets ``C``.
    params_range, samples_range : (float, float)
        The box; without ``samples_range``, every ``D > 0``.
    flops_per_param_sample : float, default 6.0
        ``k`` in ``C = k N D``.
    other_inputs : mapping, optional
        Constant values of any further inputs of the form.
    n_grid : int, default 400
        Points of each round of the numerical search.

    Returns
    -------
    pandas.DataFrame
        Columns ``compute``, ``params``, ``samples`` and ``loss``.
    """
    fit_ = point_fit(result)
    other = {k: float(v) for k, v in (other_inputs or {}).items()}
    k = float(flops_per_param_sample)
    n_lo, n_hi = params_range
    d_lo, d_hi = samples_range if samples_range is not None else (0.0, np.inf)
    c = np.atleast_1d(np.asarray(compute, dtype=float)).ravel()
    with np.errstate(all="ignore"):
        lo = np.maximum(np.log(n_lo), np.log(c / (k * d_hi)) if d_hi < np.inf else -np.inf)
        hi = np.minimum(np.log(n_hi), np.log(c / (k * d_lo)) if d_lo > 0 else np.inf)
    columns = ["compute", "params", "samples", "loss"]
    keep = hi > lo
    c, lo, hi = c[keep], lo[keep], hi[keep]
    if c.size:
        n = optimal_params(
            fit_.form, fit_.params, c / k, inputs=other, log_bounds=(lo, hi), n_grid=n_grid
        )
        c, n = c[np.isfinite(n)], n[np.isfinite(n)]
    if not c.size:
        return pd.DataFrame(columns=columns)
    with np.errstate(all="ignore"):
        loss = _joint_predict(fit_, n, c / (k * n), other)
    return pd.DataFrame(
        {"compute": c, "params": n, "samples": c / (k * n), "loss": loss}, columns=columns
    )


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
    (:func:`compute_optimal_path`: the closed form where the form has one, else a numerical
    search, so it works for any joint form).

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
    fit_ = point_fit(result)
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
    ax = axes_or_current(ax)
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
