"""Tests of clipscale.frontier: hand-made tables with known answers, and the paper's fits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clipscale.datasets import load_openclip
from clipscale.exceptions import DataError
from clipscale.frontier import METHODS, frontier


def _runs() -> pd.DataFrame:
    # log10 x = 0, 0.477, 1, 1.301, 3; with pad=1 and 4 bins the edges are 0, 1, 2, 3, 4
    return pd.DataFrame(
        {
            "compute": [1.0, 3.0, 10.0, 20.0, 1000.0],
            "metric": [0.9, 0.8, 0.7, 0.75, 0.5],
            "arch": ["a1", "a2", "a3", "a4", "a5"],
        },
        index=["r1", "r2", "r3", "r4", "r5"],
    )


# ---------------------------------------------------------------- bins


def test_bins_known_answer() -> None:
    out = frontier(_runs(), method="bins", n_bins=4, pad=1.0)
    assert list(out.columns) == [
        "compute",
        "metric",
        "n_runs",
        "bin_low",
        "bin_high",
        "compute_run",
        "arch",
    ]
    # bin 2 ([100, 1000)) is empty and dropped; x = 10 sits on an edge and goes to bin 1
    assert list(out.index) == ["r2", "r3", "r5"]
    np.testing.assert_allclose(out["compute"], [10**0.5, 10**1.5, 10**3.5], rtol=1e-12)
    assert out["metric"].tolist() == [0.8, 0.7, 0.5]
    assert out["n_runs"].tolist() == [2, 2, 1]
    np.testing.assert_allclose(out["bin_low"], [1.0, 10.0, 1000.0], rtol=1e-12)
    np.testing.assert_allclose(out["bin_high"], [10.0, 100.0, 10000.0], rtol=1e-12)
    assert out["compute_run"].tolist() == [3.0, 10.0, 1000.0]
    assert out["arch"].tolist() == ["a2", "a3", "a5"]


def test_bin_centres_are_geometric_centres() -> None:
    rng = np.random.default_rng(0)
    runs = pd.DataFrame(
        {"compute": 10 ** rng.uniform(8, 14, 40), "metric": rng.uniform(0.1, 1, 40)}
    )
    out = frontier(runs, n_bins=7)
    np.testing.assert_allclose(out["compute"], np.sqrt(out["bin_low"] * out["bin_high"]))
    assert out["n_runs"].sum() == 40
    assert (out["bin_low"] <= out["compute_run"]).all()
    assert (out["compute_run"] < out["bin_high"]).all()


def test_bins_default_pad_is_a_tenth_of_a_decade() -> None:
    runs = pd.DataFrame({"compute": [1.0, 10.0], "metric": [0.5, 0.4]})
    out = frontier(runs, n_bins=1)
    np.testing.assert_allclose(out["bin_high"], [10**1.1], rtol=1e-12)
    np.testing.assert_allclose(out["compute"], [10**0.55], rtol=1e-12)
    assert out["metric"].tolist() == [0.4]


def test_bins_pad_zero_puts_the_largest_x_in_the_last_bin() -> None:
    runs = pd.DataFrame({"compute": [1.0, 10.0, 100.0], "metric": [0.5, 0.4, 0.3]})
    out = frontier(runs, n_bins=2, pad=0.0)
    assert out["n_runs"].tolist() == [1, 2]
    assert out["metric"].tolist() == [0.5, 0.3]


def test_bins_ties_keep_first_run_and_keep_max() -> None:
    runs = pd.DataFrame({"compute": [1.0, 2.0, 3.0], "metric": [0.5, 0.2, 0.2], "id": [1, 2, 3]})
    assert frontier(runs, n_bins=1)["id"].tolist() == [2]
    assert frontier(runs, n_bins=1, keep="max")["id"].tolist() == [1]


def test_bins_custom_columns() -> None:
    runs = _runs().rename(columns={"compute": "flops", "metric": "loss"})
    out = frontier(runs, "flops", "loss", n_bins=4, pad=1.0)
    assert list(out.columns[:6]) == ["flops", "loss", "n_runs", "bin_low", "bin_high", "flops_run"]


# ---------------------------------------------------------------- pareto


def test_pareto_known_answer() -> None:
    runs = pd.DataFrame(
        {
            "compute": [4.0, 5.0, 2.0, 1.0, 3.0, 2.0, 5.0],
            "metric": [3.5, 1.0, 4.0, 5.0, 3.0, 3.0, 1.0],
            "id": ["d", "e1", "b", "a", "c", "b2", "e2"],
        }
    )
    out = frontier(runs, method="pareto")
    # (2, 4) loses to (2, 3); (4, 3.5) loses to (2, 3); (3, 3) ties (2, 3) so stays;
    # the two identical runs at (5, 1) beat each other in nothing and both stay
    assert out["id"].tolist() == ["a", "b2", "c", "e1", "e2"]
    assert list(out.index) == [3, 5, 4, 1, 6]
    assert list(out.columns) == list(runs.columns)


def test_pareto_keep_max() -> None:
    runs = pd.DataFrame({"compute": [1.0, 2.0, 3.0], "acc": [0.5, 0.4, 0.7]})
    assert frontier(runs, y="acc", method="pareto", keep="max")["acc"].tolist() == [0.5, 0.7]


# ---------------------------------------------------------------- hull


def _hull_runs() -> pd.DataFrame:
    # (log10 x, log10 y): A(0, 2) B(1, 1.2) C(2, 0) D(3, 0.5) E(1, 3) F(3, 1)
    k = np.array([0, 1, 2, 3, 1, 3])
    m = np.array([2, 1.2, 0, 0.5, 3, 1])
    return pd.DataFrame({"compute": 10.0**k, "metric": 10.0**m, "id": list("ABCDEF")})


def test_hull_known_answer() -> None:
    out = frontier(_hull_runs(), method="hull")
    # B lies above the segment A-C; F is above D at the same x; the rising edge C-D is kept
    assert out["id"].tolist() == ["A", "C", "D"]
    assert list(out.columns) == ["compute", "metric", "id"]


def test_hull_drops_collinear_points() -> None:
    runs = pd.DataFrame({"compute": [1.0, 10.0, 100.0], "metric": [100.0, 10.0, 1.0]})
    assert frontier(runs, method="hull").index.tolist() == [0, 2]


def test_hull_keep_max_is_upper_hull() -> None:
    out = frontier(_hull_runs(), method="hull", keep="max")
    assert out["id"].tolist() == ["A", "E", "F"]


def test_pareto_on_hull_table() -> None:
    assert frontier(_hull_runs(), method="pareto")["id"].tolist() == ["A", "B", "C"]


# ---------------------------------------------------------------- contracts and errors


@pytest.mark.parametrize("method", METHODS)
def test_input_unchanged(method: str) -> None:
    runs = _hull_runs()
    before = runs.copy(deep=True)
    out = frontier(runs, method=method)
    pd.testing.assert_frame_equal(runs, before)
    out.iloc[0, 0] = -1.0
    pd.testing.assert_frame_equal(runs, before)


@pytest.mark.parametrize("method", METHODS)
def test_single_run(method: str) -> None:
    runs = pd.DataFrame({"compute": [5.0], "metric": [0.5]})
    out = frontier(runs, method=method)
    assert len(out) == 1
    assert out["metric"].tolist() == [0.5]


def test_unknown_method_lists_methods() -> None:
    with pytest.raises(DataError, match="bins, pareto, hull"):
        frontier(_runs(), method="convex")


def test_missing_column() -> None:
    with pytest.raises(DataError, match="'flops'.*columns are"):
        frontier(_runs(), x="flops")


def test_non_numeric_column() -> None:
    with pytest.raises(DataError, match="'arch'.*pd.to_numeric"):
        frontier(_runs(), y="arch")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_values_name_the_rows(bad: float) -> None:
    runs = _runs()
    runs.loc["r4", "metric"] = bad
    with pytest.raises(DataError, match=r"'metric'.*\['r4'\].*dropna"):
        frontier(runs)


def test_non_positive_x() -> None:
    runs = _runs()
    runs.loc["r2", "compute"] = 0.0
    with pytest.raises(DataError, match=r"'compute' must be positive.*\['r2'\]"):
        frontier(runs, method="pareto")


def test_non_positive_y_only_fails_for_hull() -> None:
    runs = _runs()
    runs.loc["r5", "metric"] = -0.5
    assert frontier(runs, method="pareto")["metric"].iloc[-1] == -0.5
    assert frontier(runs)["metric"].iloc[-1] == -0.5
    with pytest.raises(DataError, match=r"'metric' must be positive.*\['r5'\]"):
        frontier(runs, method="hull")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_bins": 0}, "n_bins"),
        ({"n_bins": 2.5}, "n_bins"),
        ({"pad": -0.1}, "pad"),
        ({"pad": float("nan")}, "pad"),
        ({"keep": "best"}, "keep"),
        ({"x": "metric"}, "two different columns"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(DataError, match=message):
        frontier(_runs(), **kwargs)


def test_bad_tables() -> None:
    with pytest.raises(DataError, match="DataFrame"):
        frontier({"compute": [1.0], "metric": [1.0]})  # type: ignore[arg-type]
    with pytest.raises(DataError, match="no rows"):
        frontier(_runs().iloc[:0])
    with pytest.raises(DataError, match="pad > 0"):
        frontier(pd.DataFrame({"compute": [3.0, 3.0], "metric": [1.0, 2.0]}), pad=0)
    with pytest.raises(DataError, match="n_runs"):
        frontier(_runs().assign(n_runs=1))
    with pytest.raises(ValueError):  # DataError is a ValueError
        frontier(_runs(), method="nope")


# ---------------------------------------------------------------- the paper's Table


# Cherti et al. (CVPR 2023), scaling laws E = beta * C ** alpha, C in GMACs
OPENCLIP_TABLE = {
    "imagenet1k": (5.8581, -0.11139),
    "imagenet_robustness": (11.6087, -0.12554),
    "mscoco_captions": (2.7497, -0.07943),
    "flickr30k": (15.5060, -0.18916),
}
OPENAI_TABLE = {
    "imagenet1k": (23.1836, -0.16377),
    "imagenet_robustness": (211.6600, -0.23784),
    "mscoco_captions": (1.5886, -0.05076),
    "flickr30k": (2.2084, -0.10285),
}


def _power_law(x: pd.Series, y: pd.Series) -> tuple[float, float]:
    slope, intercept = np.polyfit(np.log(x.to_numpy()), np.log(y.to_numpy()), 1)
    return float(np.exp(intercept)), float(slope)


@pytest.mark.parametrize("task", sorted(OPENCLIP_TABLE))
def test_reproduces_openclip_table(task: str) -> None:
    df = load_openclip()
    runs = df[(df["family"] == "openclip") & (df["task"] == task)]
    assert len(runs) == 29
    best = frontier(runs, "compute", "metric", method="bins")
    assert len(best) == 5
    assert best["n_runs"].sum() == 29
    beta, alpha = _power_law(best["compute"], best["metric"])
    beta_paper, alpha_paper = OPENCLIP_TABLE[task]
    assert alpha == pytest.approx(alpha_paper, abs=1e-4)
    assert np.log10(beta) == pytest.approx(np.log10(beta_paper), abs=1e-3)


@pytest.mark.parametrize("task", sorted(OPENAI_TABLE))
def test_reproduces_openai_table(task: str) -> None:
    df = load_openclip()
    runs = df[(df["family"] == "openai") & (df["task"] == task)]
    assert len(runs) == 3
    beta, alpha = _power_law(runs["compute"], runs["metric"])
    beta_paper, alpha_paper = OPENAI_TABLE[task]
    assert alpha == pytest.approx(alpha_paper, abs=1e-4)
    assert np.log10(beta) == pytest.approx(np.log10(beta_paper), abs=1e-3)
