"""Joint laws L(N, D): Chinchilla, Kaplan, data-constrained; the asymmetric loss.

Acceptance targets: Epoch AI's replication of Hoffmann et al.'s approach 3
(``epoch-analyzing-chinchilla``) and the ``chinchilla`` package's example
(``kyo-takano-chinchilla``), read from ``../shared/data`` relative to the repository root.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import clipscale
from clipscale import forms
from clipscale.exceptions import DataError
from clipscale.losses import get_loss

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
EPOCH = DATA / "epoch-analyzing-chinchilla" / "svg_extracted_data.csv"
KYO = DATA / "kyo-takano-chinchilla" / "df.csv"

HOFFMANN = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}
KAPLAN = {"N_c": 8.8e13, "D_c": 5.4e13, "alpha_N": 0.076, "alpha_D": 0.095}
MUENNIGHOFF = {**HOFFMANN, "R_D_star": 15.4, "R_N_star": 5.3}


def _needs(path: Path) -> None:
    if not path.exists():
        pytest.skip(f"shared data not available: {path} (clone the shared data next to the repo)")


def epoch_runs() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _needs(EPOCH)
    df = pd.read_csv(EPOCH)
    df = df[df["loss"] < np.sort(df["loss"].to_numpy())[-5]]
    n = df["Model Size"].to_numpy(float)
    return n, df["Training FLOP"].to_numpy(float) / (6 * n), df["loss"].to_numpy(float)


def inputs_grid(k: int = 3) -> np.ndarray:
    rng = np.random.default_rng(7)
    n = 10 ** rng.uniform(7, 10, 12)
    d = 10 ** rng.uniform(9, 12, 12)
    if k == 2:
        return np.column_stack([n, d])
    return np.column_stack([n, d, d / 10 ** rng.uniform(0, 2, 12)])  # unique <= total


def check_jacobian(form, p: dict[str, float], x: np.ndarray, rtol: float = 1e-5) -> None:
    jac = form.jacobian(p, x)
    assert jac.shape == (x.shape[0], form.n_params)
    for j, name in enumerate(form.param_names):
        h = 1e-6 * max(abs(p[name]), 1e-3)
        up, down = dict(p), dict(p)
        up[name] += h
        down[name] -= h
        fd = (form.predict(up, x) - form.predict(down, x)) / (2 * h)
        scale = np.max(np.abs(fd)) + 1e-12
        np.testing.assert_allclose(jac[:, j], fd, rtol=rtol, atol=rtol * scale, err_msg=name)


CASES = [
    ("chinchilla", {}, HOFFMANN, 2),
    ("kaplan", {}, KAPLAN, 2),
    ("data_constrained", {}, MUENNIGHOFF, 3),
    ("data_constrained", {"data_input": "epochs"}, MUENNIGHOFF, 3),
]


@pytest.mark.parametrize(("name", "options", "params", "k"), CASES)
def test_jacobian_matches_finite_differences(name, options, params, k):
    form = forms.get(name, **options)
    x = inputs_grid(k)
    if options.get("data_input") == "epochs":
        x = np.column_stack([x[:, 0], x[:, 1] / x[:, 2], x[:, 2]])
    check_jacobian(form, dict(params), x)


@pytest.mark.parametrize(("name", "options", "params", "k"), CASES)
def test_broadcasts_over_parameter_vectors(name, options, params, k):
    form = forms.get(name, **options)
    x = inputs_grid(k)
    batch = {p: np.array([[v], [1.1 * v], [0.9 * v]]) for p, v in params.items()}
    pred, jac = form.predict(batch, x), form.jacobian(batch, x)
    assert pred.shape == (3, x.shape[0])
    assert jac.shape == (3, x.shape[0], form.n_params)
    for b in range(3):
        single = {p: float(v[b, 0]) for p, v in batch.items()}
        np.testing.assert_allclose(pred[b], form.predict(single, x), rtol=1e-12)
        np.testing.assert_allclose(jac[b], form.jacobian(single, x), rtol=1e-12)
    np.testing.assert_allclose(form.log_predict(batch, x), np.log(pred), rtol=1e-12)


@pytest.mark.parametrize(("name", "params"), [("chinchilla", HOFFMANN), ("kaplan", KAPLAN)])
def test_log_space_at_extreme_scale(name, params):
    form = forms.get(name)
    x = np.array([[1e25, 1e25], [1e40, 1e6], [1e3, 1e300]])
    lp = form.log_predict(params, x)
    assert np.all(np.isfinite(lp))
    assert np.all(np.isfinite(form.jacobian(params, x)))
    if name == "kaplan":
        dc = forms.get("data_constrained")
        x3 = np.array([[1e25, 1e27, 1e23], [1e12, 1e300, 1e10], [1e3, 1e25, 1e25]])
        assert np.all(np.isfinite(dc.log_predict(MUENNIGHOFF, x3)))
        assert np.all(np.isfinite(dc.jacobian(MUENNIGHOFF, x3)))
    if name == "chinchilla":  # the floor: L -> E
        expected = np.log(1.69 + 406.4 * 1e25**-0.34 + 410.7 * 1e25**-0.28)
        assert lp[0] == pytest.approx(expected, rel=1e-12)


def test_registry_and_specs():
    for name in ("chinchilla", "kaplan", "data_constrained"):
        assert name in forms.available()
        form = forms.get(name)
        assert form.formula and form.reference and form.__doc__
        assert forms.from_spec(form.spec()) == form
    dc = forms.get("data_constrained", data_input="epochs", base={**HOFFMANN, "A": 500.0})
    again = forms.from_spec(dc.spec())
    assert again == dc and hash(again) == hash(dc)
    assert again.inputs == ("params", "epochs", "unique_samples")
    with pytest.raises(DataError, match="data_input"):
        forms.get("data_constrained", data_input="tokens")
    with pytest.raises(DataError, match="base"):
        forms.get("data_constrained", base={"A": 1.0})


def test_data_constrained_reduces_to_chinchilla_without_repeats():
    dc, ch = forms.get("data_constrained"), forms.get("chinchilla")
    n = np.array([1e7, 1e8])
    d = np.array([1e11, 1e12])  # far more tokens than N_opt needs: U_N = N
    x3 = np.column_stack([n, d, d])
    assert np.all(dc.optimal_params(d) > n)
    np.testing.assert_allclose(
        dc.predict(MUENNIGHOFF, x3), ch.predict(HOFFMANN, np.column_stack([n, d])), rtol=1e-12
    )
    # 100 epochs of 1e9 tokens are worth far less than 1e11 fresh tokens, and more than 1e9
    rep = dc.predict(MUENNIGHOFF, np.array([[1e8, 1e11, 1e9]]))
    fresh = ch.predict(HOFFMANN, np.array([[1e8, 1e11], [1e8, 1e9]]))
    assert fresh[0] < rep[0] < fresh[1]


def test_chinchilla_recovers_synthetic_law():
    x = inputs_grid(2)
    x = np.vstack([x, x * [[3, 0.3]], x * [[0.3, 3]]])
    y = forms.get("chinchilla").predict(HOFFMANN, x)
    r = clipscale.fit("chinchilla", {"params": x[:, 0], "samples": x[:, 1]}, y, warn=False)
    for p, v in HOFFMANN.items():
        assert r.params[p] == pytest.approx(v, rel=1e-5)


def test_kaplan_recovers_synthetic_law():
    rng = np.random.default_rng(0)
    n, d = 10 ** rng.uniform(7, 10, 150), 10 ** rng.uniform(9, 12, 150)
    y = forms.get("kaplan").predict(KAPLAN, np.column_stack([n, d]))
    y = y * np.exp(rng.normal(0, 0.002, y.size))
    r = clipscale.fit("kaplan", {"params": n, "samples": d}, y, warn=False)
    assert r.params["alpha_N"] == pytest.approx(0.076, abs=0.002)
    assert r.params["alpha_D"] == pytest.approx(0.095, abs=0.004)
    assert np.log(r.params["N_c"]) == pytest.approx(np.log(8.8e13), abs=0.3)


@pytest.mark.slow
def test_data_constrained_recovers_synthetic_law():
    rng = np.random.default_rng(1)
    m = 250
    n, u = 10 ** rng.uniform(7, 9.5, m), 10 ** rng.uniform(8.5, 10.5, m)
    d = u * 10 ** rng.uniform(0, 2.3, m)
    truth = {"E": 1.87, "A": 521.0, "B": 1488.0, "alpha": 0.35, "beta": 0.353,
             "R_D_star": 15.4, "R_N_star": 5.3}  # fmt: skip
    y = forms.get("data_constrained").predict(truth, np.column_stack([n, d, u]))
    y = y * np.exp(rng.normal(0, 0.002, m))
    r = clipscale.fit(
        "data_constrained", {"params": n, "samples": d, "unique_samples": u}, y, warn=False
    )
    assert r.params["R_D_star"] == pytest.approx(15.4, rel=0.05)
    assert r.params["R_N_star"] == pytest.approx(5.3, rel=0.05)
    assert r.params["alpha"] == pytest.approx(0.35, abs=0.01)


# --------------------------------------------------------------------------- the asymmetric loss
def test_asymmetric_loss_definition():
    loss = get_loss("asymmetric", asymmetry=10)
    r = np.array([0.1, -0.1, 0.2, 0.0])  # r = y - yhat; r < 0: over-prediction
    assert loss.value(r, np.ones(4)) == pytest.approx((0.1 + 1.0 + 0.2) / 4)
    assert loss.value(r, np.array([1, 1, 0, 0.0])) == pytest.approx(1.1 / 2)
    assert loss.settings() == {"asymmetry": 10.0}
    assert get_loss("asymmetric").asymmetry == 10.0
    for s in (1e-2, 1e-4):
        val, grad = loss.value_and_grad(r, np.ones(4), smoothing=s)
        h = 1e-8
        fd = [
            (loss.value_and_grad(r + h * e, np.ones(4), s)[0]
             - loss.value_and_grad(r - h * e, np.ones(4), s)[0]) / (2 * h)
            for e in np.eye(4)
        ]  # fmt: skip
        np.testing.assert_allclose(grad, fd, atol=1e-5)
    assert loss.value_and_grad(r, np.ones(4), 1e-9)[0] == pytest.approx(1.3 / 4, abs=1e-6)


def test_asymmetric_loss_errors():
    with pytest.raises(DataError, match="asymmetry"):
        get_loss("asymmetric", asymmetry=0)
    with pytest.raises(DataError, match="asymmetry only applies"):
        get_loss("log_ls", asymmetry=10)
    with pytest.raises(DataError, match="huber_delta"):
        get_loss("asymmetric", huber_delta=1e-3)


def test_asymmetric_fit_hugs_the_lower_envelope():
    rng = np.random.default_rng(3)
    x = np.geomspace(1e6, 1e10, 60)
    y = (0.5 + 20 * x**-0.3) * (1 + np.abs(rng.normal(0, 0.05, x.size)))  # noise only upwards
    sym = clipscale.fit("saturating", x, y, loss="ls", warn=False)
    asym = clipscale.fit("saturating", x, y, loss="asymmetric", asymmetry=10, warn=False)
    below = np.mean(y < asym.predict(x))
    assert below < 0.2 < np.mean(y < sym.predict(x))
    assert asym.settings["asymmetry"] == 10.0


# --------------------------------------------------------------------------- published targets
def test_epoch_replication_huber_fit():
    """Besiroglu et al. 2024: Huber sum <= 0.0010182740; E, alpha, beta; well under a second."""
    n, d, loss = epoch_runs()
    assert n.size == 240
    x = {"params": n, "samples": d}
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        r = clipscale.fit("chinchilla", x, loss, loss="huber_log", huber_delta=1e-3, warn=False)
        times.append(time.perf_counter() - t0)
    # published as 0.0010182740 (10 decimals): at most half a unit of its last digit above it;
    # the exact minimum is 0.00101827401780, the recipe's own best 0.00101827401797
    assert r.loss_value <= 0.0010182740 + 5e-11
    assert r.params["E"] == pytest.approx(1.8172, abs=0.002)
    assert r.params["alpha"] == pytest.approx(0.3473, abs=0.002)
    assert r.params["beta"] == pytest.approx(0.3672, abs=0.002)
    assert np.log(r.params["A"]) == pytest.approx(np.log(477.84), abs=0.03)
    assert np.log(r.params["B"]) == pytest.approx(np.log(2143.86), abs=0.03)
    assert min(times) < 1.0  # typically ~0.05 s; the published recipe takes ~20-40 s


@pytest.mark.slow
def test_epoch_bootstrap_standard_errors():
    """Pairs-bootstrap SEs within 25% of Epoch's (E 0.026, alpha 0.015, beta 0.021).

    Uses ``result.bootstrap`` when the library has it, else a loop of clipscale fits on pairs
    resamples (200 of them: the SE of an SE is then ~5%).
    """
    n, d, loss = epoch_runs()
    x = {"params": n, "samples": d}
    r = clipscale.fit("chinchilla", x, loss, loss="huber_log", huber_delta=1e-3, warn=False)
    if hasattr(r, "bootstrap"):
        draws = r.bootstrap(n_resamples=400, rng=42).draws
    else:
        rng = np.random.default_rng(42)
        rows = []
        for _ in range(200):
            i = rng.integers(0, n.size, n.size)
            fit_b = clipscale.fit(
                "chinchilla", {"params": n[i], "samples": d[i]}, loss[i],
                loss="huber_log", huber_delta=1e-3, warn=False,
            )  # fmt: skip
            rows.append(dict(fit_b.params))
        draws = pd.DataFrame(rows)
    for p, published in (("E", 0.0257), ("alpha", 0.0154), ("beta", 0.0206)):
        assert draws[p].std(ddof=1) == pytest.approx(published, rel=0.25), p


def test_chinchilla_package_asymmetric_target():
    """The ``chinchilla`` package's example: asymmetric MAE <= 0.022782 (3 min of BFGS there)."""
    _needs(KYO)
    df = pd.read_csv(KYO)
    r = clipscale.fit(
        "chinchilla", {"params": df["N"], "samples": df["D"]}, df["loss"],
        loss="asymmetric", asymmetry=10, warn=False,
    )  # fmt: skip
    assert r.loss_value <= 0.022782
    assert r.params["E"] == pytest.approx(1.70024, abs=0.01)
    assert r.params["alpha"] == pytest.approx(0.289008, abs=0.005)
    assert r.params["beta"] == pytest.approx(0.355794, abs=0.005)
    yhat = r.form.predict(r.params, np.column_stack([df["N"], df["D"]]))
    assert np.mean(df["loss"].to_numpy() < yhat) < 0.12  # the published curve: 8.5% below
