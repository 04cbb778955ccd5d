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
from clipscale.plotting import (  # noqa: E402
    compute_optimal_path,
    equation,
    plot_compare,
    plot_corner,
    plot_fit,
    plot_frontier,
    plot_isoloss,
    plot_predictions,
    plot_residuals,
)


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


# --------------------------------------------------------------------------- residuals
def _saturating_result(**kwargs):
    x = np.geomspace(1e9, 1e13, 12)
    y = (0.15 + 40.0 * x**-0.2) * np.exp(0.02 * np.sin(np.arange(12)))
    return fit("saturating", x, y, **kwargs)


def test_plot_residuals_log_scale(ax) -> None:
    result = _saturating_result()
    out = plot_residuals(result, ax=ax, label="sat")
    assert out is ax
    assert ax.get_xscale() == "log" and ax.get_yscale() == "linear"
    (points,) = ax.collections
    xy = points.get_offsets()
    np.testing.assert_allclose(xy[:, 0], result.x)
    np.testing.assert_allclose(xy[:, 1], np.log(result.y) - np.log(result.fitted))
    (zero,) = ax.lines
    assert list(zero.get_ydata()) == [0.0, 0.0]
    low, high = ax.get_ylim()
    assert low == pytest.approx(-high) and high >= np.abs(xy[:, 1]).max()
    assert ax.get_ylabel() == "residual, log y - log ŷ"
    assert ax.get_xlabel() == "x"
    assert _legend_texts(ax) == ["sat"]
    _render(ax)


def test_plot_residuals_ls_and_left_out_points(ax) -> None:
    x = np.geomspace(1.0, 100.0, 8)
    y = 3.0 * x**-0.5 + 0.01 * np.cos(np.arange(8))
    w = np.ones(8)
    w[-1] = 0.0
    result = fit("power", x, y, loss="ls", weights=w)
    plot_residuals(result, ax=ax)
    used, left_out = ax.collections
    np.testing.assert_allclose(used.get_offsets()[:, 1], (y - result.fitted)[:7])
    assert len(left_out.get_offsets()) == 1
    assert left_out.get_facecolor().size == 0 or left_out.get_facecolor()[0][3] == 0
    assert ax.get_ylabel() == "residual, y - ŷ"
    assert _legend_texts(ax) == ["weight 0"]


# --------------------------------------------------------------------------- compare
def test_plot_compare_forms_on_one_axes(ax) -> None:
    result = _saturating_result()
    power = fit_power_law(result.x, result.y)
    out = plot_compare({"pure": power, "sat": result}, ax=ax, extrapolate_to=1e15)
    assert out is ax
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert len(ax.collections) == 1  # the shared data, scattered once
    assert len(ax.collections[0].get_offsets()) == 12
    styles = [line.get_linestyle() for line in ax.lines]
    assert styles == ["-", "--", "-", "--"]
    assert ax.lines[0].get_linewidth() > ax.lines[2].get_linewidth()
    np.testing.assert_allclose(ax.lines[3].get_ydata(), result.predict(ax.lines[3].get_xdata()))
    texts = _legend_texts(ax)
    assert texts[0] == "data"
    assert texts[1] == f"pure: log_ls = {power.loss_value:.3g}, 2 params"
    assert texts[2].startswith("sat: log_ls = ") and texts[2].endswith("3 params")
    assert texts[3] == "beyond the data"
    _render(ax)


def test_plot_compare_two_data_sets_and_errors(ax) -> None:
    a = _power_result()
    b = fit_power_law(a.x * 10, a.y)
    plot_compare([a, b], ax=ax)
    assert len(ax.collections) == 2
    assert _legend_texts(ax)[:2] == ["data 1", "data 2"]
    assert _legend_texts(ax)[2].startswith("power: ")
    with pytest.raises(DataError, match="labels"):
        plot_compare([a, b], labels=["one"], ax=ax)
    with pytest.raises(DataError, match="at least one"):
        plot_compare([], ax=ax)


# --------------------------------------------------------------------------- bootstrap-like
class _FakeBootstrap:
    """Stands for a BootstrapResult: a point fit, draws, and predict_interval."""

    def __init__(self, result, n: int = 400, kind: str = "frame") -> None:
        self.result = result
        rng = np.random.default_rng(3)
        free = list(result.free_params)
        mean = [result.params[p] for p in free]
        cov = result.covariance.to_numpy()
        self.draws = pd.DataFrame(rng.multivariate_normal(mean, cov, n), columns=free)
        self.draws["converged"] = True
        self.kind = kind
        self.calls: list[tuple[np.ndarray, float]] = []

    def predict_interval(self, x, confidence_level=0.95):
        x = np.asarray(x, dtype=float)
        self.calls.append((x, confidence_level))
        mid = self.result.predict(x)
        low, high = 0.9 * mid, 1.1 * mid
        if self.kind == "frame":
            return pd.DataFrame({"estimate": mid, "lower": low, "upper": high})
        return low, high


