"""Shifted power law."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._base import Bounds, Form, exponent_grid, mathtext_number

__all__ = ["ShiftedPowerLaw"]


class ShiftedPowerLaw(Form):
    r"""Shifted power law :math:`y = E + A (x + s)^{-\alpha}`.

    The shift ``s`` bends the curve at small ``x`` (a flat start before the power-law regime), as
    in Hernandez et al. 2021, "Scaling laws for transfer" (effective data), and the NIST
    ``Bennett5`` model ``y = b1 (b2 + x)^(-1/b3)`` (``E = 0``, ``A = b1``, ``s = b2``,
    ``alpha = 1/b3``). Evaluated as ``E + A * exp(-alpha * log(x + s))``.

    Parameters (fitted)
    -------------------
    E : float
        Irreducible floor, >= 0 by default.
    A : float
        Scale, >= 0 by default.
    s : float
        Shift in the units of ``x``, >= 0 by default.
    alpha : float
        Exponent, >= 0 by default.
    """

    name = "shifted"
    formula = "y = E + A * (x + s)**(-alpha)"
    reference = "Hernandez et al. 2021, arXiv:2102.01293"
    param_names = ("E", "A", "s", "alpha")
    linear = ("E", "A")

    def default_bounds(self) -> Bounds:
        return {"E": (0.0, np.inf), "A": (0.0, np.inf), "s": (0.0, np.inf), "alpha": (0.0, np.inf)}

    @staticmethod
    def _log_xs(s: float | np.ndarray, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(s + x)

    def predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return p["E"] + p["A"] * np.exp(-p["alpha"] * self._log_xs(p["s"], x))

    def jacobian(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        lxs = self._log_xs(p["s"], x)
        xa = np.exp(-p["alpha"] * lxs)
        d_s = -p["alpha"] * p["A"] * xa / (x + p["s"])
        cols = np.broadcast_arrays(np.ones_like(xa), xa, d_s, -p["A"] * xa * lxs, p["E"])[:4]
        return np.stack(cols, axis=-1)

    def basis(self, nl: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        lxs = np.log(nl["s"][:, None] + x[None, :])
        xa = np.exp(-nl["alpha"][:, None] * lxs)
        return np.stack([np.ones_like(xa), xa], axis=-1)

    def nonlinear_grid(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        xmin, xmax = float(np.min(x)), float(np.max(x))
        shifts = np.concatenate([[0.0], np.geomspace(max(xmin, 1e-300) * 1e-2, xmax * 30.0, 20)])
        # exponents on the scale of the shifted range as well as the raw one
        alphas = np.unique(np.concatenate([exponent_grid(x, n=20), np.geomspace(0.02, 8.0, 14)]))
        return {"s": shifts, "alpha": alphas}

    def equation(
        self,
        p: Mapping[str, float],
        *,
        x: str = "C",
        y: str = "E",
        digits: int = 5,
        y_scale: float = 0.0,
    ) -> str:
        """``$E = E + A\\,(C + s)^{-alpha}$`` with the values of ``p`` (:meth:`Form.equation`)."""
        floor = 0.0 if abs(p["E"]) < 1e-9 * y_scale else p["E"]  # at its bound 0: "0"
        body = (
            rf"{mathtext_number(floor, digits)} + {mathtext_number(p['A'], digits)}\,"
            rf"({x} + {mathtext_number(p['s'], digits)})^{{{mathtext_number(-p['alpha'], digits)}}}"
        )
        return f"${y} = {body}$"
