"""FitResult: frozen value, JSON round trip, renderings, lmfit export, provenance."""

from __future__ import annotations

import dataclasses
import json
import re

import lmfit
import numpy as np
import pytest

import clipscale
from clipscale import DataError, FitResult, fit, forms

X = np.geomspace(1e15, 1e23, 30)
NOISE = np.exp(0.02 * np.random.default_rng(0).standard_normal(X.size))
BROKEN2_FIXED = {"d1": 1e17, "f1": 1.0, "d2": 1e20, "f2": 1.0}
TRUTH = {
    "power": ({"beta": 2e3, "alpha": -0.2}, {}),
    "saturating": ({"E": 0.8, "A": 3e3, "alpha": 0.2}, {}),
    "shifted": ({"E": 0.8, "A": 3e3, "s": 1e17, "alpha": 0.25}, {}),
    "broken": ({"a": 0.5, "b": 2e3, "c0": 0.1, "c1": 0.15, "d1": 1e19, "f1": 1.5}, {}),
    # two breaks, with their locations and sharpness fixed to keep the test quick
    "broken2": (
        {"a": 0.5, "b": 150.0, "c0": 0.1, "c1": 0.2, "c2": 0.3, **BROKEN2_FIXED},
        {"fixed": BROKEN2_FIXED},
    ),
}


def form_of(key: str) -> forms.Form:
    return forms.get("broken", n_breaks=2) if key == "broken2" else forms.get(key)


_CACHE: dict[str, FitResult] = {}


def fitted(key: str) -> FitResult:
    if key not in _CACHE:
        params, kwargs = TRUTH[key]
        form = form_of(key)
        y = form.predict(params, X) * NOISE
        _CACHE[key] = fit(form, X, y, warn=False, **kwargs)
    return _CACHE[key]


