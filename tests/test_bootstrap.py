"""Bootstrap: the batched solver against fit(), every scheme and interval, results as values."""

from __future__ import annotations

import dataclasses
import json
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import clipscale as cs
from clipscale._engine.batch import Batch
from clipscale._engine.solve import solve
from clipscale.bootstrap import DEFAULT_INTERVALS, METHODS
from clipscale.exceptions import ClipscaleWarning, DataError

INTERVALS = ("percentile", "basic", "bca", "studentized", "expanded")


def _data(form: str = "saturating", n: int = 14, seed: int = 0, sigma: float = 0.02):
    rng = np.random.default_rng(seed)
    x = np.geomspace(1e7, 1e10, n)
    truth = {
        "saturating": {"E": 0.2, "A": 3.0 * 0.2 * 1e7**0.35, "alpha": 0.35},
        "power": {"beta": 0.8 * 1e7**0.2, "alpha": -0.2},
        "shifted": {"E": 0.2, "A": 40.0, "s": 3e7, "alpha": 0.3},
        "broken": {"a": 0.1, "b": 5.0, "c0": 0.1, "c1": 0.3, "d1": 1e8, "f1": 0.5},
    }[form]
    y = cs.forms.get(form).predict(truth, x) * np.exp(sigma * rng.standard_normal(n))
    return x, y


def _fit(form="saturating", loss="log_ls", **kw):
    x, y = _data(form)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ClipscaleWarning)
        return cs.fit(form, x, y, loss=loss, **kw)


def _theta(result):
    return np.array([result.params[p] for p in result.form.param_names])


@pytest.fixture(scope="module")
def boot():
    return _fit().bootstrap(300, rng=0, progress=False)


# --------------------------------------------------------------------------- the solver
CASES = [
    ("saturating", "ls", {}),
    ("saturating", "log_ls", {}),
    ("saturating", "huber_log", {}),
    ("saturating", "msle1p", {}),
    ("power", "log_ls", {}),
    ("power", "ls", {}),
    ("shifted", "log_ls", {}),
    ("saturating", "log_ls", {"fixed": {"E": 0.19}}),
    ("saturating", "log_ls", {"bounds": {"alpha": (0.0, 0.3)}}),
]


@pytest.mark.parametrize(("form", "loss", "kw"), CASES)
def test_all_ones_weights_reproduce_fit(form, loss, kw):
    result = _fit(form, loss, **kw)
    batch = Batch.from_fit(result)
    sol = solve(batch, _theta(result), result.y, np.ones((3, result.n)))
    assert np.all(sol.status >= 0)
    np.testing.assert_allclose(sol.theta, np.tile(_theta(result), (3, 1)), rtol=1e-7, atol=1e-12)
    np.testing.assert_allclose(sol.value, result.loss_value, rtol=1e-10)


@pytest.mark.parametrize(("form", "loss", "kw"), CASES)
def test_random_resamples_match_independent_fits(form, loss, kw):
    result = _fit(form, loss, **kw)
    x, y = result.x, result.y
    rng = np.random.default_rng(1)
    w = rng.multinomial(result.n, np.full(result.n, 1 / result.n), size=6).astype(float)
    sol = solve(Batch.from_fit(result), _theta(result), y, w)
    for i in range(len(w)):
        ref = cs.fit(form, x, y, loss=loss, weights=w[i], warn=False, **kw)
        # the batched optimum is at least as good as a fresh fit, to 1e-9 relative
        assert sol.value[i] <= ref.loss_value * (1 + 1e-9) + 1e-300
        assert sol.value[i] >= ref.loss_value * (1 - 1e-6)


