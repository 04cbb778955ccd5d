"""Smoothly broken power law (BNSL)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._base import Bounds, Form, exponent_grid, log_range

__all__ = ["BrokenPowerLaw"]


def _sigmoid(u: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -u))


class BrokenPowerLaw(Form):
    r"""Smoothly broken power law of Caballero et al. 2022, "Broken Neural Scaling Laws".

    .. math::

        y = a + b\,x^{-c_0} \prod_{i=1}^{n} \left(1 + (x/d_i)^{1/f_i}\right)^{-c_i f_i}

    Each break ``i`` at ``x = d_i`` changes the slope on log-log axes by ``c_i``; ``f_i`` sets its
    sharpness (small = sharp). Evaluated in log space: with ``u_i = (log x - log d_i) / f_i``
    every factor is ``exp(-c_i f_i * logaddexp(0, u_i))``, so ``x = 1e30`` never overflows.

    Parameters
    ----------
    n_breaks : int, default 1
        Number of breaks ``n``.

    Parameters (fitted)
    -------------------
    a : float
        Limit as x grows (>= 0 by default).
    b : float
        Scale (>= 0 by default).
    c0 : float
        Initial exponent (any sign).
    c1, d1, f1, ... : float
        Slope change (any sign), break location (> 0) and sharpness (> 0) of each break.
    """

    name = "broken"
    n_starts = 12
    formula = "y = a + b * x**(-c0) * prod_i (1 + (x/d_i)**(1/f_i))**(-c_i*f_i)"
    reference = "Caballero et al. 2022, arXiv:2210.14891"
    linear = ("a", "b")

    def __init__(self, n_breaks: int = 1) -> None:
        if int(n_breaks) != n_breaks or n_breaks < 0:
            from ..exceptions import DataError

            raise DataError(f"n_breaks must be a whole number >= 0, got {n_breaks!r}")
        self.n_breaks = int(n_breaks)
        names = ["a", "b", "c0"]
        for i in range(1, self.n_breaks + 1):
            names += [f"c{i}", f"d{i}", f"f{i}"]
        self.param_names = tuple(names)

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "n_breaks": self.n_breaks}

    def default_bounds(self) -> Bounds:
        b: Bounds = {"a": (0.0, np.inf), "b": (0.0, np.inf), "c0": (-np.inf, np.inf)}
        for i in range(1, self.n_breaks + 1):
            b[f"c{i}"] = (-np.inf, np.inf)
            b[f"d{i}"] = (0.0, np.inf)
            b[f"f{i}"] = (1e-6, np.inf)
        return b

    def _log_shape(self, p: Mapping[str, Any], lx: np.ndarray) -> tuple[np.ndarray, list]:
        """log of ``x**(-c0) * prod(...)`` (broadcasting over leading parameter axes)."""
        g = -np.asarray(p["c0"], dtype=float) * lx
        parts = []
        for i in range(1, self.n_breaks + 1):
            c, d, f = (np.asarray(p[f"{k}{i}"], dtype=float) for k in "cdf")
            with np.errstate(divide="ignore"):
                u = (lx - np.log(d)) / f
            t = np.logaddexp(0.0, u)
            g = g - (c * f) * t
            parts.append((u, t))
        return g, parts

    def predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        lx = np.log(np.asarray(x, dtype=float))
        g, _ = self._log_shape(p, lx)
        return p["a"] + p["b"] * np.exp(g)

    def log_predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        if np.all(np.asarray(p["a"]) > 0) and np.all(np.asarray(p["b"]) > 0):
            lx = np.log(np.asarray(x, dtype=float))
            g, _ = self._log_shape(p, lx)
            return np.logaddexp(np.log(p["a"]), np.log(p["b"]) + g)
        return super().log_predict(p, x)

    def jacobian(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        lx = np.log(np.asarray(x, dtype=float))
        g, parts = self._log_shape(p, lx)
        k = np.exp(g)
        bk = p["b"] * k
        cols = [np.ones_like(k), k, -bk * lx]
        for i, (u, t) in enumerate(parts, start=1):
            c, d, f = p[f"c{i}"], p[f"d{i}"], p[f"f{i}"]
            sig = _sigmoid(u)
            cols += [-bk * f * t, bk * c * sig / d, -bk * c * (t - u * sig)]
        return np.stack(np.broadcast_arrays(*cols, p["a"])[:-1], axis=-1)

    def basis(self, nl: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        lx = np.log(np.asarray(x, dtype=float))
        g, _ = self._log_shape({k: np.asarray(v, dtype=float)[:, None] for k, v in nl.items()}, lx)
        k = np.exp(g)
        return np.stack([np.ones_like(k), k], axis=-1)

    def nonlinear_grid(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        width = log_range(x)
        slopes = exponent_grid(x, n=6)
        grid: dict[str, np.ndarray] = {
            "c0": np.concatenate([-slopes[::-1], [0.0], slopes]) if self.n_breaks else slopes
        }
        lo, hi = float(np.log(np.min(x))), float(np.log(np.max(x)))
        for i in range(1, self.n_breaks + 1):
            grid[f"c{i}"] = np.concatenate([-slopes[::-1], slopes])
            grid[f"d{i}"] = np.exp(np.linspace(lo, hi, 8 if self.n_breaks == 1 else 5))
            # sharpness up to 0.3 x the data's log-width: a wider "break" is a smooth bend that
            # the slopes already describe, and such starts crowd out the real breaks
            grid[f"f{i}"] = width * np.geomspace(0.01, 0.3, 4)
        return grid
