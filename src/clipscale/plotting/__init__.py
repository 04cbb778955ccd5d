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

Functions that take a fit also take a bootstrap result (a :class:`~clipscale.BootstrapResult`,
or any object with ``predict_interval`` and its point fit as ``.fit``): ``plot_fit`` then shades
the interval of the curve.

Modules: ``_common`` (the point fit of a result, its interval, axes, the drawn law), ``fits``
(one-input laws), ``runs`` (run tables), ``joint`` (laws of ``N`` and ``D``), ``corner``.
"""

from .corner import plot_corner
from .fits import equation, plot_compare, plot_fit, plot_residuals
from .joint import compute_optimal_path, plot_isoloss
from .runs import plot_frontier, plot_predictions

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
