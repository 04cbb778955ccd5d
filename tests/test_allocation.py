"""compute_optimal: the compute-optimal N*, D*, tokens per parameter and loss."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

import clipscale
from clipscale import compute_optimal, forms
from clipscale.allocation import _search_params
from clipscale.exceptions import DataError, FitError

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
EPOCH = DATA / "epoch-analyzing-chinchilla" / "svg_extracted_data.csv"

HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
KAPLAN = {"N_c": 8.8e13, "D_c": 5.4e13, "alpha_N": 0.076, "alpha_D": 0.095}


def synthetic_fit(name: str, params: dict[str, float]):
    """A real FitResult of ``name`` on noiseless data generated from ``params``."""
    rng = np.random.default_rng(0)
    n, d = 10 ** rng.uniform(7, 10, 80), 10 ** rng.uniform(9, 12, 80)
    y = forms.get(name).predict(params, np.column_stack([n, d]))
    return clipscale.fit(name, {"params": n, "samples": d}, y, warn=False)


@pytest.fixture(scope="module")
def epoch_fit():
    if not EPOCH.exists():
        pytest.skip(f"shared data not available: {EPOCH}")
    df = pd.read_csv(EPOCH)
    df = df[df["loss"] < np.sort(df["loss"].to_numpy())[-5]]
    n = df["Model Size"].to_numpy(float)
    d = df["Training FLOP"].to_numpy(float) / (6 * n)
    x = {"params": n, "samples": d}
    return clipscale.fit("chinchilla", x, df["loss"], loss="huber_log", warn=False)


def test_epoch_fit_allocates_about_18_tokens_per_parameter(epoch_fit):
    out = compute_optimal(epoch_fit, 5.76e23)
    assert list(out.columns) == ["compute", "params", "samples", "tokens_per_param", "loss"]
    row = out.iloc[0]
    assert row["tokens_per_param"] == pytest.approx(18.0, abs=0.5)
    assert 6 * row["params"] * row["samples"] == pytest.approx(5.76e23, rel=1e-12)
    assert row["loss"] == pytest.approx(epoch_fit.form.predict(
        epoch_fit.params, np.array([[row["params"], row["samples"]]]))[0])  # fmt: skip


def test_chinchilla_closed_form_is_the_minimum():
    fit = synthetic_fit("chinchilla", HOFFMANN)
    c = np.geomspace(1e19, 1e27, 5)
    out = compute_optimal(fit, c)
    assert len(out) == 5 and np.all(np.diff(out["params"]) > 0)
    numeric = _search_params(fit.form, dict(fit.params), c / 6, None)
    np.testing.assert_allclose(out["params"], numeric, rtol=1e-6)
    # perturbing N at fixed compute raises the loss
    for f in (0.9, 1.1):
        n = out["params"].to_numpy() * f
        worse = fit.form.predict(fit.params, np.column_stack([n, c / (6 * n)]))
        assert np.all(worse > out["loss"].to_numpy())
    # Hoffmann's exponents: N* ~ C^(beta/(alpha+beta))
    slope = np.polyfit(np.log(c), np.log(out["params"]), 1)[0]
    assert slope == pytest.approx(0.28 / 0.62, rel=1e-4)


def test_kaplan_closed_form_is_the_minimum():
    fit = synthetic_fit("kaplan", KAPLAN)
    c = np.array([1e20, 1e24])
    out = compute_optimal(fit, c, flops_per_param_token=2.0)
    numeric = _search_params(fit.form, dict(fit.params), c / 2, None)
    np.testing.assert_allclose(out["params"], numeric, rtol=1e-6)
    assert 2 * out["params"].iloc[1] * out["samples"].iloc[1] == pytest.approx(1e24)


def test_data_constrained_allocation_with_a_unique_data_budget():
    form = forms.get("data_constrained")
    p = {**HOFFMANN, "R_D_star": 15.4, "R_N_star": 5.3}
    point = SimpleNamespace(form=form, params=p)
    free = compute_optimal(point, [1e21, 1e23])
    capped = compute_optimal(point, [1e21, 1e23], inputs={"unique_samples": 1e10})
    assert np.all(np.isfinite(free.to_numpy()))
    # with little unique data, the optimum trains smaller models on more (repeated) tokens
    assert np.all(capped["tokens_per_param"] > free["tokens_per_param"])
    assert np.all(capped["loss"] > free["loss"])


def test_no_interior_optimum_raises_fit_error():
    fit = synthetic_fit("chinchilla", HOFFMANN)
    flat = dataclasses.replace(fit, params={**fit.params, "alpha": 0.0})
    with pytest.raises(FitError, match="no interior compute-optimal"):
        compute_optimal(flat, 1e23)


def test_bad_arguments_raise_data_error():
    fit = synthetic_fit("chinchilla", HOFFMANN)
    with pytest.raises(DataError, match="compute"):
        compute_optimal(fit, [-1.0])
    with pytest.raises(DataError, match="flops_per_param_token"):
        compute_optimal(fit, 1e23, flops_per_param_token=0)
    one_d = clipscale.fit("power", np.geomspace(1, 100, 10), np.geomspace(1, 100, 10) ** -0.5)
    with pytest.raises(DataError, match="params"):
        compute_optimal(one_d, 1e23)


def test_bootstrap_intervals_from_draws():
    fit = synthetic_fit("chinchilla", HOFFMANN)
    rng = np.random.default_rng(1)
    draws = pd.DataFrame(
        {p: v * (1 + 0.02 * rng.standard_normal(300)) for p, v in fit.params.items()}
    )
    draws.loc[0, "beta"] = -0.1  # a draw without an interior optimum is left out, and counted
    boot = SimpleNamespace(draws=draws, result=fit)
    out = compute_optimal(boot, [1e22, 1e24], confidence_level=0.9)
    for col in ("params", "samples", "tokens_per_param", "loss"):
        assert np.all(out[f"{col}_low"] < out[col]) and np.all(out[col] < out[f"{col}_high"])
    assert out.attrs["n_draws"] == 300 and out.attrs["degenerate_draws"] == 1
    assert out.attrs["confidence_level"] == 0.9


@pytest.mark.slow
def test_with_the_library_bootstrap(epoch_fit):
    boot = epoch_fit.bootstrap(n_resamples=200, rng=0)
    out = compute_optimal(boot, 5.76e23)
    assert out["tokens_per_param_low"].iloc[0] < 18 < out["tokens_per_param_high"].iloc[0]
    assert out.attrs["n_draws"] + int(boot.draws["status"].isin(["failed"]).sum()) <= 200