@pytest.mark.parametrize("kind", ["frame", "pair"])
def test_plot_fit_bootstrap_band(ax, kind: str) -> None:
    from matplotlib.collections import PolyCollection

    boot = _FakeBootstrap(_saturating_result(), kind=kind)
    plot_fit(boot, ax=ax, extrapolate_to=1e15, confidence_level=0.9)
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1
    (x_band, level) = boot.calls[0]
    assert level == 0.9
    assert x_band.min() == pytest.approx(1e9) and x_band.max() == pytest.approx(1e15)
    assert np.all(np.diff(x_band) > 0)
    assert "90% interval" in _legend_texts(ax)
    # the curve and the points are the point fit's
    np.testing.assert_allclose(
        ax.lines[0].get_ydata(), boot.result.predict(ax.lines[0].get_xdata())
    )
    vertices = bands[0].get_paths()[0].vertices
    assert vertices[:, 1].max() == pytest.approx(1.1 * boot.result.predict(1e9), rel=1e-9)
    _render(ax)


def test_plot_fit_band_off(ax) -> None:
    boot = _FakeBootstrap(_saturating_result())
    plot_fit(boot, ax=ax, band=False)
    assert not boot.calls and len(ax.collections) == 1  # the points only


def test_plot_fit_rejects_other_objects(ax) -> None:
    with pytest.raises(DataError, match="FitResult"):
        plot_fit(object(), ax=ax)


def test_plot_corner(ax) -> None:
    result = _saturating_result()
    boot = _FakeBootstrap(result, n=500)
    fig = Figure(figsize=(6, 6))
    axes = plot_corner(boot, ax=fig, bins=20, max_points=300)
    assert axes.shape == (3, 3)
    assert [a.get_visible() for a in axes.ravel()] == [
        True, False, False, True, True, False, True, True, True
    ]  # fmt: skip
    for i in range(3):
        assert len(axes[i, i].patches) == 20  # histogram bars
        assert sum(p.get_height() for p in axes[i, i].patches) == 500
    scatter = axes[2, 0].collections[0]
    assert len(scatter.get_offsets()) == 300
    # columns x: E, A, alpha; rows y: the same
    np.testing.assert_allclose(
        scatter.get_offsets()[:, 0].mean(), boot.draws["E"].mean(), rtol=0.05
    )
    assert [a.get_xlabel() for a in axes[2]] == ["E", "A", "alpha"]
    assert [axes[i, 0].get_ylabel() for i in range(3)] == ["", "A", "alpha"]
    # the point estimate: a vertical line on each panel, crossing lines below the diagonal
    assert axes[1, 1].lines[0].get_xdata()[0] == pytest.approx(result.params["A"])
    assert len(axes[2, 1].lines) == 3
    FigureCanvasAgg(fig).draw()


def test_plot_corner_without_point_fit_and_errors() -> None:
    class Draws:
        draws = pd.DataFrame(
            {"a": np.arange(10.0), "b": np.arange(10.0) ** 2, "tag": list("x" * 10)}
        )

    fig = Figure()
    axes = plot_corner(Draws(), ax=fig)
    assert axes.shape == (2, 2)  # numeric columns only
    assert not axes[1, 0].lines
    with pytest.raises(DataError, match="not columns"):
        plot_corner(Draws(), ["a", "zzz"], ax=Figure())
    with pytest.raises(DataError, match="draws"):
        plot_corner(object())


# --------------------------------------------------------------------------- joint laws
class _ToyJoint(clipscale.forms.Form):
    """L = E + A / N**a + B / D**b, just enough of a Form for plotting."""

    name = "toy_joint"
    inputs = ("params", "samples")
    param_names = ("E", "A", "B", "a", "b")

    def predict(self, p, x):
        x = np.asarray(x, dtype=float)
        return p["E"] + p["A"] * x[:, 0] ** -p["a"] + p["B"] * x[:, 1] ** -p["b"]


def _joint_result():
    from clipscale.results import FitResult, data_hash

    rng = np.random.default_rng(0)
    x = np.column_stack([10 ** rng.uniform(7, 9, 20), 10 ** rng.uniform(9, 11, 20)])
    params = {"E": 1.7, "A": 400.0, "B": 410.0, "a": 0.34, "b": 0.28}
    form = _ToyJoint()
    y = form.predict(params, x)
    w = np.ones(20)
    return FitResult(
        form=form,
        params=params,
        stderr=dict.fromkeys(params, 0.0),
        covariance=pd.DataFrame(),
        loss="log_ls",
        loss_value=0.0,
        n=20,
        dof=15,
        notes=(),
        settings={"bounds": {p: (0.0, np.inf) for p in params}},
        x=x,
        y=y,
        weights=w,
        data_hash=data_hash(x, y, w),
    )