@pytest.mark.parametrize("form", ["saturating", "power", "shifted"])
def test_variable_projection_matches_levenberg_marquardt(form):
    from clipscale._engine.lm import levenberg_marquardt
    from clipscale._engine.varpro import applies, varpro

    result = _fit(form, "ls")
    batch = Batch.from_fit(result)
    assert applies(batch)
    rng = np.random.default_rng(5)
    w = rng.multinomial(result.n, np.full(result.n, 1 / result.n), size=200).astype(float)
    y = np.broadcast_to(np.asarray(result.y, float), w.shape)
    theta0 = np.tile(_theta(result), (len(w), 1))
    _, v_vp, handled, _, _ = varpro(batch, theta0[0], y, w)
    _, v_lm, conv, _ = levenberg_marquardt(batch, theta0, y, w, y=y)
    assert handled.mean() > 0.5
    ok = handled & conv
    # where variable projection claims a solution it is as good as LM's, to 1e-9 relative
    assert np.all(v_vp[ok] <= v_lm[ok] * (1 + 1e-9) + 1e-300)


@pytest.mark.parametrize("name", ["saturating", "power", "m1", "m2"])
def test_basis_slope_is_the_derivative_of_the_basis(name):
    form = cs.forms.get(name)
    (nl,) = form.nonlinear
    x = np.geomspace(1e7, 1e10, 9)
    theta = np.array([-0.4, -0.1, 0.3]) if name != "m2" else np.array([-0.4, -0.2, -0.1])
    coef = np.random.default_rng(0).uniform(0.5, 2.0, (3, len(form.linear)))
    h = 1e-6
    up, down = form.basis({nl: theta + h}, x), form.basis({nl: theta - h}, x)
    numeric = np.einsum("gnk,gk->gn", (up - down) / (2 * h), coef)
    slope = form.basis_slope({nl: theta}, coef, x, form.basis({nl: theta}, x))
    np.testing.assert_allclose(slope, numeric, rtol=1e-6)


@pytest.mark.parametrize("form", ["saturating", "power"])
def test_one_exponent_solver_same_without_the_slope_hook_or_shared_start(form, monkeypatch):
    # the moment-based first step and the basis_slope shortcut change the cost, not the answer
    from clipscale._engine import varpro as _varpro

    result = _fit(form, "ls")
    batch = Batch.from_fit(result)
    rng = np.random.default_rng(3)
    w = rng.multinomial(result.n, np.full(result.n, 1 / result.n), size=300).astype(float)
    y = np.broadcast_to(np.asarray(result.y, float), w.shape)
    th, val, ok, _, normal = _varpro.varpro(batch, _theta(result), y, w)
    # without the hook: the start on the data and derivatives from the form's jacobian
    monkeypatch.setattr(type(batch.form), "basis_slope", lambda *a: None)
    th3, val3, ok3, _, normal3 = _varpro.varpro(batch, _theta(result), y, w)
    assert ok.mean() > 0.9
    both = ok & ok3
    assert both.mean() > 0.9
    np.testing.assert_allclose(val3[both], val[both], rtol=1e-9)
    np.testing.assert_allclose(th3[both], th[both], rtol=1e-5)
    # the J'WJ handed to the covariances equals the one computed from the Jacobian
    np.testing.assert_allclose(normal3[both], normal[both], rtol=1e-8)
    jac = batch.residual_jacobian(th[both])
    direct = np.einsum("mni,mn,mnj->mij", jac, w[both], jac)
    np.testing.assert_allclose(normal[both], direct, rtol=1e-8)


def test_solver_respects_bounds_and_fixed():
    result = _fit(fixed={"E": 0.19}, bounds={"alpha": (0.0, 0.3)})
    b = result.bootstrap(200, rng=3, progress=False)
    draws = b.draws
    assert np.all(draws["E"] == 0.19)
    assert draws["alpha"].between(0.0, 0.3).all()
    assert b.confidence_interval("E") == (0.19, 0.19)
    assert b.table().loc["E", "fixed"]


