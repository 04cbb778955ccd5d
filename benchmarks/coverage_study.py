"""Coverage of clipscale's bootstrap intervals, measured by simulation.

For every setting (form x number of points n x resampling method) the script simulates many
experiments with random true parameters, fits each with ``loss="log_ls"``, bootstraps it, and
counts how often each interval type's nominal-95% interval for ``alpha`` contains the truth.
A calibrated interval covers 95%; with E experiments the binomial standard error is
``sqrt(0.95 * 0.05 / E)`` (1.1 percentage points at E = 400).

Simulation design (also used by ``tests/test_coverage.py``):

* inputs ``x``: n points log-spaced over three decades, 1e7 ... 1e10;
* saturating law ``y = E + A x**-alpha``: ``alpha ~ U(0.2, 0.6)``, ``E ~ U(0.05, 0.4)``, and
  ``A`` such that the reducible part at the smallest x is ``U(1, 5)`` times ``E``;
* pure power law ``y = beta x**alpha``: ``alpha ~ -U(0.05, 0.5)``, ``beta`` such that
  ``y(1e7) ~ U(0.3, 1)``;
* log-normal noise ``y * exp(sigma * N(0, 1))`` with ``sigma ~ U(0.01, 0.05)`` per experiment.

``cluster`` resamples pairs of neighbouring points (groups of 2); the simulated noise is
independent, so it is here only to show what resampling fewer units costs.

Run from the repository root (about 7 minutes for the default table on 2 cores)::

    PYTHONPATH=src python benchmarks/coverage_study.py
    PYTHONPATH=src python benchmarks/coverage_study.py --experiments 100 --methods pairs
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

import clipscale as cs
from clipscale._uncertainty.intervals import INTERVALS
from clipscale.bootstrap import DEFAULT_INTERVALS, METHODS

LEVEL = 0.95


def simulate(form: str, n: int, rng: np.random.Generator):
    """One simulated data set: (x, y, true parameters)."""
    x = np.geomspace(1e7, 1e10, n)
    if form == "saturating":
        alpha, floor = rng.uniform(0.2, 0.6), rng.uniform(0.05, 0.4)
        truth = {"E": floor, "A": rng.uniform(1, 5) * floor * 1e7**alpha, "alpha": alpha}
    else:
        alpha = -rng.uniform(0.05, 0.5)
        truth = {"beta": rng.uniform(0.3, 1.0) * 1e7 ** (-alpha), "alpha": alpha}
    sigma = rng.uniform(0.01, 0.05)
    y = cs.forms.get(form).predict(truth, x) * np.exp(sigma * rng.standard_normal(n))
    return x, y, truth


def experiment(form: str, n: int, method: str, seed: int, n_resamples: int) -> dict:
    """Fit and bootstrap one simulated data set; which intervals covered the true alpha."""
    rng = np.random.default_rng(seed)
    x, y, truth = simulate(form, n, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = cs.fit(form, x, y, loss="log_ls", warn=False)
        groups = np.arange(n) // 2 if method == "cluster" else None
        boot = fit.bootstrap(n_resamples, method=method, groups=groups, rng=rng, progress=False)
    row = {"form": form, "n": n, "method": method, "failed": boot.n_failed}
    for kind in INTERVALS:
        lo, hi = boot.confidence_interval("alpha", LEVEL, interval=kind)
        row[kind] = bool(lo <= truth["alpha"] <= hi)
        row[f"{kind}_width"] = hi - lo
    return row


def study(forms, sizes, methods, n_experiments, n_resamples, seed, jobs) -> pd.DataFrame:
    tasks = [
        (form, n, method, seed + 100_000 * i + e)
        for i, (form, n, method) in enumerate(
            (f, n, m) for f in forms for n in sizes for m in methods
        )
        for e in range(n_experiments)
    ]
    rows = Parallel(n_jobs=jobs, batch_size=16)(
        delayed(experiment)(f, n, m, s, n_resamples) for f, n, m, s in tasks
    )
    return pd.DataFrame(rows)


def coverage_table(raw: pd.DataFrame) -> pd.DataFrame:
    keys = ["form", "n", "method"]
    cov = raw.groupby(keys, sort=False)[list(INTERVALS)].mean() * 100
    cov["failed resamples"] = raw.groupby(keys, sort=False)["failed"].sum()
    cov["experiments"] = raw.groupby(keys, sort=False).size()
    return cov


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=400)
    ap.add_argument("--resamples", type=int, default=1000)
    ap.add_argument("--forms", nargs="+", default=["saturating", "power"])
    ap.add_argument("--n", nargs="+", type=int, default=[10, 20, 50])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--csv", help="also write the per-experiment rows to this file")
    args = ap.parse_args()
    start = time.perf_counter()
    raw = study(
        args.forms, args.n, args.methods, args.experiments, args.resamples, args.seed, args.jobs
    )
    if args.csv:
        raw.to_csv(args.csv, index=False)
    table = coverage_table(raw)
    se = 100 * np.sqrt(LEVEL * (1 - LEVEL) / args.experiments)
    print(
        f"coverage (%) of nominal {LEVEL:.0%} intervals for alpha; {args.experiments} "
        f"experiments per row (binomial SE {se:.1f} pp), {args.resamples} resamples each; "
        f"default intervals: {DEFAULT_INTERVALS}"
    )
    print(table.to_markdown(floatfmt=".1f") if _has_tabulate() else table.round(1).to_string())
    widths = raw.groupby(["form", "n", "method"], sort=False)[
        [f"{k}_width" for k in INTERVALS]
    ].median()
    print("\nmedian interval width for alpha")
    print(widths.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"\n{time.perf_counter() - start:.0f} s")


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
