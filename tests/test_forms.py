"""Forms: registry, analytic Jacobians, numerical stability and broadcasting."""

from __future__ import annotations

import numpy as np
import pytest

import clipscale
from clipscale import forms
from clipscale.exceptions import DataError

FOUNDATION = ["power", "saturating", "shifted", "broken"]
# (registry name, options): every foundation form, the broken law with 0, 1 and 2 breaks
CASES = [
    ("power", {}),
    ("saturating", {}),
    ("shifted", {}),
    ("broken", {}),
    ("broken", {"n_breaks": 0}),
    ("broken", {"n_breaks": 2}),
]
CASE_IDS = [f"{name}{opts.get('n_breaks', '')}" for name, opts in CASES]


def random_params(form: forms.Form, rng: np.random.Generator) -> dict[str, float]:
    """A random parameter vector in the range where each form is used (x ~ 1e9 ... 1e25)."""
    u = rng.uniform
    if form.name == "power":
        return {"beta": 10 ** u(-3, 3), "alpha": u(-1.5, 1.5)}
    if form.name == "saturating":
        return {"E": u(0.01, 5), "A": 10 ** u(0, 20), "alpha": u(0.05, 1.5)}
    if form.name == "shifted":
        return {"E": u(0.01, 5), "A": 10 ** u(0, 20), "s": 10 ** u(8, 22), "alpha": u(0.05, 1.5)}
    p = {"a": u(0.01, 5), "b": 10 ** u(0, 6), "c0": u(-0.3, 1.0)}
    for i in range(1, form.n_breaks + 1):
        p.update({f"c{i}": u(-0.8, 0.8), f"d{i}": 10 ** u(10, 22), f"f{i}": u(0.2, 5)})
    return p


def naive(form: forms.Form, p: dict[str, float], x: np.ndarray) -> np.ndarray:
    """Each formula written out directly (no log-space tricks), for moderate arguments."""
    if form.name == "power":
        return p["beta"] * x ** p["alpha"]
    if form.name == "saturating":
        return p["E"] + p["A"] * x ** -p["alpha"]
    if form.name == "shifted":
        return p["E"] + p["A"] * (x + p["s"]) ** -p["alpha"]
    y = p["b"] * x ** -p["c0"]
    for i in range(1, form.n_breaks + 1):
        c, d, f = p[f"c{i}"], p[f"d{i}"], p[f"f{i}"]
        y = y * (1 + (x / d) ** (1 / f)) ** (-c * f)
    return p["a"] + y