def test_failed_resamples_are_counted_not_dropped():
    # 4 points and 3 parameters: many pairs resamples have fewer than 3 distinct points
    x = np.geomspace(1e7, 1e10, 4)
    y = 0.2 + 3.0 * 0.2 * (x / 1e7) ** -0.35 * np.array([1.01, 0.99, 1.0, 1.02])
    r = cs.fit("saturating", x, y, warn=False)
    with pytest.warns(ClipscaleWarning, match="resamples failed"):
        b = r.bootstrap(200, rng=0, progress=False)
    status = b.draws["status"]
    assert len(b.draws) == 200  # every resample is reported
    assert b.n_failed == int(status.isin(["failed", "degenerate"]).sum()) > 0
    assert f"failed {b.n_failed}" in b.summary()
    lo, hi = b.confidence_interval("alpha", interval="percentile")
    assert np.isfinite(lo) and np.isfinite(hi)


def test_non_finite_resample_is_status_failed():
    result = _fit()
    y = result.y.copy()
    y2 = np.vstack([y, y])
    y2[1, 3] = -1.0  # log of a negative target: no finite loss
    sol = solve(Batch.from_fit(result), _theta(result), y2, np.ones((2, result.n)))
    assert sol.status.tolist() == [0, -1]
    assert sol.counts()["failed"] == 1


# --------------------------------------------------------------------------- methods x intervals
@pytest.mark.parametrize("method", METHODS)
def test_every_method_and_interval_brackets_the_estimate(method):
    result = _fit()
    groups = np.arange(result.n) // 2 if method == "cluster" else None
    b = result.bootstrap(300, method=method, groups=groups, rng=5, progress=False)
    assert b.n_failed == 0 and b.method == method
    for kind in INTERVALS:
        for name in ("E", "alpha"):
            lo, hi = b.confidence_interval(name, interval=kind)
            assert lo < result.params[name] < hi, (method, kind, name)


@pytest.mark.parametrize("loss", ["ls", "huber_log", "msle1p", "asymmetric"])
def test_every_loss(loss):
    r = _fit(loss=loss)
    b = r.bootstrap(100, rng=0, progress=False)
    assert b.n_failed == 0
    lo, hi = b.confidence_interval("alpha", interval="percentile")
    assert lo <= r.params["alpha"] <= hi


@pytest.mark.parametrize("form", ["power", "shifted", "broken"])
def test_every_single_input_form(form):
    x, y = _data(form, n=16)
    r = cs.fit(form, x, y, warn=False)
    b = r.bootstrap(60, rng=0, progress=False)
    assert b.theta.shape == (60, len(r.form.param_names))
    assert b.n_failed == 0
    assert set(b.table().index) == set(r.form.param_names)


def test_joint_form():
    if "chinchilla" not in cs.forms.available():
        pytest.skip("no joint form registered")
    rng = np.random.default_rng(0)
    n_par = np.repeat(np.geomspace(1e7, 1e9, 4), 4)
    d = np.tile(np.geomspace(1e9, 1e11, 4), 4)
    loss = 1.7 + 400 / n_par**0.34 + 410 / d**0.28
    loss = loss * np.exp(0.01 * rng.standard_normal(16))
    r = cs.fit("chinchilla", {"params": n_par, "samples": d}, loss, warn=False)
    b = r.bootstrap(60, rng=0, progress=False)
    assert b.n_failed == 0
    new = {"params": [1e8, 1e10], "samples": [1e10, 1e12]}
    for band in (b.predict_interval(new), r.predict(new, confidence_level=0.9)):
        assert list(band.index.names) == ["params", "samples"]
        assert band["extrapolated"].tolist() == [False, True]
        assert (band["lower"] < band["estimate"]).all()
        assert (band["estimate"] < band["upper"]).all()


def test_weights_are_respected():
    r0 = _fit()
    w = np.ones(r0.n)
    w[:3] = 0.0
    r = cs.fit("saturating", r0.x, r0.y, weights=w, warn=False)
    b = r.bootstrap(100, rng=0, progress=False)
    ref = cs.fit("saturating", r0.x[3:], r0.y[3:], warn=False)
    assert b.n_units == r.n - 3
    np.testing.assert_allclose(_theta(r), _theta(ref), rtol=1e-6)
    # points of zero weight are never resampled: jackknife has one row per weighted point
    assert b.jackknife.shape[0] == r.n - 3


