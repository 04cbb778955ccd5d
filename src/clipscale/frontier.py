"""Compute-frontier extraction: the best runs of a table, per compute bin or as an envelope.

A scaling law is fitted to the runs that are best for their budget, not to every run. Three
recipes are offered by :func:`frontier`:

``"bins"``
    The recipe of Cherti et al. (CVPR 2023): equal-width bins in log10 x, the best y of each bin,
    placed at the bin's geometric centre.
``"pareto"``
    The exact lower envelope: every run that no run with less or equal x beats.
``"hull"``
    The lower convex hull of the runs in log-log space.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
import pandas as pd

from clipscale.exceptions import DataError

__all__ = ["frontier", "METHODS"]

METHODS = ("bins", "pareto", "hull")
_KEEP = ("min", "max")
_SHOW = 5  # rows named in an error message


def frontier(
    df: pd.DataFrame,
    x: str = "compute",
    y: str = "metric",
    *,
    method: str = "bins",
    n_bins: int = 5,
    pad: float = 0.1,
    keep: str = "min",
) -> pd.DataFrame:
    """Select the best runs of a table: per log-spaced bin of x, or on the envelope.

    Parameters
    ----------
    df : pandas.DataFrame
        One row per run. Not modified.
    x : str, default "compute"
        Column of the budget axis (compute, samples, params); values must be positive.
    y : str, default "metric"
        Column of the quantity to optimise (an error, a loss).
    method : {"bins", "pareto", "hull"}, default "bins"
        ``"bins"`` (Cherti et al., CVPR 2023):

        1. ``edges = numpy.linspace(log10(min x), log10(max x) + pad, n_bins + 1)``;
        2. a run belongs to bin ``i`` when ``edges[i] <= log10(x) < edges[i + 1]``
           (with ``pad=0`` the largest x is put in the last bin);
        3. in each bin keep the run with the best y (first one on ties);
        4. report it at the bin's geometric centre, ``x = 10 ** ((edges[i] + edges[i+1]) / 2)``,
           not at the run's own x; empty bins are dropped.

        Fitting ``log y`` against ``log x`` of the result by least squares reproduces the
        paper's Table of OpenCLIP scaling laws (compute in GMACs, error = 1 - acc1, or
        1 - image retrieval Recall@5 for retrieval tasks).

        ``"pareto"``: the runs that no other run beats (strictly better y) with less or equal
        x, sorted by x. Runs tied in both x and y are all kept.

        ``"hull"``: the vertices of the lower convex hull of ``(log x, log y)`` (monotone
        chain; collinear points dropped; only the best y at each x can be a vertex), sorted by
        x. The full lower hull is kept, including a rising part, if any.
    n_bins : int, default 5
        Number of bins for ``method="bins"``.
    pad : float, default 0.1
        Added to ``log10(max x)`` for the upper edge of the last bin, in log10 units
        (``method="bins"``).
    keep : {"min", "max"}, default "min"
        Whether smaller y is better (errors, losses) or larger y (accuracies). With ``"max"``
        the hull is the upper hull.

    Returns
    -------
    pandas.DataFrame
        For ``"pareto"`` and ``"hull"``: the selected rows with all their columns and original
        index labels, sorted by x.

        For ``"bins"``: one row per non-empty bin, indexed by the label of its best run, with
        columns ``x`` (the bin centre), ``y`` (the best y), ``n_runs`` (runs in the bin),
        ``bin_low`` and ``bin_high`` (bin edges in x units), ``<x>_run`` (the best run's own
        x), then the best run's other columns.

    Raises
    ------
    DataError
        If a column is missing or not numeric, holds NaN or infinite values, x is not
        positive (or y for ``"hull"``), or an argument is invalid.

    Examples
    --------
    >>> import pandas as pd
    >>> runs = pd.DataFrame({"compute": [1e1, 1e2, 2e2, 1e3], "metric": [0.9, 0.5, 0.6, 0.3]})
    >>> frontier(runs, method="pareto")["metric"].tolist()
    [0.9, 0.5, 0.3]
    """
    _check_args(df, x, y, method, n_bins, pad, keep)
    _check_values(df, x, y, method)
    xs = df[x].to_numpy(dtype=float)
    ys = df[y].to_numpy(dtype=float)
    score = ys if keep == "min" else -ys
    if method == "bins":
        return _bins(df, x, y, xs, score, n_bins, float(pad))
    if method == "pareto":
        positions = _pareto(xs, score)
    else:
        positions = _hull(np.log(xs), np.log(ys) if keep == "min" else -np.log(ys))
    return df.iloc[positions].copy()


def _check_args(
    df: object, x: str, y: str, method: str, n_bins: object, pad: object, keep: str
) -> None:
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    if method not in METHODS:
        raise DataError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    if keep not in _KEEP:
        raise DataError(f"keep must be 'min' (lower y is better) or 'max', got {keep!r}")
    if isinstance(n_bins, bool) or not isinstance(n_bins, Integral) or n_bins < 1:
        raise DataError(f"n_bins must be a positive integer, got {n_bins!r}")
    if isinstance(pad, bool) or not isinstance(pad, Real) or not (math.isfinite(pad) and pad >= 0):
        raise DataError(f"pad must be a finite number >= 0 (log10 units), got {pad!r}")
    if x == y:
        raise DataError(f"x and y are both {x!r}; pass two different columns")
    for arg, column in (("x", x), ("y", y)):
        if column not in df.columns:
            raise DataError(
                f"{arg}={column!r} is not a column of df; columns are {list(df.columns)}. "
                f"Pass {arg}='<column name>'"
            )
        dtype = df[column].dtype
        types = pd.api.types
        if (
            not types.is_numeric_dtype(dtype)
            or types.is_bool_dtype(dtype)
            or types.is_complex_dtype(dtype)
        ):
            raise DataError(
                f"column {column!r} has dtype {dtype}, not real numbers; "
                f"convert it with pd.to_numeric(df[{column!r}])"
            )
    if len(df) == 0:
        raise DataError("df has no rows; pass a table with at least one run")
    if method == "bins":
        added = {f"{x}_run", "n_runs", "bin_low", "bin_high"}
        clash = sorted(added.intersection(df.columns))
        if clash:
            raise DataError(
                f"df already has column(s) {clash}, which method='bins' adds; rename them"
            )


def _rows(mask: np.ndarray, index: pd.Index) -> str:
    labels = list(index[mask])
    more = f" and {len(labels) - _SHOW} more" if len(labels) > _SHOW else ""
    return f"{labels[:_SHOW]}{more}"


def _check_values(df: pd.DataFrame, x: str, y: str, method: str) -> None:
    for column in (x, y):
        values = df[column].to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            raise DataError(
                f"column {column!r} has NaN or infinite values in rows {_rows(bad, df.index)}; "
                f"drop them first, e.g. df.dropna(subset=[{column!r}])"
            )
    positive = [x, y] if method == "hull" else [x]
    for column in positive:
        values = df[column].to_numpy(dtype=float)
        bad = values <= 0
        if bad.any():
            why = "log-log hull" if column == y else "log-spaced x axis"
            raise DataError(
                f"column {column!r} must be positive for the {why}, but rows "
                f"{_rows(bad, df.index)} hold {values[bad][:_SHOW].tolist()}; "
                f"drop or correct these rows"
            )


def _bins(
    df: pd.DataFrame,
    x: str,
    y: str,
    xs: np.ndarray,
    score: np.ndarray,
    n_bins: int,
    pad: float,
) -> pd.DataFrame:
    lx = np.log10(xs)
    edges = np.linspace(lx.min(), lx.max() + pad, n_bins + 1)
    if edges[-1] <= edges[0]:
        raise DataError(
            f"all runs have the same {x!r} ({xs[0]!r}) and pad=0, so the bins have no width; "
            "pass pad > 0"
        )
    which = np.clip(np.digitize(lx, edges) - 1, 0, n_bins - 1)
    best, counts, lows, highs = [], [], [], []
    for i in range(n_bins):
        members = np.flatnonzero(which == i)
        if members.size == 0:
            continue
        best.append(members[np.argmin(score[members])])
        counts.append(members.size)
        lows.append(edges[i])
        highs.append(edges[i + 1])
    low, high = np.asarray(lows), np.asarray(highs)
    rows = df.iloc[best]
    out = pd.DataFrame(
        {
            x: 10.0 ** ((low + high) / 2.0),
            y: rows[y].to_numpy(),
            "n_runs": np.asarray(counts, dtype=np.int64),
            "bin_low": 10.0**low,
            "bin_high": 10.0**high,
            f"{x}_run": rows[x].to_numpy(),
        },
        index=rows.index,
    )
    rest = rows.drop(columns=[x, y])
    return pd.concat([out, rest], axis=1)


def _pareto(xs: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Positions of runs that no run with less or equal x beats, sorted by x then score."""
    order = np.lexsort((score, xs))  # stable: ties keep input order
    kept = []
    best_before = np.inf  # best score among runs with strictly smaller x
    start = 0
    while start < order.size:
        stop = start
        while stop < order.size and xs[order[stop]] == xs[order[start]]:
            stop += 1
        group = order[start:stop]
        group_best = score[group[0]]
        if group_best <= best_before:
            kept.extend(int(i) for i in group if score[i] == group_best)
        best_before = min(best_before, group_best)
        start = stop
    return np.asarray(kept, dtype=np.intp)


def _hull(lx: np.ndarray, ly: np.ndarray) -> np.ndarray:
    """Positions of the lower convex hull vertices of (lx, ly), sorted by lx."""
    order = np.lexsort((ly, lx))
    # only the lowest point at each x can lie on the lower hull; keep the first of ties
    first = np.ones(order.size, dtype=bool)
    first[1:] = lx[order[1:]] != lx[order[:-1]]
    candidates = order[first]
    hull: list[int] = []
    for p in candidates:
        while len(hull) >= 2:
            o, a = hull[-2], hull[-1]
            turn = (lx[a] - lx[o]) * (ly[p] - ly[o])
            back = (ly[a] - ly[o]) * (lx[p] - lx[o])
            # strictly convex turn (up to rounding) keeps `a`; collinear points are dropped
            if turn - back > 1e-12 * (abs(turn) + abs(back)):
                break
            hull.pop()
        hull.append(int(p))
    return np.asarray(hull, dtype=np.intp)
