"""Pure power law."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._base import Bounds, Form, exponent_grid, mathtext_number

__all__ = ["PowerLaw"]


class PowerLaw(Form):
    r"""Pure power law :math:`y = \beta x^{\alpha}`.

    The law of Cherti et al., "Reproducible scaling laws for contrastive language-image
    learning" (CVPR 2023), written there as :math:`E = \beta C^{\alpha}` for error ``E`` at
    compute ``C``; ``alpha < 0`` for a falling error. Evaluated as
    ``exp(log(beta) + alpha * log(x))`` so ``x = 1e30`` neither overflows nor loses precision.

    Parameters (fitted)
    -------------------
    beta : float
        Scale, > 0.
    alpha : float
        Exponent, any sign.
    """

    name = "power"
    formula = "y = beta * x**alpha"
    reference = "Cherti et al. 2023, arXiv:2212.07143"
    param_names = ("beta", "alpha")
    linear = ("beta",)

    def default_bounds(self) -> Bounds:
        return {"beta": (0.0, np.inf), "alpha": (-np.inf, np.inf)}

    def log_predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(p["beta"]) + p["alpha"] * np.log(x)

    def predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        return p["beta"] * np.exp(p["alpha"] * np.log(x))

    def jacobian(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        xa = np.exp(p["alpha"] * np.log(x))
        return np.stack(np.broadcast_arrays(xa, p["beta"] * xa * np.log(x)), axis=-1)

    def basis(self, nl: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        alpha = np.asarray(nl["alpha"], dtype=float)[:, None]
        return np.exp(alpha * np.log(x))[..., None]

    def basis_slope(
        self, nl: Mapping[str, np.ndarray], coef: np.ndarray, x: np.ndarray, basis: np.ndarray
    ) -> np.ndarray:
        return np.log(x) * (coef[:, :1] * basis[..., 0])

    def nonlinear_grid(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        return {"alpha": exponent_grid(x, signed=True, n=24)}

    def equation(
        self,
        p: Mapping[str, float],
        *,
        x: str = "C",
        y: str = "E",
        digits: int = 5,
        y_scale: float = 0.0,
    ) -> str:
        """``$E = beta\\,C^{alpha}$`` with the values of ``p`` (see :meth:`Form.equation`)."""
        beta, alpha = mathtext_number(p["beta"], digits), mathtext_number(p["alpha"], digits)
        return rf"${y} = {beta}\,{x}^{{{alpha}}}$"

    def closed_form(
        self, x: np.ndarray, y: np.ndarray, w: np.ndarray, loss: Any
    ) -> np.ndarray | None:
        """Weighted OLS of ``log y`` on ``log x``: the exact ``log_ls`` optimum (Cherti et al.)."""
        if loss.name != "log_ls":
            return None
        lx, ly = np.log(x), np.log(y)
        sw = w.sum()
        mx, my = (w @ lx) / sw, (w @ ly) / sw
        sxx = w @ (lx - mx) ** 2
        alpha = (w @ ((lx - mx) * (ly - my))) / sxx
        return np.array([np.exp(my - alpha * mx), alpha])
