"""Render the figures of the documentation into docs/img/ (committed; rerun after a change).

    python scripts/build_doc_figures.py [--out docs/img] [NAME ...]

Every figure is drawn by clipscale.plotting from fixed synthetic data (seeded noise) or from the
bundled OpenCLIP runs, so reruns give the same pictures.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from clipscale import fit, forms, frontier  # noqa: E402
from clipscale.cli import main as cli_main  # noqa: E402
from clipscale.datasets import load_openclip  # noqa: E402
from clipscale.plotting import (  # noqa: E402
    plot_compare,
    plot_fit,
    plot_frontier,
    plot_isoloss,
    plot_residuals,
)

ROOT = Path(__file__).resolve().parents[1]
DPI = 110


def _noisy(y: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    return y * np.exp(np.random.default_rng(seed).normal(0.0, sigma, y.size))


# name -> (x, true parameters, noise, extrapolate_to, symbols)
_FORMS: dict[str, tuple[np.ndarray, dict[str, float], float, float, tuple[str, str]]] = {
    "power": (np.geomspace(1e9, 1e12, 14), {"beta": 6.0, "alpha": -0.11}, 0.02, 1e14, ("C", "E")),
    "saturating": (
        np.geomspace(1e9, 1e13, 16),
        {"E": 0.2, "A": 30.0, "alpha": 0.2},
        0.015,
        1e15,
        ("C", "E"),
    ),
    "shifted": (
        np.geomspace(1e5, 1e10, 18),
        {"E": 0.08, "A": 60.0, "s": 3e6, "alpha": 0.35},
        0.015,
        1e12,
        ("D", "L"),
    ),
    "broken": (
        np.geomspace(1e6, 1e12, 30),
        {"a": 0.05, "b": 3.0, "c0": 0.05, "c1": 0.35, "d1": 1e9, "f1": 0.3},
        0.01,
        1e14,
        ("x", "y"),
    ),
}


def form_figure(name: str, path: Path) -> None:
    """One form: synthetic data around a known law, the fit, its extrapolation, the truth."""
    x, true, sigma, beyond, symbols = _FORMS[name]
    form = forms.get(name)
    y = _noisy(form.predict(true, x), sigma, seed=len(name))
    result = fit(name, x, y, warn=False)
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    grid = np.geomspace(x.min(), beyond, 300)
    ax.plot(grid, form.predict(true, grid), color="0.55", ls=":", lw=1.5, label="true law")
    plot_fit(result, ax=ax, extrapolate_to=beyond, symbols=symbols, data_label="synthetic data")
    ax.set_xlabel(symbols[0])
    ax.set_ylabel(symbols[1])
    ax.set_title(f'fit("{name}", x, y) on synthetic data', fontsize="medium")
    fig.savefig(path, dpi=DPI)


def frontier_figure(path: Path) -> None:
    """The three frontier recipes on the OpenCLIP ImageNet runs.

    The panels are stacked, one above the other, at the width of the other figures: side by
    side they shrink to unreadable text in the docs' column.
    """
    df = load_openclip()
    runs = df[(df.family == "openclip") & (df.task == "imagenet1k")]
    fig = Figure(figsize=(6.4, 10.5), layout="constrained")
    panels = fig.subplots(3, 1, sharex=True, sharey=True)
    for ax, method in zip(panels, ("bins", "pareto", "hull"), strict=True):
        plot_frontier(runs, method=method, ax=ax)
        best = frontier(runs, method=method)
        result = fit("power", best["compute"], best["metric"], warn=False)
        plot_fit(result, ax=ax, show_data=False, color="tab:red", symbols=("C", "E"))
        ax.set_title(f'method="{method}": {len(best)} points', fontsize="large")
        ax.set_xlabel("")
        ax.set_ylabel("ImageNet zero-shot error")
        ax.legend(loc="upper right", fontsize="medium")
    panels[-1].set_xlabel("compute (GMACs)")
    fig.savefig(path, dpi=DPI)


def _two_laws():
    """Synthetic runs of a saturating law over three decades; both laws fitted to them."""
    x = np.geomspace(1e9, 1e12, 14)
    truth = {"E": 0.2, "A": 30.0, "alpha": 0.2}
    y = _noisy(forms.get("saturating").predict(truth, x), 0.01, seed=3)
    return truth, fit("power", x, y, warn=False), fit("saturating", x, y, warn=False)


def extrapolation_figure(path: Path) -> None:
    """Pure and saturating laws fitted to the same runs, extrapolated 1000x."""
    truth, pure, sat = _two_laws()
    fig = Figure(figsize=(6.4, 4.4), layout="constrained")
    ax = fig.subplots()
    grid = np.geomspace(1e9, 1e15, 300)
    ax.plot(grid, forms.get("saturating").predict(truth, grid), ":", color="0.5", label="truth")
    plot_compare({"pure power": pure, "saturating": sat}, ax=ax, extrapolate_to=1e15)
    ax.set_xlabel("compute C")
    ax.set_ylabel("error E")
    ax.set_title("two laws fitted to the same runs, extrapolated", fontsize="medium")
    fig.savefig(path, dpi=DPI)


def residuals_figure(path: Path) -> None:
    """Residuals of the two laws of the extrapolation figure: the pure law's are curved."""
    _, pure, sat = _two_laws()
    fig = Figure(figsize=(6.4, 3.0), layout="constrained")
    ax = fig.subplots()
    plot_residuals(pure, ax=ax, label="pure power", color="C0")
    plot_residuals(sat, ax=ax, label="saturating", color="C1")
    ax.set_xlabel("compute C")
    fig.savefig(path, dpi=DPI)


