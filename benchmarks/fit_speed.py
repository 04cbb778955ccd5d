"""How fast is ``clipscale.fit`` next to the usual ways of fitting a saturating power law?

Data: 50 points of ``y = E + A x**-alpha`` over 1e18 ... 1e23 FLOPs with 2% log-normal noise
(fixed seed). For each loss ("ls", then "log_ls") three methods are timed, each the median of
``--repeats`` runs after one warm-up:

* ``clipscale.fit("saturating", x, y, loss=...)``, no starting values;
* ``scipy.optimize.curve_fit`` from a good start (the true parameters, 10% off);
  for "log_ls" it fits ``log y`` with the log of the model;
* 200 random starts of ``scipy.optimize.least_squares`` run one after another (the usual
  multi-start), keeping the best.

The objective each reached (sum of squared residuals on the loss's scale) is computed here
from the returned parameters ("vs clipscale": its relative excess over clipscale's).
Run: ``PYTHONPATH=src python benchmarks/fit_speed.py`` (about 3 minutes, nearly all of it the
200-start method; ``--multistart-repeats 3`` for a quick look).
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Callable

import numpy as np
from scipy.optimize import curve_fit, least_squares

import clipscale

TRUE = {"E": 1.7, "A": 1.0e3, "alpha": 0.15}  # reducible part ~2.0 at 1e18, ~0.4 at 1e23
N_POINTS, N_STARTS, TARGET_MS = 50, 200, 5.0


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e18, 1e23, N_POINTS)
    y = (TRUE["E"] + TRUE["A"] * x ** -TRUE["alpha"]) * np.exp(0.02 * rng.standard_normal(x.size))
    return x, y


def model(x: np.ndarray, E: float, A: float, alpha: float) -> np.ndarray:
    return E + A * x**-alpha


def log_model(x: np.ndarray, E: float, A: float, alpha: float) -> np.ndarray:
    with np.errstate(all="ignore"):
        return np.log(E + A * x**-alpha)


def objective(loss: str, x: np.ndarray, y: np.ndarray, q: np.ndarray) -> float:
    """Sum of squared residuals on the loss's scale (inf where the model is not positive)."""
    r = y - model(x, *q) if loss == "ls" else np.log(y) - log_model(x, *q)
    value = float(np.sum(r**2))
    return value if np.isfinite(value) else np.inf


def with_clipscale(loss: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    result = clipscale.fit("saturating", x, y, loss=loss, warn=False)
    return np.array([result.params[p] for p in ("E", "A", "alpha")])


def with_curve_fit(loss: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    p0 = 1.1 * np.array([TRUE["E"], TRUE["A"], TRUE["alpha"]])
    f, target = (model, y) if loss == "ls" else (log_model, np.log(y))
    return curve_fit(f, x, target, p0=p0, maxfev=10000)[0]


def with_multistart(loss: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(1)
    target = y if loss == "ls" else np.log(y)
    f = model if loss == "ls" else log_model

    def residuals(q: np.ndarray) -> np.ndarray:
        r = target - f(x, *q)
        return np.where(np.isfinite(r), r, 1e10)

    best, best_q = np.inf, None
    for _ in range(N_STARTS):
        alpha = 10 ** rng.uniform(-2, 0.3)
        start = [rng.uniform(0, y.max()), np.median(y) * 10 ** rng.uniform(-2, 2) * x[0] ** alpha]
        sol = least_squares(residuals, [*start, alpha], bounds=(0, np.inf))
        value = objective(loss, x, y, sol.x)
        if value < best:
            best, best_q = value, sol.x
    return best_q


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def compare(loss: str, repeats: int, multistart_repeats: int) -> bool:
    x, y = make_data()
    methods = [
        ("clipscale.fit", with_clipscale, repeats),
        ("curve_fit, good start", with_curve_fit, repeats),
        (f"least_squares x{N_STARTS} starts", with_multistart, multistart_repeats),
    ]
    rows = []
    for label, fn, n in methods:
        q = fn(loss, x, y)
        rows.append((label, median_ms(lambda fn=fn: fn(loss, x, y), n), objective(loss, x, y, q)))
    base = rows[0][1]
    print(f"\nloss = {loss!r}  ({N_POINTS} points, 1e18-1e23 FLOPs, 2% log-normal noise)")
    print(
        f"{'method':<28} {'median ms':>10} {'objective (SSR)':>18} {'vs clipscale':>13}"
        f" {'time / clipscale':>17}"
    )
    for label, ms, value in rows:
        rel = (value - rows[0][2]) / rows[0][2]
        print(f"{label:<28} {ms:>10.2f} {value:>18.10e} {rel:>+13.1e} {ms / base:>17.3g}")
    ok = rows[0][2] <= rows[2][2] * (1 + 1e-9)
    print(f"clipscale objective <= multi-start best: {ok}")
    print(f"clipscale median {base:.2f} ms (target < {TARGET_MS} ms): {base < TARGET_MS}")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per method")
    parser.add_argument(
        "--multistart-repeats", type=int, default=30, help="timed runs of the 200-start method"
    )
    args = parser.parse_args()
    print(f"clipscale {clipscale.__version__}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ok = [compare(loss, args.repeats, args.multistart_repeats) for loss in ("ls", "log_ls")]
    if not all(ok):
        raise SystemExit("clipscale did not reach the multi-start optimum")


if __name__ == "__main__":
    main()
