"""Kaplan et al. 2020 joint law in model size and data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from .. import _linalg as la
from ._base import Bounds, Form, exponent_grid
from .chinchilla import split_inputs

__all__ = ["Kaplan"]


def _sigmoid(u: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -u))


class Kaplan(Form):
    r"""Kaplan law :math:`L = \left((N_c/N)^{\alpha_N/\alpha_D} + D_c/D\right)^{\alpha_D}`.

    Kaplan et al. 2020, "Scaling Laws for Neural Language Models" (arXiv:2001.08361), eq. 1.5:
    the loss of a model with ``N`` parameters trained on ``D`` tokens (samples), with no
    irreducible term. In the limit of infinite data it is ``(N_c/N)^alpha_N``; of an infinite
    model, ``(D_c/D)^alpha_D``. The paper's fit: ``alpha_N = 0.076``, ``alpha_D = 0.095``,
    ``N_c = 8.8e13``, ``D_c = 5.4e13``. Evaluated in log space,

    .. math:: \log L = \alpha_D\,\mathrm{LSE}\!\left(\tfrac{\alpha_N}{\alpha_D}
              (\log N_c - \log N),\ \log D_c - \log D\right),

    so ``N, D, N_c, D_c ~ 1e25`` never overflow.

    No parameter enters linearly, so the start search scores candidate points directly
    (``paired_grid``): on a grid of ``(alpha_N, alpha_D)``, ``L**(1/alpha_D)`` is linear in
    ``N_c**(alpha_N/alpha_D)`` and ``D_c``, which a (relative-error weighted) non-negative least
    squares solves exactly; the fitter then polishes the best candidates on the real loss.

    Inputs: ``params`` (N) and ``samples`` (D), as a mapping or DataFrame.

    Parameters (fitted)
    -------------------
    N_c : float
        Critical model size, > 0.
    D_c : float
        Critical data size, > 0.
    alpha_N : float
        Model-size exponent, > 0.
    alpha_D : float
        Data exponent, > 0.
    """

    name = "kaplan"
    formula = "L = ((N_c/N)**(alpha_N/alpha_D) + D_c/D)**alpha_D"
    reference = "Kaplan et al. 2020, arXiv:2001.08361"
    inputs = ("params", "samples")
    param_names = ("N_c", "D_c", "alpha_N", "alpha_D")
    linear = ()
    paired_grid: ClassVar[bool] = True

    def default_bounds(self) -> Bounds:
        return {"N_c": (0.0, np.inf), "D_c": (0.0, np.inf), "alpha_N": (1e-6, np.inf),
                "alpha_D": (1e-6, np.inf)}  # fmt: skip

    @staticmethod
    def _parts(p: Mapping[str, float], x: np.ndarray) -> tuple[np.ndarray, ...]:
        n, d = split_inputs(x)
        ln, ld = np.log(n), np.log(d)
        a_n = np.asarray(p["alpha_N"], dtype=float)
        a_d = np.asarray(p["alpha_D"], dtype=float)
        with np.errstate(divide="ignore"):
            lnc = np.log(np.asarray(p["N_c"], dtype=float))
            ldc = np.log(np.asarray(p["D_c"], dtype=float))
        u = (a_n / a_d) * (lnc - ln)
        v = ldc - ld
        s = np.logaddexp(u, v)
        return a_n, a_d, lnc, ln, u, v, s

    def log_predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        _, a_d, _, _, _, _, s = self._parts(p, x)
        return a_d * s

    def predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        return np.exp(self.log_predict(p, x))

    def jacobian(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        a_n, a_d, lnc, ln, u, v, s = self._parts(p, x)
        y = np.exp(a_d * s)
        w_u = _sigmoid(u - v)  # share of the model-size term inside the sum
        cols = [
            y * a_n * w_u / np.asarray(p["N_c"], dtype=float),
            y * a_d * (1.0 - w_u) / np.asarray(p["D_c"], dtype=float),
            y * w_u * (lnc - ln),
            y * (s - w_u * u),
        ]
        return np.stack(np.broadcast_arrays(*cols), axis=-1)

    def nonlinear_grid(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """Candidate points: exact relative-error NNLS of ``L**(1/alpha_D)`` per exponent pair."""
        n, d = split_inputs(x)
        ln, ld = np.log(n), np.log(d)
        a_n, a_d = np.meshgrid(exponent_grid(n, n=16), exponent_grid(d, n=16), indexing="ij")
        a_n, a_d = a_n.ravel(), a_d.ravel()
        ratio = (a_n / a_d)[:, None]
        lz = np.log(y)[None, :] / a_d[:, None]  # log of the target L**(1/alpha_D)
        l1 = -ratio * ln[None, :]  # log of the column N**(-alpha_N/alpha_D)
        l2 = np.broadcast_to(-ld, l1.shape)  # log of the column 1/D
        # relative-error weights 1/z; each row scaled by its largest entry to stay finite
        m1, m2 = np.max(l1 - lz, axis=1), np.max(l2 - lz, axis=1)
        cols = np.stack([np.exp(l1 - lz - m1[:, None]), np.exp(l2 - lz - m2[:, None])], axis=-1)
        ok = np.all(np.isfinite(cols), axis=(1, 2))
        cols = np.where(np.isfinite(cols), cols, 0.0)
        coef, _ = la.bounded_lstsq(cols, np.ones_like(lz), np.zeros(2), np.full(2, np.inf))
        with np.errstate(divide="ignore"):
            # undo the column scaling: coefficient of the unscaled column
            log_c1 = np.log(coef[:, 0]) - m1
            log_dc = np.log(coef[:, 1]) - m2
        log_nc = log_c1 / ratio[:, 0]
        keep = ok & np.isfinite(log_nc) & np.isfinite(log_dc)
        keep &= (np.abs(log_nc) < 700) & (np.abs(log_dc) < 700)
        return {
            "N_c": np.exp(log_nc[keep]),
            "D_c": np.exp(log_dc[keep]),
            "alpha_N": a_n[keep],
            "alpha_D": a_d[keep],
        }

    def optimal_allocation(
        self, p: Mapping[str, float | np.ndarray], budget: np.ndarray
    ) -> np.ndarray | None:
        """With ``r = alpha_N / alpha_D``: ``N* = (r N_c^r budget / D_c)^(1/(r+1))``; NaN unless
        ``r``, ``N_c``, ``D_c`` and ``alpha_D`` are > 0."""
        with np.errstate(all="ignore"):
            lc = np.log(budget)
            r = p["alpha_N"] / p["alpha_D"]
            ok = (r > 0) & (p["N_c"] > 0) & (p["D_c"] > 0) & (p["alpha_D"] > 0)
            ln = (np.log(r) + r * np.log(p["N_c"]) + lc - np.log(p["D_c"])) / (r + 1.0)
            return np.where(ok & np.isfinite(ln), np.exp(ln), np.nan)