def test_studentized_is_default_and_t_based_for_linear_case():
    # the pure power law under log_ls is ordinary least squares on logs
    x, y = _data("power", n=12)
    r = cs.fit("power", x, y)
    b = r.bootstrap(400, method="residual", rng=0, progress=False)
    assert b.interval == DEFAULT_INTERVALS["residual"] == "studentized"
    lo, hi = b.confidence_interval("alpha")
    t = stats.t.ppf(0.975, r.dof)
    exact = (r.params["alpha"] - t * r.stderr["alpha"], r.params["alpha"] + t * r.stderr["alpha"])
    assert abs((hi - lo) / (exact[1] - exact[0]) - 1) < 0.25


# --------------------------------------------------------------------------- results as values
def test_frozen(boot):
    with pytest.raises(dataclasses.FrozenInstanceError):
        boot.method = "wild"
    with pytest.raises(ValueError):
        boot.theta[0, 0] = 1.0
    draws = boot.draws
    draws.iloc[0, 0] = -99.0
    assert boot.draws.iloc[0, 0] != -99.0
    with pytest.raises(TypeError):
        boot.solver["ok"] = 0


def test_json_round_trip(boot):
    text = boot.to_json()
    json.loads(text)  # plain JSON, no NaN tokens
    back = cs.BootstrapResult.from_json(text)
    np.testing.assert_array_equal(back.theta, boot.theta)
    np.testing.assert_array_equal(back.status, boot.status)
    np.testing.assert_array_equal(back.covariances, boot.covariances)
    for kind in INTERVALS:
        assert back.confidence_interval("alpha", interval=kind) == boot.confidence_interval(
            "alpha", interval=kind
        )
    pd.testing.assert_frame_equal(back.predict_interval([1e8]), boot.predict_interval([1e8]))
    with pytest.raises(DataError):
        cs.BootstrapResult.from_json(boot.fit.to_json())


def test_renderings(boot):
    text = boot.summary()
    assert "pairs" in text and "alpha" in text and "failed 0" in text
    assert str(boot) == text
    assert "BootstrapResult" in repr(boot)
    assert "<table>" in boot._repr_html_() and "alpha" in boot._repr_html_()


def test_draws_and_table(boot):
    d = boot.draws
    assert list(d.columns) == ["E", "A", "alpha", "loss_value", "status"]
    assert len(d) == boot.n_resamples == 300
    tab = boot.table()
    assert list(tab.columns) == ["estimate", "std", "bias", "lower", "upper", "fixed"]
    assert (tab["lower"] < tab["estimate"]).all() and (tab["estimate"] < tab["upper"]).all()
    np.testing.assert_allclose(tab.loc["alpha", "std"], d["alpha"].std(ddof=1))


def test_confidence_level_changes_width(boot):
    lo90, hi90 = boot.confidence_interval("alpha", 0.90)
    lo99, hi99 = boot.confidence_interval("alpha", confidence_level=0.99)
    assert hi99 - lo99 > hi90 - lo90
    with pytest.raises(DataError, match="confidence_level"):
        boot.confidence_interval("alpha", 95)
    with pytest.raises(DataError, match="not a parameter"):
        boot.confidence_interval("beta")


def test_predict_interval(boot):
    x_fit = boot.fit.x
    x = np.array([x_fit.min() / 10, x_fit.min(), np.sqrt(x_fit.min() * x_fit.max()), 1e12])
    band = boot.predict_interval(x)
    assert list(band.columns) == ["estimate", "lower", "upper", "extrapolated"]
    assert band.index.name == "x"
    assert band["extrapolated"].tolist() == [True, False, False, True]
    assert (band["lower"] < band["estimate"]).all() and (band["estimate"] < band["upper"]).all()
    np.testing.assert_allclose(band["estimate"], boot.fit.predict(x))
    obs = boot.predict_interval(x, kind="observation")
    inside = ~band["extrapolated"]
    assert ((obs["upper"] - obs["lower"])[inside] > (band["upper"] - band["lower"])[inside]).all()
    # a further extrapolation is less certain
    far = boot.predict_interval([1e11, 1e13])
    assert (far["upper"] / far["lower"]).is_monotonic_increasing
    with pytest.raises(DataError):
        boot.predict_interval(x, kind="new")
    with pytest.raises(DataError):
        boot.predict_interval(x, kind="observation", interval="bca")


