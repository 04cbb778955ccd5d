"""backtest(): fit on the smaller runs, predict the largest, score the predictions."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import clipscale as cs
from clipscale.exceptions import DataError


def _data(n=14, sigma=0.02, seed=0):
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e7, 1e10, n)
    rng.shuffle(x)  # order must not matter: the largest x are held out
    y = (0.2 + 0.6 * (x / 1e7) ** -0.35) * np.exp(sigma * rng.standard_normal(n))
    return x, y


@pytest.fixture(scope="module")
def result():
    x, y = _data()
    return cs.backtest("saturating", x, y, holdout=3, n_resamples=200, rng=0, progress=False)


def test_holds_out_the_largest_points(result):
    x, y = _data()
    largest = np.sort(x)[-3:]
    np.testing.assert_array_equal(np.sort(result.table.index.to_numpy()), largest)
    keep = x < largest.min()
    ref = cs.fit("saturating", x[keep], y[keep], warn=False)
    assert result.fit.n == 11
    # the same optimum: the loss agrees to rounding; the parameters to 1e-7, since a loss flat
    # to 1e-15 relative leaves them free at the 1e-8 level (the order of the points changes
    # the rounding)
    assert result.fit.loss_value == pytest.approx(ref.loss_value, rel=1e-12)
    for p, v in ref.params.items():
        assert result.fit.params[p] == pytest.approx(v, rel=1e-7)
    assert (result.table["decades_beyond"] > 0).all()
    assert result.table["extrapolated"].all()


def test_scores(result):
    t = result.table
    assert list(t.columns) == [
        "y",
        "prediction",
        "lower",
        "upper",
        "error",
        "log_error",
        "abs_rel_error",
        "covered",
        "extrapolated",
        "decades_beyond",
    ]
    x, y = _data()
    np.testing.assert_allclose(t["prediction"], result.fit.predict(t.index.to_numpy()))
    np.testing.assert_allclose(t["error"], t["prediction"] - t["y"])
    np.testing.assert_allclose(t["abs_rel_error"], np.abs(t["prediction"] / t["y"] - 1))
    assert result.rmsle == pytest.approx(np.sqrt(np.mean(np.log(t["prediction"] / t["y"]) ** 2)))
    assert result.mean_abs_rel_error == pytest.approx(t["abs_rel_error"].mean())
    assert result.max_abs_rel_error == pytest.approx(t["abs_rel_error"].max())
    covered = (t["lower"] <= t["y"]) & (t["y"] <= t["upper"])
    assert t["covered"].tolist() == covered.tolist()
    assert result.coverage == pytest.approx(covered.mean())
    assert (t["lower"] < t["prediction"]).all() and (t["prediction"] < t["upper"]).all()


def test_intervals_come_from_the_bootstrap(result):
    boot = result.bootstrap
    assert isinstance(boot, cs.BootstrapResult) and boot.n_resamples == 200
    band = boot.predict_interval(result.table.index.to_numpy(), kind="observation")
    np.testing.assert_allclose(result.table["lower"], band["lower"])
    np.testing.assert_allclose(result.table["upper"], band["upper"])


def test_delta_method_band_without_resamples():
    x, y = _data()
    bt = cs.backtest("saturating", x, y, holdout=2, n_resamples=0, kind="mean")
    assert bt.bootstrap is None
    band = bt.fit.predict(bt.table.index.to_numpy(), confidence_level=0.95)
    np.testing.assert_allclose(bt.table["lower"], band["lower"])
    with pytest.raises(DataError, match="kind='mean'"):
        cs.backtest("saturating", x, y, n_resamples=0)


def test_noiseless_data_is_predicted_exactly():
    x, y = _data(sigma=0.0)
    bt = cs.backtest("saturating", x, y, holdout=4, n_resamples=0, kind="mean")
    assert bt.rmsle < 1e-6
    assert bt.max_abs_rel_error < 1e-6


def test_observation_intervals_are_wider_than_mean_intervals():
    x, y = _data()
    obs = cs.backtest("saturating", x, y, n_resamples=200, rng=1, progress=False)
    mean = cs.backtest("saturating", x, y, n_resamples=200, rng=1, kind="mean", progress=False)
    w_obs = obs.table["upper"] - obs.table["lower"]
    w_mean = mean.table["upper"] - mean.table["lower"]
    assert (w_obs > w_mean).all()


def test_options_pass_through():
    x, y = _data()
    bt = cs.backtest(
        "saturating",
        x,
        y,
        holdout=2,
        loss="ls",
        fixed={"E": 0.2},
        n_resamples=50,
        method="residual",
        interval="percentile",
        confidence_level=0.8,
        rng=0,
        progress=False,
    )
    assert bt.fit.loss == "ls" and bt.fit.params["E"] == 0.2
    assert bt.bootstrap.method == "residual" and bt.bootstrap.interval == "percentile"
    assert bt.confidence_level == 0.8


def test_determinism():
    x, y = _data()
    a = cs.backtest("saturating", x, y, n_resamples=100, rng=3, progress=False)
    b = cs.backtest("saturating", x, y, n_resamples=100, rng=3, progress=False)
    pd.testing.assert_frame_equal(a.table, b.table)


def test_validation():
    x, y = _data()
    for bad in (0, -1, 2.5, True):
        with pytest.raises(DataError, match="holdout"):
            cs.backtest("saturating", x, y, holdout=bad, n_resamples=0, kind="mean")
    with pytest.raises(DataError, match="leaves"):
        cs.backtest("saturating", x, y, holdout=11, n_resamples=0, kind="mean")
    with pytest.raises(DataError, match="kind"):
        cs.backtest("saturating", x, y, kind="both")
    with pytest.raises(DataError, match="confidence_level"):
        cs.backtest("saturating", x, y, confidence_level=95)
    with pytest.raises(DataError, match="points"):
        cs.backtest("saturating", x, y[:-1], n_resamples=0, kind="mean")


def test_frozen_and_renderings(result):
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.rmsle = 0.0
    table = result.table
    table.iloc[0, 0] = -1.0
    assert result.table.iloc[0, 0] != -1.0
    text = result.summary()
    assert "RMSLE" in text and "held out" in text and "covered" in text
    assert str(result) == text
    assert "BacktestResult" in repr(result)
    assert "<table" in result._repr_html_()


def test_joint_form_orders_by_the_product_of_inputs():
    if "chinchilla" not in cs.forms.available():
        pytest.skip("no joint form registered")
    rng = np.random.default_rng(0)
    n_par = np.repeat(np.geomspace(1e7, 1e9, 4), 4)
    d = np.tile(np.geomspace(1e9, 1e11, 4), 4)
    loss = (1.7 + 400 / n_par**0.34 + 410 / d**0.28) * np.exp(0.01 * rng.standard_normal(16))
    bt = cs.backtest(
        "chinchilla", {"params": n_par, "samples": d}, loss, holdout=2, n_resamples=0, kind="mean"
    )
    assert list(bt.table.index.names) == ["params", "samples"]
    compute = [a * b for a, b in bt.table.index]
    assert min(compute) >= np.sort(n_par * d)[-2]
    assert "decades_beyond" not in bt.table.columns
