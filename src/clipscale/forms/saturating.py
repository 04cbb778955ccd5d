"""Saturating power law (power law plus an irreducible floor)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._base import Bounds, Form, exponent_grid, mathtext_number

__all__ = ["SaturatingPowerLaw"]


class SaturatingPowerLaw(Form):
    r"""Saturating power law :math:`y = E + A x^{-\alpha}`.

    ``E`` is the irreducible error the law approaches as ``x`` grows, ``A`` the scale of the
    reducible part and ``alpha`` its exponent; the form of Hestness et al. 2017 ("Deep learning
    scaling is predictable, empirically") and of the one-variable terms of Hoffmann et al. 2022.
    Evaluated as ``E + A * exp(-alpha * log(x))``; with ``E, A > 0`` the log-space prediction
    is ``logaddexp(log E, log A - alpha log x)``.

    Parameters (fitted)
    -------------------
    E : float
        Irreducible floor, >= 0 by default.
    A : float
        Scale of the reducible term, >= 0 by default.
    alpha : float
        Exponent, >= 0 by default.
    """

    name = "saturating"
    formula = "y = E + A * x**(-alpha)"
    reference = "Hestness et al. 2017, arXiv:1712.00409"
    param_names = ("E", "A", "alpha")
    linear = ("E", "A")

    def default_bounds(self) -> Bounds:
        return {"E": (0.0, np.inf), "A": (0.0, np.inf), "alpha": (0.0, np.inf)}

    def predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return p["E"] + p["A"] * np.exp(-p["alpha"] * np.log(x))

    def log_predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        if np.all(np.asarray(p["E"]) > 0) and np.all(np.asarray(p["A"]) > 0):
            x = np.asarray(x, dtype=float)
            with np.errstate(all="ignore"):
                t = np.asarray(np.exp(-p["alpha"] * np.log(x)) * p["A"])
                t += p["E"]
                out = np.log(t, out=t) if t.ndim else np.log(t)
            if np.all(np.isfinite(out)):  # a quarter of logaddexp's cost
                return out
            # A x**-alpha overflows: the same sum in log space
            return np.logaddexp(np.log(p["E"]), np.log(p["A"]) - p["alpha"] * np.log(x))
        return super().log_predict(p, x)

    def jacobian(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        lx = np.log(x)
        xa = np.exp(-p["alpha"] * lx)
        d_alpha = -p["A"] * xa * lx
        shape = np.broadcast_shapes(xa.shape, d_alpha.shape, np.shape(p["E"]))
        out = np.empty((*shape, 3), dtype=np.result_type(xa, d_alpha, p["E"], float))
        out[..., 0] = 1.0
        out[..., 1] = xa
        out[..., 2] = d_alpha
        return out

    def basis(self, nl: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        xa = np.exp(-np.asarray(nl["alpha"], dtype=float)[:, None] * np.log(x))
        out = np.empty((*xa.shape, 2), dtype=xa.dtype)
        out[..., 0] = 1.0
        out[..., 1] = xa
        return out

    def basis_slope(
        self, nl: Mapping[str, np.ndarray], coef: np.ndarray, x: np.ndarray, basis: np.ndarray
    ) -> np.ndarray:
        return (-np.log(x)) * (coef[:, 1:2] * basis[..., 1])

    def nonlinear_grid(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        return {"alpha": exponent_grid(x, n=40)}

    def equation(
        self,
        p: Mapping[str, float],
        *,
        x: str = "C",
        y: str = "E",
        digits: int = 5,
        y_scale: float = 0.0,
    ) -> str:
        """``$E = E + A\\,C^{-alpha}$`` with the values of ``p`` (see :meth:`Form.equation`)."""
        floor = 0.0 if abs(p["E"]) < 1e-9 * y_scale else p["E"]  # at its bound 0: "0"
        body = (
            rf"{mathtext_number(floor, digits)} + {mathtext_number(p['A'], digits)}\,"
            rf"{x}^{{{mathtext_number(-p['alpha'], digits)}}}"
        )
        return f"${y} = {body}$"
