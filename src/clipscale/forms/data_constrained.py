"""Data-constrained scaling law of Muennighoff et al. 2023 (repeated data, excess parameters)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..exceptions import DataError
from ._base import Bounds, Form, exponent_grid

__all__ = ["DataConstrained", "HOFFMANN_2022"]

#: Hoffmann et al. 2022's published approach-3 coefficients (the default allocation for U_N).
HOFFMANN_2022 = {"A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


def _effective(u: np.ndarray, r: np.ndarray, r_star: np.ndarray) -> tuple[np.ndarray, ...]:
    """``log(U (1 + R* (1 - exp(-R/R*))))`` and its derivative with respect to ``R*``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(r > 0, r / r_star, 0.0)
    e = np.exp(-q)
    gain = -np.expm1(-q)  # 1 - exp(-R/R*), exact for small R/R*
    one_plus = 1.0 + r_star * gain
    log_eff = np.log(u) + np.log(one_plus)
    # d/dR* of R*(1 - exp(-R/R*)) = (1 - e) - (R/R*) e, relative to the bracket
    d_log = (gain - q * e) / one_plus
    return log_eff, d_log


class DataConstrained(Form):
    r"""Data-constrained law :math:`L = E + A/N'^{\alpha} + B/D'^{\beta}` (repeated data).

    Muennighoff et al. 2023, "Scaling Data-Constrained Language Models" (arXiv:2305.16264),
    eq. 5: the Chinchilla law evaluated at an *effective* data size ``D'`` and model size
    ``N'``. With ``U_D`` unique tokens seen ``D / U_D`` times (``R_D = D/U_D - 1`` repeats),

    .. math:: D' = U_D + U_D R_D^* \left(1 - e^{-R_D / R_D^*}\right),

    so repeated tokens are worth less and less, ``R_D^*`` being the number of repeats after
    which they are worth ``1/e`` of new data. Parameters beyond ``U_N = min(N, N_opt(U_D))``,
    the compute-optimal model size for ``U_D`` tokens, decay the same way with ``R_N = N/U_N - 1``:

    .. math:: N' = U_N + U_N R_N^* \left(1 - e^{-R_N / R_N^*}\right).

    ``N_opt`` is the Chinchilla allocation ``N_opt(D) = G (G D)^{beta/alpha}``,
    ``G = (alpha A / (beta B))^{1/(alpha + beta)}``, evaluated with fixed coefficients ``base``
    (the paper uses its own first-stage Chinchilla fit; the default is Hoffmann et al.'s
    published ``A, B, alpha, beta``: pass ``base=chinchilla_result.params`` to use yours). With
    ``U_N`` a function of the data only, ``E, A, B`` enter linearly and the fitter grids
    ``(alpha, beta, R_D_star, R_N_star)``. The paper's fit: ``R_D* = 15.4``, ``R_N* = 5.3``.
    Evaluated in log space like ``"chinchilla"``. Runs of less than one epoch (``D < U_D``) have
    ``U_D = D``, no repeats.

    Parameters
    ----------
    data_input : {"samples", "epochs"}, default "samples"
        Second input: total tokens ``D`` (``"samples"``), or epochs ``D/U_D`` (``"epochs"``).
    base : mapping, optional
        ``A, B, alpha, beta`` of the Chinchilla allocation that defines ``U_N``.

    Inputs: ``params`` (N), ``samples`` (D; or ``epochs``) and ``unique_samples`` (U_D).

    Parameters (fitted)
    -------------------
    E, A, B, alpha, beta : float
        As in ``"chinchilla"`` (all >= 0).
    R_D_star : float
        Repeats of the data after which a repeated token is worth 1/e of a new one, > 0.
    R_N_star : float
        The same for excess parameters, > 0.
    """

    name = "data_constrained"
    formula = "L = E + A / N'**alpha + B / D'**beta, D' = U_D (1 + R_D*(1 - exp(-R_D/R_D*)))"
    reference = "Muennighoff et al. 2023, arXiv:2305.16264"
    param_names = ("E", "A", "B", "alpha", "beta", "R_D_star", "R_N_star")
    linear = ("E", "A", "B")

    def __init__(self, data_input: str = "samples", base: Mapping[str, float] | None = None):
        if data_input not in ("samples", "epochs"):
            raise DataError(f"data_input must be 'samples' or 'epochs', got {data_input!r}")
        self.data_input = data_input
        self.inputs = ("params", data_input, "unique_samples")
        base = dict(HOFFMANN_2022 if base is None else base)
        missing = [k for k in HOFFMANN_2022 if k not in base]
        if missing:
            raise DataError(f"base needs the Chinchilla coefficients {missing}")
        self.base = {k: float(base[k]) for k in HOFFMANN_2022}
        if not all(np.isfinite(v) and v > 0 for v in self.base.values()):
            raise DataError(f"base coefficients must be positive numbers, got {self.base}")

    def spec(self) -> dict[str, Any]:
        return {"name": self.name, "data_input": self.data_input, "base": dict(self.base)}

    def __hash__(self) -> int:
        return hash((self.name, self.data_input, tuple(sorted(self.base.items()))))

    def default_bounds(self) -> Bounds:
        b: Bounds = {p: (0.0, np.inf) for p in ("E", "A", "B", "alpha", "beta")}
        b["R_D_star"] = (1e-6, np.inf)
        b["R_N_star"] = (1e-6, np.inf)
        return b

    # ----------------------------------------------------------------- data-only quantities
    def optimal_params(self, unique_samples: np.ndarray) -> np.ndarray:
        """``N_opt(U_D)``: the compute-optimal model size for ``U_D`` tokens under ``base``."""
        a, b = self.base["alpha"], self.base["beta"]
        log_g = (np.log(a * self.base["A"]) - np.log(b * self.base["B"])) / (a + b)
        return np.exp(log_g + (b / a) * (log_g + np.log(unique_samples)))

    def _data(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != 3:
            raise ValueError(f"expected an (n, 3) array of inputs {self.inputs}, got {x.shape}")
        n, second, u_d = x[:, 0], x[:, 1], x[:, 2]
        d = second * u_d if self.data_input == "epochs" else second
        u_d = np.minimum(u_d, d)
        u_n = np.minimum(n, self.optimal_params(u_d))
        return u_d, d / u_d - 1.0, u_n, n / u_n - 1.0

    # ----------------------------------------------------------------- evaluation
    def _logs(self, p: Mapping[str, float], x: np.ndarray) -> tuple[np.ndarray, ...]:
        u_d, r_d, u_n, r_n = self._data(x)
        r_ds = np.asarray(p["R_D_star"], dtype=float)
        r_ns = np.asarray(p["R_N_star"], dtype=float)
        log_d, dd = _effective(u_d, r_d, r_ds)
        log_n, dn = _effective(u_n, r_n, r_ns)
        return log_n, log_d, dn, dd

    def predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        log_n, log_d, _, _ = self._logs(p, x)
        return p["E"] + p["A"] * np.exp(-p["alpha"] * log_n) + p["B"] * np.exp(-p["beta"] * log_d)

    def log_predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        if not all(np.all(np.asarray(p[k]) >= 0) for k in ("E", "A", "B")):
            return super().log_predict(p, x)
        log_n, log_d, _, _ = self._logs(p, x)
        with np.errstate(divide="ignore"):
            a = np.log(p["A"]) - p["alpha"] * log_n
            b = np.log(p["B"]) - p["beta"] * log_d
            return np.logaddexp(np.logaddexp(a, b), np.log(p["E"]))

    def jacobian(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        log_n, log_d, dn, dd = self._logs(p, x)
        tn = np.exp(-np.asarray(p["alpha"], dtype=float) * log_n)
        td = np.exp(-np.asarray(p["beta"], dtype=float) * log_d)
        an, bd = p["A"] * tn, p["B"] * td
        cols = [
            np.ones_like(tn),
            tn,
            td,
            -an * log_n,
            -bd * log_d,
            -p["beta"] * bd * dd,
            -p["alpha"] * an * dn,
        ]
        return np.stack(np.broadcast_arrays(*cols), axis=-1)

    def basis(self, nl: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        p = {k: np.asarray(v, dtype=float)[:, None] for k, v in nl.items()}
        log_n, log_d, _, _ = self._logs(p, x)
        tn, td = np.broadcast_arrays(np.exp(-p["alpha"] * log_n), np.exp(-p["beta"] * log_d))
        return np.stack([np.ones_like(tn), tn, td], axis=-1)

    def nonlinear_grid(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        u_d, _, u_n, _ = self._data(x)
        stars = np.geomspace(0.5, 200.0, 5)
        return {
            "alpha": exponent_grid(u_n, n=12),
            "beta": exponent_grid(u_d, n=12),
            "R_D_star": stars,
            "R_N_star": stars,
        }