def central_difference(
    form: forms.Form, p: dict[str, float], x: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Central differences, and the rounding error each entry carries (eps |y| / h)."""
    cols, noise = [], []
    y = np.abs(form.predict(p, x))
    for name in form.param_names:
        h = 1e-6 * max(abs(p[name]), 1e-3)
        up, down = dict(p), dict(p)
        up[name] += h
        down[name] -= h
        cols.append((form.predict(up, x) - form.predict(down, x)) / (2 * h))
        noise.append(np.finfo(float).eps * y / h)
    return np.stack(cols, axis=-1), np.stack(noise, axis=-1)


# --------------------------------------------------------------------------- registry
def test_available_lists_the_foundation_forms_sorted():
    names = forms.available()
    assert set(FOUNDATION) <= set(names)
    assert names == sorted(names)


@pytest.mark.parametrize("name", FOUNDATION)
def test_get_returns_a_form_of_that_name(name):
    form = forms.get(name)
    assert isinstance(form, forms.Form)
    assert form.name == name
    assert forms.get(form) is form  # an instance passes through
    assert len(set(form.param_names)) == form.n_params
    assert set(form.linear) <= set(form.param_names)
    assert set(form.nonlinear) == set(form.param_names) - set(form.linear)
    assert set(form.default_bounds()) == set(form.param_names)
    assert form.formula and form.reference and form.__doc__


@pytest.mark.parametrize(("name", "options"), CASES, ids=CASE_IDS)
def test_from_spec_rebuilds_an_equal_form(name, options):
    form = forms.get(name, **options)
    again = forms.from_spec(form.spec())
    assert again == form
    assert hash(again) == hash(form)
    assert again.param_names == form.param_names


def test_forms_with_different_options_differ():
    assert forms.get("broken", n_breaks=1) != forms.get("broken", n_breaks=2)
    assert forms.get("power") != forms.get("saturating")


@pytest.mark.parametrize("bad", ["nope", "Power", "", None, 3])
def test_unknown_form_is_a_data_error_listing_the_choices(bad):
    with pytest.raises(DataError, match="unknown form") as info:
        forms.get(bad)
    assert isinstance(info.value, ValueError)
    for name in FOUNDATION:
        assert name in str(info.value)


def test_unknown_form_in_fit_and_spec_is_a_data_error():
    with pytest.raises(DataError):
        forms.from_spec({"name": "no_such_form"})
    with pytest.raises(DataError):
        clipscale.fit("no_such_form", [1e9, 1e10, 1e11], [3.0, 2.0, 1.0])


def test_options_with_an_instance_and_bad_n_breaks_are_data_errors():
    with pytest.raises(DataError):
        forms.get(forms.get("broken"), n_breaks=2)
    for bad in (-1, 1.5):
        with pytest.raises(DataError, match="n_breaks"):
            forms.get("broken", n_breaks=bad)


def test_register_refuses_to_replace_a_registered_form():
    with pytest.raises(DataError, match="already registered"):
        forms.register("power", forms.SaturatingPowerLaw)
    assert type(forms.get("power")) is forms.PowerLaw


def test_broken_parameter_names():
    assert forms.BrokenPowerLaw(n_breaks=2).param_names == (
        "a", "b", "c0", "c1", "d1", "f1", "c2", "d2", "f2",
    )  # fmt: skip
    assert forms.BrokenPowerLaw().param_names == ("a", "b", "c0", "c1", "d1", "f1")
    assert forms.BrokenPowerLaw(n_breaks=0).param_names == ("a", "b", "c0")


# --------------------------------------------------------------------------- evaluation
@pytest.mark.parametrize(("name", "options"), CASES, ids=CASE_IDS)
def test_predict_matches_the_formula(name, options):
    form = forms.get(name, **options)
    rng = np.random.default_rng(1)
    x = np.geomspace(1e9, 1e25, 33)
    for _ in range(10):
        p = random_params(form, rng)
        np.testing.assert_allclose(form.predict(p, x), naive(form, p, x), rtol=1e-10)


@pytest.mark.parametrize(("name", "options"), CASES, ids=CASE_IDS)
def test_jacobian_matches_central_differences(name, options):
    form = forms.get(name, **options)
    rng = np.random.default_rng(2)
    x = np.geomspace(1e9, 1e25, 41)
    for _ in range(8):
        p = random_params(form, rng)
        jac = form.jacobian(p, x)
        assert jac.shape == (x.size, form.n_params)
        fd, noise = central_difference(form, p, x)
        # relative tolerance 1e-5 per entry, plus the differences' own rounding error (a
        # derivative far smaller than y/h, e.g. d/dA where E dominates y, is mostly rounding)
        floor = np.maximum(10 * noise, 1e-12 * np.max(np.abs(fd), axis=0))
        bad = np.abs(jac - fd) > 1e-5 * np.abs(fd) + floor
        assert not bad.any(), (p, np.argwhere(bad)[:5], jac[bad][:5], fd[bad][:5])


@pytest.mark.parametrize(("name", "options"), CASES, ids=CASE_IDS)
def test_evaluation_is_finite_from_1_to_1e30(name, options):
    form = forms.get(name, **options)
    rng = np.random.default_rng(3)
    x = np.geomspace(1e0, 1e30, 121)
    for _ in range(20):
        p = random_params(form, rng)
        with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow is harmless
            y = form.predict(p, x)
            log_y = form.log_predict(p, x)
            jac = form.jacobian(p, x)
        assert np.all(np.isfinite(y)) and np.all(y > 0)
        assert np.all(np.isfinite(log_y))
        assert np.all(np.isfinite(jac))
        np.testing.assert_allclose(log_y, np.log(y), rtol=1e-12, atol=1e-12)


def test_log_predict_stays_finite_where_predict_under_or_overflows():
    x = np.array([1.0, 1e15, 1e30])
    # beta * x**alpha = 1e-600 at 1e30: predict underflows to 0, its log is exact
    power = forms.get("power")
    p = {"beta": 1.0, "alpha": -20.0}
    np.testing.assert_allclose(power.log_predict(p, x), -20.0 * np.log(x), rtol=1e-14)
    # a very sharp break at 1e10: naive (x/d)**(1/f) = 1e2000 overflows
    broken = forms.get("broken")
    p = {"a": 0.5, "b": 2.0, "c0": 0.3, "c1": 0.4, "d1": 1e10, "f1": 0.01}
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = broken.predict(p, x)
        log_y = broken.log_predict(p, x)
        jac = broken.jacobian(p, x)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(log_y)) and np.all(np.isfinite(jac))
    # far past a sharp break the law is b * x**-(c0+c1) * d**c1 plus a
    tail = p["a"] + p["b"] * 1e30 ** -(p["c0"] + p["c1"]) * 1e10 ** p["c1"]
    np.testing.assert_allclose(y[-1], tail, rtol=1e-12)
    # saturating with a tiny reducible part at 1e30: log-space sum keeps log(E + tiny)
    sat = forms.get("saturating")
    p = {"E": 1e-3, "A": 1e-200, "alpha": 1.0}
    np.testing.assert_allclose(sat.log_predict(p, x), np.log(1e-3 + 1e-200 / x), rtol=1e-14)


# --------------------------------------------------------------------------- broadcasting
@pytest.mark.parametrize(("name", "options"), CASES, ids=CASE_IDS)
def test_batched_parameters_broadcast(name, options):
    form = forms.get(name, **options)
    rng = np.random.default_rng(4)
    x = np.geomspace(1e9, 1e25, 17)
    vectors = [random_params(form, rng) for _ in range(5)]
    batched = {k: np.array([[v[k]] for v in vectors]) for k in form.param_names}
    y = form.predict(batched, x)
    log_y = form.log_predict(batched, x)
    jac = form.jacobian(batched, x)
    assert y.shape == (5, x.size)
    assert log_y.shape == (5, x.size)
    assert jac.shape == (5, x.size, form.n_params)
    for b, p in enumerate(vectors):
        np.testing.assert_allclose(y[b], form.predict(p, x), rtol=1e-14)
        np.testing.assert_allclose(log_y[b], form.log_predict(p, x), rtol=1e-14, atol=1e-14)
        np.testing.assert_allclose(jac[b], form.jacobian(p, x), rtol=1e-14)


@pytest.mark.parametrize(("name", "options"), CASES, ids=CASE_IDS)
@pytest.mark.parametrize("which", [0, -1])
def test_one_batched_parameter_among_scalars_broadcasts(name, options, which):
    """The docstring's promise: each parameter may be a scalar *or* a (B, 1) array."""
    form = forms.get(name, **options)
    rng = np.random.default_rng(5)
    x = np.geomspace(1e9, 1e25, 9)
    p = random_params(form, rng)
    key = form.param_names[which]
    values = p[key] * np.array([0.5, 1.0, 2.0])
    mixed = dict(p, **{key: values[:, None]})
    y, jac = form.predict(mixed, x), form.jacobian(mixed, x)
    assert y.shape == (3, x.size)
    assert jac.shape == (3, x.size, form.n_params)
    for b, v in enumerate(values):
        single = dict(p, **{key: v})
        np.testing.assert_allclose(y[b], form.predict(single, x), rtol=1e-14)
        np.testing.assert_allclose(jac[b], form.jacobian(single, x), rtol=1e-14)


@pytest.mark.parametrize(("name", "options"), CASES, ids=CASE_IDS)
def test_basis_times_linear_parameters_is_the_prediction(name, options):
    form = forms.get(name, **options)
    rng = np.random.default_rng(6)
    x = np.geomspace(1e9, 1e25, 21)
    vectors = [random_params(form, rng) for _ in range(4)]
    nl = {k: np.array([v[k] for v in vectors]) for k in form.nonlinear}
    basis = form.basis(nl, x)
    assert basis.shape == (4, x.size, len(form.linear))
    for g, p in enumerate(vectors):
        coef = np.array([p[k] for k in form.linear])
        np.testing.assert_allclose(basis[g] @ coef, form.predict(p, x), rtol=1e-12)


@pytest.mark.parametrize(("name", "options"), CASES, ids=CASE_IDS)
def test_nonlinear_grid_is_finite_and_inside_default_bounds(name, options):
    form = forms.get(name, **options)
    x = np.geomspace(1e18, 1e23, 20)
    grid = form.nonlinear_grid(x, 1.0 + x**-0.1)
    assert set(grid) == set(form.nonlinear)
    bounds = form.default_bounds()
    for k, values in grid.items():
        values = np.asarray(values)
        assert values.ndim == 1 and values.size >= 2 and np.all(np.isfinite(values))
        assert np.all(values >= bounds[k][0]) and np.all(values <= bounds[k][1])


@pytest.mark.parametrize("name", ["power", "saturating", "shifted", "broken"])
def test_guess_is_data_driven_and_close(name: str) -> None:
    # the guess is the best start-grid point: finite, inside the bounds, and its predictions
    # already follow noise-free data to within a factor of 2 (before any polish)
    form = forms.get(name)
    true = {
        "power": {"beta": 3.0, "alpha": -0.1},
        "saturating": {"E": 0.5, "A": 1e3, "alpha": 0.15},
        "shifted": {"E": 0.5, "A": 1e3, "s": 1e12, "alpha": 0.15},
        "broken": {"a": 0.3, "b": 1e3, "c0": 0.1, "c1": 0.2, "d1": 1e17, "f1": 2.0},
    }[name]
    x = np.geomspace(1e9, 1e25, 30)
    y = form.predict(true, x)
    guess = form.guess(x, y)
    assert set(guess) == set(form.param_names)
    bounds = form.default_bounds()
    for p, v in guess.items():
        assert np.isfinite(v) and bounds[p][0] <= v <= bounds[p][1]
    ratio = form.predict(guess, x) / y
    assert np.all((ratio > 0.5) & (ratio < 2.0))
    # and it moves with the data: a different law gives a different guess
    assert form.guess(x, y * np.geomspace(1.0, 3.0, x.size)) != guess
