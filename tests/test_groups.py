"""fit_many: one law per group, independently or with parameters tied across groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import clipscale
from clipscale import fit_many, forms
from clipscale.exceptions import DataError


def saturating_groups(seed: int = 0, noise: float = 0.01) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for g, (e, a) in enumerate([(0.2, 5.0), (0.3, 8.0), (0.1, 3.0), (0.25, 6.0)]):
        x = np.geomspace(1e6, 1e10, 15)
        y = (e + a * x**-0.3) * np.exp(rng.normal(0, noise, x.size))
        rows += [
            {"task": f"t{g}", "model": g % 2, "x": u, "y": v} for u, v in zip(x, y, strict=True)
        ]
    return pd.DataFrame(rows)


def test_independent_fits_match_single_fits():
    df = saturating_groups()
    table = fit_many(df, "saturating", by="task", x="x", y="y")
    assert list(table.index) == ["t0", "t1", "t2", "t3"] and table.index.name == "task"
    for key, part in df.groupby("task"):
        single = clipscale.fit("saturating", part["x"], part["y"], warn=False)
        row = table.loc[key]
        for p in ("E", "A", "alpha"):
            assert row[p] == pytest.approx(single.params[p], rel=1e-9)
        assert row["loss"] == pytest.approx(single.loss_value)
        assert row["result"].params == single.params
    assert {"E_stderr", "n", "error", "result"} <= set(table.columns)
    assert table.attrs["shared"] == ()


def test_shared_exponent_is_the_joint_optimum():
    df = saturating_groups()
    table = fit_many(df, "saturating", by="task", x="x", y="y", shared=["alpha"])
    alpha = table["alpha"].to_numpy()
    assert np.all(alpha == alpha[0]) and alpha[0] == pytest.approx(0.3, abs=0.03)
    joint = table.attrs["joint_loss"]
    assert joint == pytest.approx(table["loss"].sum(), rel=1e-9)
    independent = fit_many(df, "saturating", by="task", x="x", y="y")["loss"].sum()
    # tying can only cost (to rounding, which is relative to the size of the losses)
    assert joint >= independent * (1 - 1e-10)
    # no alpha on a fine grid does better (each group profiled by a full fit)
    for a in alpha[0] + np.array([-0.004, -0.001, 0.001, 0.004]):
        total = sum(
            clipscale.fit("saturating", p["x"], p["y"], fixed={"alpha": a}, warn=False).loss_value
            for _, p in df.groupby("task")
        )
        assert total >= joint * (1 - 1e-9)
    se = table["alpha_stderr"].iloc[0]
    assert 0 < se < 0.05 and np.sqrt(table.attrs["shared_covariance"].iloc[0, 0]) == se
    result = table["result"].iloc[0]
    assert "alpha" not in result.free_params and any("shared" in n for n in result.notes)


def test_parallel_matches_serial():
    df = saturating_groups()
    serial = fit_many(df, "saturating", by="task", x="x", y="y", shared=["alpha"])
    parallel = fit_many(df, "saturating", by="task", x="x", y="y", shared=["alpha"], n_jobs=2)
    cols = ["E", "A", "alpha", "loss"]
    np.testing.assert_allclose(parallel[cols].to_numpy(), serial[cols].to_numpy(), rtol=1e-9)


def test_several_by_columns_and_weights():
    df = saturating_groups()
    df["w"] = 1.0
    table = fit_many(df, "saturating", by=["model", "task"], x="x", y="y", weights="w")
    assert table.index.names == ["model", "task"] and len(table) == 4


def test_joint_law_with_shared_exponents_and_huber():
    truth = {"E": 1.7, "A": 400.0, "B": 400.0, "alpha": 0.34, "beta": 0.28}
    rng = np.random.default_rng(2)
    frames = []
    for g, scale in enumerate([1.0, 1.3, 0.8]):
        n, d = 10 ** rng.uniform(7, 10, 40), 10 ** rng.uniform(9, 12, 40)
        p = {**truth, "A": truth["A"] * scale, "E": truth["E"] + 0.1 * g}
        y = forms.get("chinchilla").predict(p, np.column_stack([n, d]))
        y = y * np.exp(rng.normal(0, 0.003, n.size))
        frames.append(pd.DataFrame({"family": g, "N": n, "D": d, "L": y}))
    df = pd.concat(frames)
    table = fit_many(
        df, "chinchilla", by="family", x={"params": "N", "samples": "D"}, y="L",
        shared=["alpha", "beta"], loss="huber_log", huber_delta=1e-3,
    )  # fmt: skip
    assert table["alpha"].nunique() == 1 and table["beta"].nunique() == 1
    assert table["alpha"].iloc[0] == pytest.approx(0.34, abs=0.02)
    assert table["beta"].iloc[0] == pytest.approx(0.28, abs=0.02)
    np.testing.assert_allclose(table["E"], [1.7, 1.8, 1.9], atol=0.05)
    assert table.attrs["joint_loss"] == pytest.approx(table["loss"].sum(), rel=1e-9)


def test_asymmetric_shared_fit_runs():
    df = saturating_groups(noise=0.03)
    table = fit_many(df, "saturating", by="task", x="x", y="y", shared=["alpha"], loss="asymmetric")
    assert table["alpha"].nunique() == 1 and np.all(np.isfinite(table["loss"]))
    # the joint asymmetric objective is the mean over all runs
    assert table.attrs["joint_loss"] == pytest.approx(table["loss"].mean(), rel=1e-6)


def test_a_group_that_cannot_be_fitted_is_reported():
    df = saturating_groups()
    df = pd.concat([df, pd.DataFrame({"task": ["tiny"], "model": [0], "x": [1e6], "y": [1.0]})])
    table = fit_many(df, "saturating", by="task", x="x", y="y")
    assert table.loc["tiny", "error"] and table.loc["tiny", "result"] is None
    assert np.isnan(table.loc["tiny", "alpha"]) and table.loc["t0", "error"] == ""
    shared = fit_many(df, "saturating", by="task", x="x", y="y", shared=["alpha"])
    assert shared.loc["tiny", "error"] and shared["alpha"].dropna().nunique() == 1


def test_argument_errors():
    df = saturating_groups()
    with pytest.raises(DataError, match="no column"):
        fit_many(df, "saturating", by="task", x="scale", y="y")
    with pytest.raises(DataError, match="not free parameters"):
        fit_many(df, "saturating", by="task", x="x", y="y", shared=["gamma"])
    with pytest.raises(DataError, match="not free parameters"):
        fit_many(df, "saturating", by="task", x="x", y="y", shared=["E"], fixed={"E": 0.1})
    with pytest.raises(DataError, match="one input"):
        fit_many(df, "saturating", by="task", y="y")