def test_plot_isoloss(ax) -> None:
    result = _joint_result()
    out = plot_isoloss(result, ax=ax, levels=8)
    assert out is ax
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_xlabel() == "parameters N" and ax.get_ylabel() == "samples D"
    n, d = result.x[:, 0], result.x[:, 1]
    assert ax.get_xlim() == pytest.approx((n.min() / 10, n.max() * 10))
    assert ax.get_ylim() == pytest.approx((d.min() / 10, d.max() * 10))
    (contours,) = [c for c in ax.collections if hasattr(c, "levels")]
    assert 6 <= len(contours.levels) <= 8
    assert len(ax.texts) >= 4  # contour labels
    runs = [c for c in ax.collections if isinstance(c, PathCollection)]
    np.testing.assert_allclose(runs[0].get_offsets(), result.x)
    (path,) = ax.lines
    N, D = path.get_data()
    assert len(N) > 10
    # analytic compute-optimal allocation of this law along C = 6 N D
    p = result.params
    C = 6 * N * D
    g = (p["a"] * p["A"] / (p["b"] * p["B"])) ** (1 / (p["a"] + p["b"]))
    expected = g * (C / 6) ** (p["b"] / (p["a"] + p["b"]))
    np.testing.assert_allclose(N, expected, rtol=1e-4)
    assert _legend_texts(ax) == ["runs", "compute-optimal (C = 6ND)"]
    _render(ax)


def test_compute_optimal_path_and_isoloss_options(ax) -> None:
    result = _joint_result()
    path = compute_optimal_path(result, [1e18, 1e20, 1e40], (1e6, 1e10), (1e8, 1e12))
    assert list(path.columns) == ["compute", "params", "samples", "loss"]
    assert path["compute"].tolist() == [1e18, 1e20]  # 1e40 has its optimum outside the box
    np.testing.assert_allclose(6 * path["params"] * path["samples"], path["compute"])
    np.testing.assert_allclose(path["loss"], result.predict(path[["params", "samples"]]))
    plot_isoloss(
        result,
        ax=ax,
        levels=[2.0, 2.5, 3.0],
        show_data=False,
        show_frontier=False,
        params_range=(1e6, 1e10),
        samples_range=(1e8, 1e12),
    )
    (contours,) = ax.collections
    assert list(contours.levels) == [2.0, 2.5, 3.0]
    assert not ax.lines and ax.get_legend() is None
    with pytest.raises(DataError, match="params"):
        plot_isoloss(_power_result(), ax=ax)
    with pytest.raises(DataError, match="params_range"):
        plot_isoloss(result, ax=ax, params_range=(10.0, 1.0))


def test_plot_fit_and_corner_with_the_real_bootstrap(ax) -> None:
    if not hasattr(clipscale.FitResult, "bootstrap"):
        pytest.skip("this clipscale has no FitResult.bootstrap")
    from matplotlib.collections import PolyCollection

    result = _saturating_result()
    boot = result.bootstrap(200, rng=0)
    plot_fit(boot, ax=ax, extrapolate_to=1e15)
    assert len([c for c in ax.collections if isinstance(c, PolyCollection)]) == 1
    assert "95% interval" in _legend_texts(ax)
    axes = plot_corner(boot, ax=Figure())
    assert axes.shape == (3, 3)  # the free parameters, not loss_value or status
    assert [a.get_xlabel() for a in axes[2]] == ["E", "A", "alpha"]


def test_plot_residuals_of_a_joint_law(ax) -> None:
    result = _joint_result()
    plot_residuals(result, ax=ax, input="samples")
    (points,) = ax.collections
    np.testing.assert_allclose(points.get_offsets()[:, 0], result.x[:, 1])
    np.testing.assert_allclose(points.get_offsets()[:, 1], 0.0, atol=1e-12)  # exact data
    assert ax.get_xlabel() == "samples"
    with pytest.raises(DataError, match="not an input"):
        plot_residuals(result, ax=ax, input="tokens")
    with pytest.raises(DataError, match="one-input"):
        plot_compare([result], ax=ax)
    with pytest.raises(DataError, match="plot_isoloss"):
        plot_fit(result, ax=ax)


def test_equation_of_other_forms() -> None:
    x = np.geomspace(1.0, 1e4, 15)
    y = 0.1 + 2.0 * (x + 30.0) ** -0.5
    shifted = fit("shifted", x, y, loss="ls", warn=False)
    text = equation(shifted, digits=2)
    assert text.startswith("$E = 0.1 + 2\\,(C + 30)^{-0.5")
    broken = fit("broken", x, y, loss="ls", warn=False)
    lines = equation(broken).split("\n")
    assert lines[0] == "broken:" and len(lines) == 3
    assert lines[1].startswith("a = ") and lines[2].startswith("c1 = ")


def test_floor_at_zero_shows_as_zero() -> None:
    x = np.geomspace(1e9, 1e12, 10)
    result = fit("saturating", x, 5.0 * x**-0.1, warn=False)
    assert result.params["E"] < 1e-9 * result.y.max()  # at its bound, up to rounding
    assert equation(result).startswith("$E = 0 + ")
