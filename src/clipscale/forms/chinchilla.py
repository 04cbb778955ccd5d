"""Chinchilla joint law in model size and data (Hoffmann et al. 2022)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._base import Bounds, Form, exponent_grid

__all__ = ["Chinchilla", "split_inputs"]


def split_inputs(x: np.ndarray, k: int = 2) -> list[np.ndarray]:
    """Columns of an ``(n, d)`` input array as float arrays (the logs are taken by the forms)."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 2 or x.shape[1] != k:
        raise ValueError(f"expected an (n, {k}) array of inputs, got shape {x.shape}")
    return [x[:, j] for j in range(k)]


def _log(v: np.ndarray | float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(v, dtype=float))


class Chinchilla(Form):
    r"""Chinchilla law :math:`L = E + A/N^{\alpha} + B/D^{\beta}`.

    Hoffmann et al. 2022, "Training Compute-Optimal Large Language Models" (arXiv:2203.15556),
    approach 3: loss ``L`` of a model with ``N`` parameters trained on ``D`` tokens (samples).
    ``E`` is the irreducible loss, ``A/N^alpha`` the penalty of a finite model, ``B/D^beta`` the
    penalty of finite data. Evaluated in log space as

    .. math:: \log L = \mathrm{LSE}(\log A - \alpha \log N,\ \log B - \beta \log D,\ \log E)

    (the parametrisation of the paper and of Besiroglu et al. 2024), so ``N, D ~ 1e15`` never
    underflow. ``E``, ``A`` and ``B`` enter linearly once ``alpha`` and ``beta`` are fixed, so
    the fitter solves them exactly on an ``(alpha, beta)`` grid (variable projection).

    Inputs: ``params`` (N) and ``samples`` (D), as a mapping or DataFrame.

    Parameters (fitted)
    -------------------
    E : float
        Irreducible loss, >= 0.
    A : float
        Scale of the model-size term, >= 0.
    B : float
        Scale of the data term, >= 0.
    alpha : float
        Model-size exponent, >= 0.
    beta : float
        Data exponent, >= 0.
    """

    name = "chinchilla"
    formula = "L = E + A / N**alpha + B / D**beta"
    reference = "Hoffmann et al. 2022, arXiv:2203.15556"
    inputs = ("params", "samples")
    param_names = ("E", "A", "B", "alpha", "beta")
    linear = ("E", "A", "B")

    def default_bounds(self) -> Bounds:
        return {p: (0.0, np.inf) for p in self.param_names}

    @staticmethod
    def _terms(p: Mapping[str, float], x: np.ndarray) -> tuple[np.ndarray, ...]:
        n, d = split_inputs(x)
        ln, ld = np.log(n), np.log(d)
        tn = np.exp(-np.asarray(p["alpha"], dtype=float) * ln)
        td = np.exp(-np.asarray(p["beta"], dtype=float) * ld)
        return ln, ld, tn, td

    def predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        _, _, tn, td = self._terms(p, x)
        return p["E"] + p["A"] * tn + p["B"] * td

    def log_predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        if not all(np.all(np.asarray(p[k]) >= 0) for k in ("E", "A", "B")):
            return super().log_predict(p, x)
        n, d = split_inputs(x)
        a = _log(p["A"]) - np.asarray(p["alpha"], dtype=float) * np.log(n)
        b = _log(p["B"]) - np.asarray(p["beta"], dtype=float) * np.log(d)
        return np.logaddexp(np.logaddexp(a, b), _log(p["E"]))

    def jacobian(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        ln, ld, tn, td = self._terms(p, x)
        tn, td = np.broadcast_arrays(tn, td)
        cols = [np.ones_like(tn), tn, td, -p["A"] * tn * ln, -p["B"] * td * ld]
        return np.stack(np.broadcast_arrays(*cols), axis=-1)

    def basis(self, nl: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        n, d = split_inputs(x)
        alpha = np.asarray(nl["alpha"], dtype=float)[:, None]
        beta = np.asarray(nl["beta"], dtype=float)[:, None]
        tn, td = np.broadcast_arrays(np.exp(-alpha * np.log(n)), np.exp(-beta * np.log(d)))
        return np.stack([np.ones_like(tn), tn, td], axis=-1)

    def nonlinear_grid(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        n, d = split_inputs(x)
        return {"alpha": exponent_grid(n, n=24), "beta": exponent_grid(d, n=24)}

    def optimal_allocation(
        self, p: Mapping[str, float | np.ndarray], budget: np.ndarray
    ) -> np.ndarray | None:
        """Hoffmann et al. (2022) eq. 4: ``N* = G budget^(beta/(alpha+beta))``,
        ``G = (alpha A / (beta B))^(1/(alpha+beta))``; NaN unless every exponent and scale > 0."""
        with np.errstate(all="ignore"):
            lc = np.log(budget)
            a, b, A, B = p["alpha"], p["beta"], p["A"], p["B"]
            ok = (a > 0) & (b > 0) & (A > 0) & (B > 0)
            log_g = (np.log(a * A) - np.log(b * B)) / (a + b)
            ln = log_g + (b / (a + b)) * lc
            return np.where(ok & np.isfinite(ln), np.exp(ln), np.nan)
