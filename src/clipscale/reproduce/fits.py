"""The recipes of :mod:`clipscale.reproduce`: the paper's fits, its extrapolations and their
errors, a saturating law beyond the paper, and the fits as a plain-text table."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from .. import datasets
from ..exceptions import ClipscaleWarning, DataError
from ..fitting import fit, fit_power_law
from ..frontier import frontier
from ..results import FitResult
from .paper import (
    FAMILIES,
    PREDICTION_ARCHS,
    PUBLISHED_FITS,
    PUBLISHED_MAE,
    PUBLISHED_PREDICTIONS,
    SAMPLES_SEEN,
    all_tasks,
    family_fit,
    law_bootstrap,
    runs_table,
    select_runs,
)

__all__ = ["beyond_paper", "format_fits", "paper_fits", "prediction_mae", "predictions"]

_CURVE_BINS = (5, 10, 20)


def paper_fits(
    df: pd.DataFrame | None = None,
    *,
    tasks: Iterable[str] | None = None,
    n_resamples: int = 0,
    rng: Any = 0,
) -> pd.DataFrame:
    """Fit ``E = beta * C**alpha`` per task and family, as in Cherti et al. (2023).

    Parameters
    ----------
    df : pandas.DataFrame, optional
        Runs as returned by :func:`clipscale.datasets.load_openclip` (the default).
    tasks : iterable of str, optional
        Tasks to fit; default the paper's four tasks followed by every other classification
        and retrieval task of ``df``.
    n_resamples : int, default 0
        With a positive number, add 95% bootstrap intervals ``alpha_low``, ``alpha_high``,
        ``beta_low``, ``beta_high`` (see :func:`law_bootstrap`).
    rng : int or numpy.random.Generator, default 0
        Seed of the bootstrap.

    Returns
    -------
    pandas.DataFrame
        One row per (task, family) with columns ``task``, ``task_type``, ``family``,
        ``n_runs`` (runs of the family), ``n_points`` (points fitted: frontier bins for
        OpenCLIP, runs for OpenAI), ``beta``, ``alpha``, ``alpha_stderr``, ``published_beta``
        and ``published_alpha`` (NaN where the paper gives none), ``in_paper`` (bool); with
        ``n_resamples``, also ``alpha_low``, ``alpha_high``, ``beta_low``, ``beta_high`` and
        ``n_failed`` (resamples whose fit failed).
    """
    runs = runs_table(df)
    rows = []
    for task in all_tasks(runs) if tasks is None else list(tasks):
        for family in FAMILIES:
            selected = select_runs(runs, task, family)
            if len(selected) < 2:
                continue
            result, points = family_fit(runs, task, family)
            published = PUBLISHED_FITS.get((task, family), (np.nan, np.nan))
            task_type = selected["task_type"].iloc[0] if "task_type" in selected else ""
            rows.append(
                {
                    "task": task,
                    "task_type": task_type,
                    "family": family,
                    "n_runs": len(selected),
                    "n_points": len(points),
                    "beta": result.params["beta"],
                    "alpha": result.params["alpha"],
                    "alpha_stderr": result.stderr["alpha"],
                    "published_beta": published[0],
                    "published_alpha": published[1],
                    "in_paper": (task, family) in PUBLISHED_FITS,
                }
            )
            if n_resamples > 0:
                boot = law_bootstrap(result, n_resamples, rng=rng)
                for name in ("alpha", "beta"):
                    low, high = boot.confidence_interval(name)
                    rows[-1][f"{name}_low"], rows[-1][f"{name}_high"] = low, high
                rows[-1]["n_failed"] = boot.n_failed
    if not rows:
        raise DataError("no task of df has two or more runs of a family; nothing to fit")
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- predictions
def predictions(
    df: pd.DataFrame | None = None,
    *,
    tasks: Sequence[str] = ("imagenet1k", "mscoco_captions"),
    archs: Sequence[str] = PREDICTION_ARCHS,
    samples: Mapping[str, float] = SAMPLES_SEEN,
    arch_info: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Extrapolate each task's OpenCLIP law to architectures and sample budgets.

    Parameters
    ----------
    df : pandas.DataFrame, optional
        Runs as returned by :func:`clipscale.datasets.load_openclip` (the default).
    tasks : sequence of str, default ("imagenet1k", "mscoco_captions")
        Tasks whose OpenCLIP law (see :func:`paper_fits`) is extrapolated.
    archs : sequence of str, default :data:`PREDICTION_ARCHS`
        Architectures; each must be a ``model`` of ``arch_info``.
    samples : mapping, default :data:`SAMPLES_SEEN`
        Budget label (matched against the runs' ``samples_seen_pretty``) to samples seen.
    arch_info : pandas.DataFrame, optional
        Per-architecture cost, default :func:`clipscale.datasets.load_openclip_arch_info`.

    Returns
    -------
    pandas.DataFrame
        One row per (task, arch, budget) with columns ``task``, ``arch``, ``samples_label``,
        ``samples_seen``, ``gmacs_per_sample``, ``compute`` (GMACs), ``predicted`` (percent:
        ``100 * (1 - E)``, top-1 accuracy or Recall@5), ``observed`` (percent, the best
        OpenCLIP run with that arch and budget label over all upstream datasets; NaN when
        there is none), ``observed_upstream`` (that run's upstream dataset), ``n_observed``
        (runs with that arch and label), ``abs_error`` (percentage points) and ``published``
        (the paper's extrapolation where it gives one, else NaN).
    """
    runs = runs_table(df)
    info = datasets.load_openclip_arch_info() if arch_info is None else arch_info
    gmacs = info.set_index("model")["gmacs"]
    unknown = [a for a in archs if a not in gmacs.index]
    if unknown:
        raise DataError(f"arch_info has no architecture {unknown}; known: {list(gmacs.index)}")
    rows = []
    for task in tasks:
        law, _ = family_fit(runs, task, "openclip")
        task_runs = select_runs(runs, task, "openclip")
        for arch in archs:
            for label, seen in samples.items():
                compute = float(seen) * float(gmacs[arch])
                match = task_runs[
                    (task_runs["arch"] == arch) & (task_runs["samples_seen_pretty"] == label)
                ]
                best = match.loc[match["metric"].idxmin()] if len(match) else None
                predicted = 100.0 * (1.0 - float(law.predict(compute)))
                observed = np.nan if best is None else 100.0 * (1.0 - float(best["metric"]))
                rows.append(
                    {
                        "task": task,
                        "arch": arch,
                        "samples_label": label,
                        "samples_seen": float(seen),
                        "gmacs_per_sample": float(gmacs[arch]),
                        "compute": compute,
                        "predicted": predicted,
                        "observed": observed,
                        "observed_upstream": None if best is None else best["upstream_dataset"],
                        "n_observed": len(match),
                        "abs_error": abs(predicted - observed),
                        "published": PUBLISHED_PREDICTIONS.get((task, arch, label), np.nan),
                    }
                )
    return pd.DataFrame(rows)