def isoloss_figure(path: Path) -> None:
    """Iso-loss contours of a Chinchilla law fitted to synthetic runs."""
    rng = np.random.default_rng(0)
    n, d = 10 ** rng.uniform(7, 9.5, 40), 10 ** rng.uniform(9, 11.5, 40)
    loss = _noisy(1.7 + 400.0 / n**0.34 + 410.0 / d**0.28, 0.01, seed=1)
    result = fit("chinchilla", {"params": n, "samples": d}, loss, warn=False)
    fig = Figure(figsize=(6.4, 5.0), layout="constrained")
    plot_isoloss(result, ax=fig.subplots())
    fig.savefig(path, dpi=DPI)


def cli_figure(path: Path) -> None:
    """The fit.png that `clipscale fit` writes for examples/runs.csv."""
    with tempfile.TemporaryDirectory() as tmp:
        args = ["fit", str(ROOT / "examples" / "runs.csv"), "--x", "compute", "--y", "error"]
        args += ["--frontier", "pareto", "--extrapolate-to", "1e13", "--out", tmp, "-q"]
        if cli_main(args) != 0:
            raise SystemExit("clipscale fit failed on examples/runs.csv")
        path.write_bytes((Path(tmp) / "fit.png").read_bytes())


FIGURES: dict[str, Callable[[Path], None]] = {
    **{f"form_{name}.png": (lambda p, name=name: form_figure(name, p)) for name in _FORMS},
    "frontier_methods.png": frontier_figure,
    "extrapolation.png": extrapolation_figure,
    "residuals.png": residuals_figure,
    "isoloss.png": isoloss_figure,
    "cli_fit.png": cli_figure,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"figures to draw (default: all): {list(FIGURES)}"
    )
    args = parser.parse_args()
    unknown = sorted(set(args.names) - set(FIGURES))
    if unknown:
        parser.error(f"unknown figure(s) {unknown}; choose from {list(FIGURES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    for name, draw in FIGURES.items():
        if not args.names or name in args.names:
            draw(args.out / name)
            print(args.out / name)


if __name__ == "__main__":
    main()