def assert_same_result(a: FitResult, b: FitResult) -> None:
    assert a.form == b.form
    assert a.form.param_names == b.form.param_names
    assert dict(a.params) == dict(b.params)
    assert list(a.stderr) == list(b.stderr)
    np.testing.assert_array_equal(list(a.stderr.values()), list(b.stderr.values()))
    assert list(a.covariance.columns) == list(b.covariance.columns)
    assert list(a.covariance.index) == list(b.covariance.index)
    np.testing.assert_array_equal(a.covariance.to_numpy(), b.covariance.to_numpy())
    assert a.notes == b.notes
    assert (a.loss, a.loss_value, a.n, a.dof) == (b.loss, b.loss_value, b.n, b.dof)
    assert a.data_hash == b.data_hash and a.version == b.version
    for name in ("x", "y", "weights"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    grid = np.geomspace(1e12, 1e27, 50)
    np.testing.assert_array_equal(a.predict(grid), b.predict(grid))
    assert a.settings["fixed"] == b.settings["fixed"]
    assert a.settings["bounds"] == b.settings["bounds"]


# --------------------------------------------------------------------------- frozen
def test_result_is_frozen():
    r = fitted("saturating")
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.loss_value = 0.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.params = {"E": 1.0}
    with pytest.raises(TypeError):
        r.params["E"] = 1.0
    with pytest.raises(TypeError):
        r.stderr["E"] = 1.0
    with pytest.raises(TypeError):
        r.settings["fixed"] = {}
    for name in ("x", "y", "weights"):
        array = getattr(r, name)
        assert not array.flags.writeable
        with pytest.raises(ValueError):
            array[0] = 1.0
    with pytest.raises(AttributeError):
        r.notes.append("x")


def test_result_does_not_share_memory_with_the_caller():
    x = X.copy()
    y = forms.get("saturating").predict(TRUTH["saturating"][0], x) * NOISE
    w = np.ones_like(x)
    r = fit("saturating", x, y, weights=w, warn=False)
    before = (r.x.copy(), r.y.copy(), r.weights.copy(), r.predict(x))
    x[:] = 1.0
    y[:] = 1.0
    w[:] = 5.0
    np.testing.assert_array_equal(r.x, before[0])
    np.testing.assert_array_equal(r.y, before[1])
    np.testing.assert_array_equal(r.weights, before[2])


def test_covariance_is_read_only():
    r = fitted("shifted")
    with pytest.raises(ValueError):
        r.covariance.iloc[0, 0] = -1.0
    with pytest.raises(ValueError):
        r.covariance.to_numpy()[0, 1] = 0.0


@pytest.mark.parametrize("key", list(TRUTH))
def test_covariance_is_symmetric_and_positive_definite(key):
    r = fitted(key)
    cov = r.covariance.to_numpy()
    np.testing.assert_array_equal(cov, cov.T)  # symmetrized by the fit, exactly
    sd = np.sqrt(np.diag(cov))
    assert sd.tolist() == pytest.approx([r.stderr[p] for p in r.free_params], rel=1e-12)
    # Definiteness is checked on the correlation matrix D^-1/2 C D^-1/2, not on C: the entries
    # of C span ~40 decades (1e-5 to 3e33 for "shifted"), so eigvalsh(C) has absolute rounding
    # errors of ~eps * 3e33 ~ 1e18 and its small eigenvalues come out with either sign
    # depending on the BLAS kernel and thread count. Scaling to a unit diagonal is a congruence
    # (it keeps the signs of the eigenvalues) and leaves a matrix whose eigenvalues are
    # computed to ~k * eps; the smallest must clear that by a wide margin.
    corr = cov / np.outer(sd, sd)
    k = len(corr)
    np.testing.assert_allclose(np.diag(corr), 1.0, rtol=1e-14)
    assert np.all(np.abs(corr) <= 1.0 + 1e-14)
    eig = np.linalg.eigvalsh(corr)
    assert eig.sum() == pytest.approx(k, rel=1e-12)  # the trace
    assert eig.min() > 1e3 * k * np.finfo(float).eps * eig.max(), eig


def test_fixed_parameters_are_listed_and_free_ones_are_in_the_covariance():
    r = fitted("broken2")
    assert set(r.free_params) == {"a", "b", "c0", "c1", "c2"}
    for name, value in BROKEN2_FIXED.items():
        assert r.params[name] == value and r.stderr[name] == 0.0
    assert r.settings["fixed"] == BROKEN2_FIXED


# --------------------------------------------------------------------------- JSON
@pytest.mark.parametrize("key", list(TRUTH))
def test_json_round_trip(key):
    r = fitted(key)
    text = r.to_json()
    back = FitResult.from_json(text)
    assert_same_result(r, back)
    assert back.to_json() == text  # and again, byte for byte
    assert json.loads(text)["form"] == form_of(key).spec()


def test_json_round_trip_keeps_nan_stderr_notes_and_loss_settings():
    x = np.geomspace(1e18, 1e22, 15)
    y = 0.5 + 0.1 * np.log10(x / 1e18)  # degenerate: parameters at bounds, notes
    r = fit("saturating", x, y, loss="huber_log", huber_delta=0.05, warn=False)
    assert r.notes
    back = FitResult.from_json(r.to_json())
    assert_same_result(r, back)
    assert back.settings["huber_delta"] == 0.05
    # NaN becomes null in the JSON text (strict JSON) and comes back as NaN
    nan_stderr = {k: np.nan for k in r.stderr}
    nan_result = dataclasses.replace(r, stderr=nan_stderr)
    text = nan_result.to_json()
    assert "NaN" not in text
    assert all(np.isnan(v) for v in FitResult.from_json(text).stderr.values())


def test_json_bounds_with_infinities_round_trip():
    r = fitted("power")  # alpha is unbounded: -inf, inf
    assert r.settings["bounds"]["alpha"] == [-np.inf, np.inf]
    back = FitResult.from_json(r.to_json())
    assert back.settings["bounds"]["alpha"] == [-np.inf, np.inf]
    assert back.settings["bounds"]["beta"] == [0.0, np.inf]


@pytest.mark.parametrize(
    "tamper",
    [
        lambda d: d["data"]["y"].__setitem__(0, d["data"]["y"][0] * 1.001),
        lambda d: d["data"]["x"].pop(),
        lambda d: d["data"]["weights"].__setitem__(3, 0.0),
        lambda d: d.__setitem__("data_hash", "0" * 16),
    ],
    ids=["y", "x", "weights", "hash"],
)
def test_tampered_data_is_a_data_error(tamper):
    d = json.loads(fitted("saturating").to_json())
    tamper(d)
    with pytest.raises(DataError, match="data_hash"):
        FitResult.from_json(json.dumps(d))


@pytest.mark.parametrize(
    "text",
    ["", "not json", "{", "[1, 2]", "null", '{"schema": "something/else"}', "{}"],
)
def test_invalid_json_is_a_data_error(text):
    with pytest.raises(DataError) as info:
        FitResult.from_json(text)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("key", ["params", "covariance", "data", "form", "settings"])
def test_json_missing_a_field_is_a_data_error(key):
    d = json.loads(fitted("saturating").to_json())
    del d[key]
    with pytest.raises(DataError):
        FitResult.from_json(json.dumps(d))


def test_json_with_an_unknown_form_is_a_data_error():
    d = json.loads(fitted("saturating").to_json())
    d["form"] = {"name": "no_such_form"}
    with pytest.raises(DataError, match="no_such_form"):
        FitResult.from_json(json.dumps(d))


# --------------------------------------------------------------------------- renderings
def numbers_in(text: str) -> list[float]:
    return [float(v) for v in re.findall(r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?", text)]


@pytest.mark.parametrize("key", ["saturating", "broken2"])
def test_summary_shows_every_parameter_with_its_value(key):
    r = fitted(key)
    text = r.summary()
    assert str(r) == text
    assert r.form.name in text and r.loss in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.strip()}
    for name in r.form.param_names:
        assert name in lines, name
        shown = numbers_in(lines[name].split(None, 1)[1])[0]
        # the value is rounded to the digits its error supports: within half an error of it
        tolerance = 0.5 * r.stderr[name] * 1.05 if r.stderr[name] > 0 else 1e-6 * abs(shown)
        assert abs(shown - r.params[name]) <= tolerance, (name, shown, r.params[name])
        if name not in r.free_params:
            assert "fixed" in lines[name]
    assert f"{r.n}" in text and f"{r.dof}" in text


def test_summary_lists_the_notes():
    x = np.geomspace(1e18, 1e22, 15)
    r = fit("saturating", x, 0.5 + 0.1 * np.log10(x / 1e18), warn=False)
    assert r.notes
    for note in r.notes:
        assert note in r.summary()


def test_html_has_a_table_with_every_parameter():
    r = fitted("shifted")
    page = r._repr_html_()
    assert "<table" in page and "</table>" in page
    rows = re.findall(r"<tr>(.*?)</tr>", page)
    names = [re.search(r"<td>(.*?)</td>", row).group(1) for row in rows if "<td>" in row]
    assert names == list(r.form.param_names)
    assert page.count("<") == page.count(">")


def test_repr_names_the_form_and_values():
    r = fitted("power")
    text = repr(r)
    assert "power" in text and "beta=" in text and "alpha=" in text


# --------------------------------------------------------------------------- lmfit
@pytest.mark.parametrize("key", ["shifted", "broken2"])
def test_to_lmfit(key):
    r = fitted(key)
    params = r.to_lmfit()
    assert isinstance(params, lmfit.Parameters)
    assert list(params) == list(r.form.param_names)
    cov = r.covariance.to_numpy()
    free = list(r.free_params)
    for name in r.form.param_names:
        par = params[name]
        assert par.value == r.params[name]
        assert par.stderr == r.stderr[name]
        assert par.vary == (name in free)
        assert [par.min, par.max] == r.settings["bounds"][name]
    for i, a in enumerate(free):
        for j, b in enumerate(free):
            if i != j:
                expected = cov[i, j] / np.sqrt(cov[i, i] * cov[j, j])
                assert params[a].correl[b] == pytest.approx(expected, rel=1e-12)
                assert params[a].correl[b] == params[b].correl[a]
                assert -1 <= params[a].correl[b] <= 1
    # the exported parameters feed back into fit: the same optimum (A of "shifted" is only
    # weakly determined, so parameters agree to 1e-4 and the objective to far better)
    again = fit(r.form, r.x, r.y, params=params, warn=False)
    assert again.loss_value == pytest.approx(r.loss_value, rel=1e-9)
    assert again.params == pytest.approx(dict(r.params), rel=1e-4)
    assert again.free_params == r.free_params


# --------------------------------------------------------------------------- provenance
def test_provenance_fields():
    r = fitted("saturating")
    d = r.to_dict()
    assert d["clipscale_version"] == clipscale.__version__ == r.version
    assert d["form"] == {"name": "saturating"}
    assert d["loss"] == "log_ls"
    assert d["settings"]["bounds"]["E"] == [0.0, None]  # inf is null in JSON
    assert d["data_hash"] == r.data_hash
    assert re.fullmatch(r"[0-9a-f]{16}", r.data_hash)


def test_data_hash_changes_when_the_data_changes():
    params = TRUTH["saturating"][0]
    y = forms.get("saturating").predict(params, X) * NOISE
    base = fit("saturating", X, y, warn=False).data_hash
    assert fit("saturating", X.copy(), y.copy(), warn=False).data_hash == base
    y2 = y.copy()
    y2[7] = np.nextafter(y2[7], np.inf)  # one ulp
    assert fit("saturating", X, y2, warn=False).data_hash != base
    x2 = X.copy()
    x2[0] *= 1.0001
    assert fit("saturating", x2, y, warn=False).data_hash != base
    w = np.ones_like(X)
    w[4] = 2.0
    assert fit("saturating", X, y, weights=w, warn=False).data_hash != base