@pytest.mark.parametrize("kind", INTERVALS)
def test_derive_matches_parameter_intervals(boot, kind):
    out = boot.derive(lambda p: p["alpha"], interval=kind)
    lo, hi = boot.confidence_interval("alpha", interval=kind)
    assert out.loc[0, "lower"] == pytest.approx(lo, rel=1e-6)
    assert out.loc[0, "upper"] == pytest.approx(hi, rel=1e-6)
    assert out.loc[0, "estimate"] == pytest.approx(boot.fit.params["alpha"])


def test_derive_scale_to_reach_a_target(boot):
    p = boot.fit.params
    target = p["E"] + 0.02

    def scale(q):
        return (q["A"] / (target - q["E"])) ** (1 / q["alpha"])

    out = boot.derive(scale)
    assert out.loc[0, "estimate"] == pytest.approx(scale(p))
    assert out.loc[0, "lower"] < out.loc[0, "estimate"] < out.loc[0, "upper"]
    # a function that only takes floats falls back to one call per resample
    out2 = boot.derive(lambda q: math.fsum([2 * q["alpha"], 1]), interval="percentile")
    lo, hi = boot.confidence_interval("alpha", interval="percentile")
    assert out2.loc[0, "lower"] == pytest.approx(2 * lo + 1, rel=1e-12)
    assert out2.loc[0, "upper"] == pytest.approx(2 * hi + 1, rel=1e-12)
    # vector output, one row per element, and NaN draws counted
    vec = boot.derive(lambda q: np.stack([q["E"], np.where(q["alpha"] > 1e9, np.nan, q["A"])], -1))
    assert len(vec) == 2 and vec["n_undefined"].tolist() == [0, 0]


def test_determinism():
    r = _fit()
    a = r.bootstrap(100, rng=42, progress=False)
    b = r.bootstrap(100, rng=42, progress=False)
    c = r.bootstrap(100, rng=np.random.default_rng(42), progress=False)
    d = r.bootstrap(100, rng=43, progress=False)
    np.testing.assert_array_equal(a.theta, b.theta)
    np.testing.assert_array_equal(a.theta, c.theta)
    assert not np.array_equal(a.theta, d.theta)
    pd.testing.assert_frame_equal(
        a.predict_interval([1e8], kind="observation"), b.predict_interval([1e8], kind="observation")
    )


def test_validation_errors():
    r = _fit()
    with pytest.raises(DataError, match="method"):
        r.bootstrap(10, method="jackknife")
    with pytest.raises(DataError, match="groups"):
        r.bootstrap(10, method="cluster")
    with pytest.raises(DataError, match="groups"):
        r.bootstrap(10, method="cluster", groups=[1, 2])
    with pytest.raises(DataError, match="confidence_level"):
        r.bootstrap(10, confidence_level=95)
    with pytest.raises(DataError, match="rng"):
        r.bootstrap(10, rng="seed")
    with pytest.raises(DataError, match="interval"):
        r.bootstrap(10, interval="normal")
    with pytest.raises(DataError, match="n_resamples"):
        r.bootstrap(1)


def test_progress_bar(capsys):
    r = _fit()
    r.bootstrap(100, rng=0, progress=False)
    assert capsys.readouterr().err == ""
    r.bootstrap(100, rng=0, progress=True)
    err = capsys.readouterr().err
    assert "bootstrap" in err
    # the leave-one-out fits ride along in the batch, but the bar counts the resamples
    assert "100/100" in err and f"{100 + r.n}" not in err


