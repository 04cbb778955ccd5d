"""Figures: what plot_fit and plot_frontier draw (rendered with Agg, inspected, not just run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import clipscale  # noqa: E402
from clipscale import DataError, fit, fit_power_law, frontier  # noqa: E402
from clipscale.plotting import equation, plot_fit, plot_frontier, plot_predictions  # noqa: E402


@pytest.fixture
def ax():
    fig = Figure()
    yield fig.subplots()


def _power_result():
    x = np.geomspace(1e9, 1e12, 8)
    y = 5.0 * x**-0.1 * np.exp(0.01 * np.sin(np.arange(8)))
    return fit_power_law(x, y)


def _legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _render(ax) -> None:
    FigureCanvasAgg(ax.figure).draw()


def test_plot_fit_draws_points_curve_and_equation(ax) -> None:
    result = _power_result()
    out = plot_fit(result, ax=ax, label="law")
    assert out is ax
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert len(ax.lines) == 1
    assert len(ax.collections) == 1
    assert isinstance(ax.collections[0], PathCollection)
    np.testing.assert_allclose(ax.collections[0].get_offsets()[:, 0], result.x)
    line = ax.lines[0]
    xs, ys = line.get_data()
    assert xs.min() == pytest.approx(result.x.min()) and xs.max() == pytest.approx(result.x.max())
    np.testing.assert_allclose(ys, result.predict(xs))
    texts = _legend_texts(ax)
    beta, alpha = result.params["beta"], result.params["alpha"]
    assert texts[0].startswith("law: $E = ")
    assert f"{beta:.5g}" in texts[0] and f"{alpha:.5g}" in texts[0]
    assert texts[1] == "law data"
    assert not ax.patches  # no extrapolation, no shading
    _render(ax)


def test_plot_fit_extrapolation_is_dashed_and_shaded(ax) -> None:
    result = _power_result()
    plot_fit(result, ax=ax, extrapolate_to=1e14, show_data=False)
    assert not ax.collections
    assert len(ax.lines) == 2
    solid, dashed = ax.lines
    assert solid.get_linestyle() == "-" and dashed.get_linestyle() == "--"
    assert dashed.get_xdata().max() == pytest.approx(1e14)
    assert dashed.get_xdata().min() == pytest.approx(result.x.max())
    assert solid.get_color() == dashed.get_color()
    assert len(ax.patches) == 1  # the shaded span beyond the data
    x0, x1 = ax.patches[0].get_x(), ax.patches[0].get_x() + ax.patches[0].get_width()
    assert (x0, x1) == pytest.approx((result.x.max(), 1e14))
    assert "beyond the data" in _legend_texts(ax)
    _render(ax)


def test_plot_fit_extrapolation_both_sides(ax) -> None:
    result = _power_result()
    plot_fit(result, ax=ax, extrapolate_to=(1e7, 1e13))
    assert len(ax.lines) == 3 and len(ax.patches) == 2
    assert _legend_texts(ax).count("beyond the data") == 1
    # inside the data's range nothing is extrapolated
    fig = Figure()
    other = fig.subplots()
    plot_fit(result, ax=other, extrapolate_to=1e10)
    assert len(other.lines) == 1 and not other.patches


def test_plot_fit_saturating_equation(ax) -> None:
    x = np.geomspace(1e9, 1e13, 12)
    y = 0.15 + 40.0 * x**-0.2
    result = fit("saturating", x, y)
    plot_fit(result, ax=ax, color="tab:green", symbols=("D", "L"))
    text = _legend_texts(ax)[0]
    assert text.startswith("$L = 0.15") and "D^{-0.2" in text
    assert ax.lines[0].get_color() == "tab:green"
    assert equation(result, digits=2) == "$E = 0.15 + 40\\,C^{-0.2}$"


def test_equation_large_numbers() -> None:
    result = fit_power_law([1.0, 10.0, 100.0], [2e8, 2e7, 2e6])
    assert equation(result) == "$E = 2\\times10^{8}\\,C^{-1}$"


def test_plot_fit_bad_arguments(ax) -> None:
    with pytest.raises(DataError, match="extrapolate_to"):
        plot_fit(_power_result(), ax=ax, extrapolate_to=-1.0)
    with pytest.raises(DataError, match="extrapolate_to"):
        plot_fit(_power_result(), ax=ax, extrapolate_to=[1.0, 2.0, 3.0])
    assert not ax.lines  # validated before drawing


def test_plot_fit_defaults_to_current_axes() -> None:
    fig = plt.figure()
    try:
        out = plot_fit(_power_result())
        assert out is fig.gca()
        assert _legend_texts(out)[0].startswith("$E = ")
    finally:
        plt.close(fig)


def _runs() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    compute = 10 ** rng.uniform(10, 13, 30)
    metric = 6 * compute**-0.11 * np.exp(rng.uniform(0, 0.3, 30))
    group = np.array(["a", "b", "c"])[np.arange(30) % 3]
    return pd.DataFrame({"compute": compute, "metric": metric, "data": group})


def test_plot_frontier_bins(ax) -> None:
    runs = _runs()
    out = plot_frontier(runs, color_by="data", ax=ax)
    assert out is ax
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(scatters) == 4  # three groups, the frontier
    assert sum(len(c.get_offsets()) for c in scatters[:3]) == 30
    marked = scatters[3].get_offsets()
    assert len(marked) == 5  # five bins, each drawn at its centre
    texts = _legend_texts(ax)
    assert texts == ["a", "b", "c", "frontier (bins)"]
    assert ax.get_xlabel() == "compute" and ax.get_ylabel() == "metric"
    _render(ax)


@pytest.mark.parametrize("method", ["pareto", "hull"])
def test_plot_frontier_envelopes(ax, method: str) -> None:
    runs = _runs()
    plot_frontier(runs, method=method, ax=ax)
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(scatters) == 2
    expected = frontier(runs, method=method)
    np.testing.assert_allclose(scatters[1].get_offsets()[:, 0], expected["compute"])
    assert len(ax.lines) == 1  # the envelope joined by a line
    assert _legend_texts(ax) == ["runs", f"frontier ({method})"]


def test_plot_frontier_bad_column(ax) -> None:
    with pytest.raises(DataError, match="color_by"):
        plot_frontier(_runs(), color_by="nope", ax=ax)


def test_frontier_and_fit_compose(ax) -> None:
    runs = _runs()
    best = frontier(runs)
    plot_frontier(runs, color_by="data", ax=ax)
    plot_fit(fit_power_law(best["compute"], best["metric"]), ax=ax, label="fit", show_data=False)
    texts = _legend_texts(ax)
    assert texts[:4] == ["a", "b", "c", "frontier (bins)"]
    assert texts[4].startswith("fit: $E = ")


def test_minor_tick_labels_for_narrow_ranges(ax) -> None:
    plot_fit(_power_result(), ax=ax)
    _render(ax)
    labels = [t.get_text() for t in ax.yaxis.get_ticklabels(minor=True) if t.get_text()]
    assert labels  # less than a decade of error: the 2..9 x 10^k ticks are labelled
    assert all("e" not in s for s in labels)


def test_matplotlib_is_imported_lazily() -> None:
    code = (
        "import sys, clipscale.plotting, clipscale.reproduce, clipscale.cli; "
        "print('matplotlib' in sys.modules)"
    )
    src = str(Path(clipscale.__file__).resolve().parents[1])
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": src, "PATH": ""},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_plot_predictions(ax) -> None:
    result = _power_result()
    pred = pd.DataFrame(
        {
            "compute": [1e10, 1e11, 1e13, 1e14],
            "predicted": 100 * (1 - result.predict(np.array([1e10, 1e11, 1e13, 1e14]))),
            "observed": [60.0, np.nan, np.nan, np.nan],
            "arch": ["ViT-B-32", "ViT-B-32", "ViT-G-14", "ViT-G-14"],
        }
    )
    out = plot_predictions(result, pred, ax=ax, label="law")
    assert out is ax
    # the law: solid over the data, dashed to 1e14 (the data ends at 1e12), one shaded span
    assert [line.get_linestyle() for line in ax.lines] == ["-", "--"]
    assert len(ax.patches) == 1
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    # one X per arch, one open circle for the observed run, one legend proxy
    assert [len(c.get_offsets()) for c in scatters] == [2, 1, 2, 0]
    np.testing.assert_allclose(scatters[1].get_offsets()[0], [1e10, 0.4])
    texts = _legend_texts(ax)
    assert texts[0].startswith("law: $E = ")
    assert {"B/32", "G/14", "best run", "beyond the data"} <= set(texts)
    with pytest.raises(DataError, match="observed"):
        plot_predictions(result, pred.drop(columns="observed"), ax=ax)