def prediction_mae(pred: pd.DataFrame | None = None) -> pd.DataFrame:
    """Mean absolute error of the extrapolations against the best observed runs.

    Parameters
    ----------
    pred : pandas.DataFrame, optional
        Output of :func:`predictions` (computed with its defaults when omitted).

    Returns
    -------
    pandas.DataFrame
        One row per task with columns ``task``, ``mae`` (percentage points, mean of
        ``abs_error`` over the rows with an observed run), ``n_pairs`` (those rows) and
        ``published_mae`` (the paper's value, NaN where it gives none).
    """
    pred = predictions() if pred is None else pred
    rows = []
    for task, group in pred.groupby("task", sort=False):
        have = group.dropna(subset=["observed"])
        rows.append(
            {
                "task": task,
                "mae": float(have["abs_error"].mean()) if len(have) else np.nan,
                "n_pairs": len(have),
                "published_mae": PUBLISHED_MAE.get(str(task), np.nan),
            }
        )
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- beyond the paper
def _rmsle(result: FitResult, x: np.ndarray, y: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.log(result.predict(x)) - np.log(y)
    return float(np.sqrt(np.mean(d**2)))


def _compare(points: pd.DataFrame, n_bins: int) -> dict[str, Any]:
    """Pure vs saturating law on one table of points (runs or learning-curve epochs).

    Training set: the ``bins`` frontier without its largest-compute bin. Test set: the runs of
    that bin that lie on the Pareto frontier of *all* points (no cheaper point is better);
    when there is none (a task that stopped improving), the best run of the bin. Test points
    are taken at their own compute.
    """
    best = frontier(points, "compute", "metric", method="bins", n_bins=n_bins)
    cut = float(best["bin_low"].iloc[-1])
    train = best.iloc[:-1]
    envelope = frontier(points, "compute", "metric", method="pareto")
    test = envelope[envelope["compute"] >= cut]
    if test.empty:
        held = points[points["compute"] >= cut]
        test = held.loc[[held["metric"].idxmin()]]
    x_test = test["compute"].to_numpy(float)
    y_test = test["metric"].to_numpy(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClipscaleWarning)
        pure_all = fit_power_law(best["compute"], best["metric"], warn=False)
        sat_all = fit("saturating", best["compute"], best["metric"], warn=False)
        out: dict[str, Any] = {
            "n_points": len(points),
            "n_bins": n_bins,
            "n_frontier": len(best),
            "pure_beta": pure_all.params["beta"],
            "pure_alpha": pure_all.params["alpha"],
            "sat_E": sat_all.params["E"],
            "sat_A": sat_all.params["A"],
            "sat_alpha": sat_all.params["alpha"],
            "sat_floor_at_zero": bool(sat_all.params["E"] <= 1e-12),
            "cutoff_compute": cut,
            "n_train": len(train),
            "n_test": len(test),
        }
        if len(train) >= 3:
            pure = fit_power_law(train["compute"], train["metric"], warn=False)
            sat = fit("saturating", train["compute"], train["metric"], warn=False)
            r_pure, r_sat = _rmsle(pure, x_test, y_test), _rmsle(sat, x_test, y_test)
        else:
            r_pure = r_sat = np.nan
    out["rmsle_pure"] = r_pure
    out["rmsle_saturating"] = r_sat
    if not (np.isfinite(r_pure) and np.isfinite(r_sat)):
        out["better"] = "n/a"
    elif abs(r_pure - r_sat) <= 1e-6 * max(r_pure, r_sat, 1e-12):
        out["better"] = "tie"
    else:
        out["better"] = "saturating" if r_sat < r_pure else "pure"
    return out


def beyond_paper(
    df: pd.DataFrame | None = None,
    curves: pd.DataFrame | None = None,
    *,
    tasks: Iterable[str] | None = None,
    n_bins: int = 5,
    curve_bins: Sequence[int] = _CURVE_BINS,
) -> pd.DataFrame:
    """Does a saturating law ``E = E0 + A * C**(-alpha)`` beat the pure one on larger runs?

    For every task, the OpenCLIP runs; and for ImageNet, every epoch of every OpenCLIP learning
    curve (:func:`clipscale.datasets.load_openclip_learning_curves`) as one pool of points.

    1. Fit the pure law (OLS in log-log space) and the saturating law
       (``clipscale.fit("saturating", ...)``, loss ``log_ls``) to the whole ``bins`` frontier.
    2. Held-out test: fit both to the frontier *without* its largest-compute bin, then predict
       the held-out points: those at or above that bin's lower edge that lie on the Pareto
       frontier of all points (when none does, the best point of the bin), at their own
       compute. Score each law by RMSLE, ``sqrt(mean((log yhat - log y)**2))``.

    Learning-curve frontiers are computed with several bin counts (``curve_bins``), since the
    answer depends on it.

    Parameters
    ----------
    df : pandas.DataFrame, optional
        Runs as returned by :func:`clipscale.datasets.load_openclip` (the default).
    curves : pandas.DataFrame, optional
        Learning curves as returned by :func:`clipscale.datasets.load_openclip_learning_curves`
        (the default).
    tasks : iterable of str, optional
        Tasks of the final runs; default every classification and retrieval task.
    n_bins : int, default 5
        Frontier bins for the final runs (the paper's 5).
    curve_bins : sequence of int, default (5, 10, 20)
        Frontier bin counts for the learning curves; empty to skip them.

    Returns
    -------
    pandas.DataFrame
        One row per (task, source, n_bins) with columns ``task``, ``source`` (``"runs"`` or
        ``"learning_curves"``), ``n_points``, ``n_bins``, ``n_frontier``, ``pure_beta``,
        ``pure_alpha``, ``sat_E``, ``sat_A``, ``sat_alpha`` (whole-frontier fits),
        ``sat_floor_at_zero`` (the saturating fit put its floor at 0, i.e. it *is* the pure
        law), ``cutoff_compute``, ``n_train``, ``n_test``, ``rmsle_pure``,
        ``rmsle_saturating`` and ``better`` (``"saturating"``, ``"pure"`` or ``"tie"``).
    """
    runs = runs_table(df)
    rows = []
    for task in all_tasks(runs) if tasks is None else list(tasks):
        points = select_runs(runs, task, "openclip")
        if len(points) >= 4:
            rows.append({"task": task, "source": "runs", **_compare(points, n_bins)})
    if curve_bins:
        lc = datasets.load_openclip_learning_curves() if curves is None else curves
        lc = lc.dropna(subset=["compute", "metric"])
        for bins in curve_bins:
            rows.append(
                {"task": "imagenet1k", "source": "learning_curves", **_compare(lc, int(bins))}
            )
    return pd.DataFrame(rows)


def format_fits(fits: pd.DataFrame, *, paper_only: bool = True) -> str:
    """A plain-text table of fitted ``(beta, alpha)`` beside the published values.

    Parameters
    ----------
    fits : pandas.DataFrame
        Output of :func:`paper_fits`.
    paper_only : bool, default True
        Only the rows the paper reports.
    """
    rows = fits[fits["in_paper"]] if paper_only else fits
    ci = "alpha_low" in rows
    head = (
        f"{'task':<22} {'family':<9} {'beta':>10} {'paper':>10} "
        f"{'alpha':>10} {'paper':>10} {'d alpha':>9}" + (f" {'95% CI of alpha':>20}" if ci else "")
    )
    lines = [head, "-" * len(head)]
    for r in rows.itertuples():
        line = (
            f"{r.task:<22} {r.family:<9} {r.beta:>10.4f} {r.published_beta:>10.4f} "
            f"{r.alpha:>10.5f} {r.published_alpha:>10.5f} {r.alpha - r.published_alpha:>9.1e}"
        )
        if ci:
            line += f"  [{r.alpha_low:>8.4f}, {r.alpha_high:>8.4f}]"
        lines.append(line)
    return "\n".join(lines)