# --------------------------------------------------------------------------- delta method
def test_predict_without_level_is_unchanged():
    r = _fit()
    xs = np.array([1e8, 1e9])
    np.testing.assert_allclose(r.predict(xs), r.form.predict(r.params, xs))


def test_delta_band_is_the_ols_band_for_a_power_law():
    x, y = _data("power", n=12)
    r = cs.fit("power", x, y)
    xs = np.array([1e6, 1e8, 1e12])
    band = r.predict(xs, confidence_level=0.9)
    assert list(band.columns) == ["estimate", "lower", "upper", "extrapolated"]
    assert band["extrapolated"].tolist() == [True, False, True]
    # classical OLS confidence band for the mean of log y
    X = np.column_stack([np.ones_like(x), np.log(x)])
    coef, ssr = np.linalg.lstsq(X, np.log(y), rcond=None)[:2]
    s2 = ssr[0] / (len(x) - 2)
    X0 = np.column_stack([np.ones_like(xs), np.log(xs)])
    se = np.sqrt(s2 * np.einsum("ni,ij,nj->n", X0, np.linalg.inv(X.T @ X), X0))
    t = stats.t.ppf(0.95, len(x) - 2)
    np.testing.assert_allclose(np.log(band["lower"]), X0 @ coef - t * se, rtol=1e-7)
    np.testing.assert_allclose(np.log(band["upper"]), X0 @ coef + t * se, rtol=1e-7)


def test_delta_band_for_ls_is_symmetric():
    r = _fit(loss="ls")
    band = r.predict([1e8], confidence_level=0.95)
    mid = (band["lower"] + band["upper"]) / 2
    np.testing.assert_allclose(mid, band["estimate"], rtol=1e-12)


def test_intervals_stay_inside_bounds_and_fall_back_at_a_bound() -> None:
    # the bundled OpenCLIP ImageNet runs put the saturating floor E on its bound 0: the
    # studentized interval means nothing there (no standard error at a bound), so E gets the
    # percentile interval, and no interval end leaves its parameter's bounds
    from clipscale.datasets import load_openclip

    runs = load_openclip()
    laion = runs[(runs["family"] == "openclip") & (runs["task"] == "imagenet1k")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = cs.fit("saturating", laion["compute"], laion["metric"])
        boot = result.bootstrap(300, rng=0, progress=False)
    assert result.params["E"] == 0.0 and boot.interval == "studentized"
    low, high = boot.confidence_interval("E")
    p_low, p_high = boot.confidence_interval("E", interval="percentile")
    assert (low, high) == (max(p_low, 0.0), p_high) and high > 0
    table = boot.table()
    for name in ("E", "A", "alpha"):
        lo_b, hi_b = result.settings["bounds"][name]
        assert lo_b <= table.loc[name, "lower"] <= table.loc[name, "upper"] <= hi_b


def test_resample_counts_are_draws_with_replacement():
    from clipscale._uncertainty.schemes import counts as _counts

    gen = np.random.default_rng(0)
    c = _counts(gen, 7, 20000)
    assert c.shape == (20000, 7)
    assert np.all(c.sum(axis=1) == 7) and np.all(c >= 0)
    # multinomial(7, 1/7): mean 1 and variance 6/7 per unit, covariance -1/7 between units
    np.testing.assert_allclose(c.mean(axis=0), 1.0, atol=0.03)
    np.testing.assert_allclose(c.var(axis=0), 6 / 7, atol=0.04)
    assert abs(np.cov(c[:, 0], c[:, 1])[0, 1] + 1 / 7) < 0.03
    # the documented stream: row b counts gen.integers(0, n, size=(B, n))[b]
    idx = np.random.default_rng(5).integers(0, 7, size=(3, 7))
    expected = np.array([np.bincount(r, minlength=7) for r in idx])
    np.testing.assert_array_equal(_counts(np.random.default_rng(5), 7, 3), expected)
