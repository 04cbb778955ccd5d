"""Text and HTML renderings of FitResult against checked-in golden files.

The fits are deterministic (fixed synthetic data, a deterministic fitter), so their reports are
compared character for character with ``tests/golden/<case>.txt`` and ``<case>.html``. After an
intended change of the rendering, regenerate the files and review the diff::

    CLIPSCALE_UPDATE_GOLDEN=1 pytest tests/test_render.py
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
import pytest

from clipscale import fit
from clipscale.results import format_value

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("CLIPSCALE_UPDATE_GOLDEN", "") not in ("", "0")

# NIST StRD DanWood (public domain): y = b1 * x**b2, certified b1 = 0.76886226176,
# b2 = 3.8604055871
_DANWOOD_X = np.array([1.309, 1.471, 1.490, 1.565, 1.611, 1.680])
_DANWOOD_Y = np.array([2.138, 3.421, 3.597, 4.340, 4.882, 5.660])


def _saturating_data() -> tuple[np.ndarray, np.ndarray]:
    x = np.geomspace(1e9, 1e13, 12)
    y = (0.15 + 40.0 * x**-0.2) * np.exp(0.02 * np.sin(np.arange(12)))
    return x, y


def _shifted_data() -> tuple[np.ndarray, np.ndarray]:
    x = np.geomspace(1.0, 1e4, 15)
    y = (0.1 + 2.0 * (x + 30.0) ** -0.5) * (1 + 0.01 * np.sin(np.arange(15)))
    return x * 1e12, y


def _cases():
    x, y = _saturating_data()
    pure = 5.0 * x**-0.1 * np.exp(0.01 * np.cos(np.arange(12)))
    return {
        "danwood_power_ls": lambda: fit("power", _DANWOOD_X, _DANWOOD_Y, loss="ls"),
        "saturating": lambda: fit("saturating", x, y),
        "saturating_fixed_floor": lambda: fit("saturating", x, y, fixed={"E": 0.15}),
        "saturating_weak_floor": lambda: fit("saturating", x, pure, warn=False),
        "shifted_large_scale": lambda: fit("shifted", *_shifted_data()),
        "saturating_bounded_exponent": lambda: fit(
            "saturating", x, y, bounds={"alpha": (0.0, 0.15)}, warn=False
        ),
    }


CASES = _cases()


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.is_file():
        pytest.fail(f"{path} is missing; run CLIPSCALE_UPDATE_GOLDEN=1 pytest {__file__}")
    expected = path.read_text(encoding="utf-8")
    assert text == expected, f"{name} differs from its golden file (see the module docstring)"


@pytest.mark.parametrize("case", list(CASES))
def test_summary_matches_golden(case: str) -> None:
    _check(f"{case}.txt", CASES[case]().summary() + "\n")


@pytest.mark.parametrize("case", list(CASES))
def test_html_matches_golden(case: str) -> None:
    _check(f"{case}.html", CASES[case]()._repr_html_() + "\n")


def test_golden_files_are_all_used() -> None:
    expected = {f"{c}.{ext}" for c in CASES for ext in ("txt", "html")}
    assert {p.name for p in GOLDEN.iterdir()} == expected


def test_danwood_summary_shows_certified_values() -> None:
    text = CASES["danwood_power_ls"]().summary()
    # certified: b1 = 0.76886 +- 0.018282, b2 = 3.8604 +- 0.051727
    assert re.search(r"beta\s+0\.7689\s+0\.0183\n", text)
    assert re.search(r"alpha\s+3\.860\s+0\.052$", text, re.MULTILINE)


@pytest.mark.parametrize(
    ("value", "err", "shown", "err_shown"),
    [
        (0.347312, 0.015437, "0.3473", "0.0154"),  # leading 1: three digits of the error
        (0.347312, 0.025437, "0.347", "0.025"),  # otherwise two
        (-0.11139, 0.0042, "-0.1114", "0.0042"),
        (5.8581234, 0.31, "5.86", "0.31"),
        (2.0, 0.0999, "2.000", "0.100"),  # the error rounds up to 0.100
        (32000.0, 1537.0, "32000", "1540"),
        (0.0023, 15.0, "0.0023", "15.0"),  # below its error's precision: 2 digits, never 0
        (5.0, 16400.0, "5", "16400"),
        (1e-5, 3e-7, "1.000e-05", "3.0e-07"),
        (3.2e7, 2.5e6, "3.20e+07", "2.5e+06"),
        (9.99996e6, 3.0, "9999960.0", "3.0"),
        (0.5, 0.0, "0.5", "0"),
        (0.123456789, None, "0.123457", None),
        (0.5, float("nan"), "0.5", "nan"),
        (float("inf"), 0.1, "inf", "0.100"),
        (-0.00724057, 4.2133e-5, "-0.007241", "0.000042"),
        (2.7e20, 2.1e20, "2.7e+20", "2.1e+20"),
        (35000.0, 34000.0, "35000", "34000"),
        (1e-5, 1e-3, "0.00001", "0.00100"),
    ],
)
def test_format_value(value: float, err: float | None, shown: str, err_shown: str | None) -> None:
    assert format_value(value, err) == shown
    if err_shown is not None:
        assert format_value(err, err) == err_shown


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


@pytest.mark.parametrize("seed", range(5))
def test_value_and_error_end_on_the_same_digit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(200):
        value = rng.choice([-1, 1]) * 10 ** rng.uniform(-3, 5)
        err = abs(value) * 10 ** rng.uniform(-4, 0.5)
        v, e = format_value(value, err), format_value(err, err)
        assert ("e" in v) == ("e" in e), (value, err, v, e)
        if "e" in v:
            continue
        assert _decimals(v) == _decimals(e), (value, err, v, e)
        assert abs(float(v) - value) <= 0.5 * 10 ** -_decimals(v) * (1 + 1e-9) or _decimals(v) == 0
        digits = e.replace(".", "").lstrip("0")
        assert len(digits) in (2, 3) or float(e) >= 10 ** (len(e.split(".")[0]) - 1), (err, e)
        assert math.isclose(float(e), err, rel_tol=0.05)
