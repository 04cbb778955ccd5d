"""NIST StRD certified values: DanWood (y = b1 x^b2) and Bennett5 (y = b1 (b2 + x)^(-1/b3)).

The files live in ``../shared/data/nist/`` relative to the repository root; the certified
values, their standard deviations and the residual sum of squares are read from each file's
header, never typed in here.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from clipscale import fit, fit_power_law

NIST = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "nist"
NUMBER = r"[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"


def load(name: str) -> dict:
    """Certified values ``{b: (value, sd)}``, residual sum of squares and data of a StRD file."""
    path = NIST / name
    if not path.is_file():
        pytest.skip(f"../shared/data/nist not found: {path.resolve()} is missing")
    text = path.read_text()
    certified = {
        m.group(1): (float(m.group(2)), float(m.group(3)))
        for m in re.finditer(rf"^\s*(b\d+)\s*=.*?({NUMBER})\s+({NUMBER})\s*$", text, re.M)
    }
    rss = float(re.search(rf"Residual Sum of Squares:\s*({NUMBER})", text).group(1))
    n_obs = int(re.search(r"Number of Observations:\s*(\d+)", text).group(1))
    data_start = re.search(r"^Data:\s+y\s+x\s*$", text, re.M).end()
    data = np.array([[float(v) for v in line.split()] for line in text[data_start:].splitlines()
                     if line.strip()])  # fmt: skip
    assert data.shape == (n_obs, 2)
    return {"certified": certified, "rss": rss, "y": data[:, 0], "x": data[:, 1]}


def test_header_parsing_finds_every_parameter():
    for name, n_params in (("DanWood.dat", 2), ("Bennett5.dat", 3)):
        certified = load(name)["certified"]
        assert sorted(certified) == [f"b{i}" for i in range(1, n_params + 1)]
        assert all(sd > 0 for _, sd in certified.values())


def test_danwood():
    d = load("DanWood.dat")
    cert = d["certified"]
    result = fit_power_law(d["x"], d["y"], loss="ls")
    # 6 significant digits for values and standard errors
    assert result.params["beta"] == pytest.approx(cert["b1"][0], rel=1e-6)
    assert result.params["alpha"] == pytest.approx(cert["b2"][0], rel=1e-6)
    assert result.stderr["beta"] == pytest.approx(cert["b1"][1], rel=1e-6)
    assert result.stderr["alpha"] == pytest.approx(cert["b2"][1], rel=1e-6)
    assert result.loss_value == pytest.approx(d["rss"], rel=1e-8)
    assert result.dof == d["x"].size - 2


def test_bennett5():
    d = load("Bennett5.dat")
    cert = d["certified"]
    result = fit(
        "shifted",
        d["x"],
        d["y"],
        loss="ls",
        fixed={"E": 0.0},
        bounds={"A": (-np.inf, np.inf)},
    )
    p, se = result.params, result.stderr
    alpha = p["alpha"]
    # b1 = A, b2 = s, b3 = 1/alpha; values to 6 significant digits (rtol 1e-6)
    assert p["A"] == pytest.approx(cert["b1"][0], rel=1e-6)
    assert p["s"] == pytest.approx(cert["b2"][0], rel=1e-6)
    assert 1 / alpha == pytest.approx(cert["b3"][0], rel=1e-6)
    # standard errors also to 6 significant digits (rtol 1e-6; they agree to ~3e-7 although
    # A and s correlate at -0.99995), se(b3) = se(alpha) / alpha**2 by the delta method,
    # which is exact for the linearised errors that NIST certifies
    assert se["A"] == pytest.approx(cert["b1"][1], rel=1e-6)
    assert se["s"] == pytest.approx(cert["b2"][1], rel=1e-6)
    assert se["alpha"] / alpha**2 == pytest.approx(cert["b3"][1], rel=1e-6)
    assert result.loss_value == pytest.approx(d["rss"], rel=1e-8)
    assert result.params["E"] == 0.0 and result.stderr["E"] == 0.0
