"""Estimators M1-M4 of Alabdulmohsin, Neyshabur and Zhai 2022, "Revisiting Neural Scaling Laws".

The paper (NeurIPS 2022, arXiv:2209.06640) compares four learning-curve families for a loss or
error ``eps_x`` after ``x`` examples, and introduces M4:

* M1: ``eps_x = beta x^c``
* M2: ``eps_x = eps_inf + beta x^c``
* M3: ``eps_x = beta (1/x + gamma)^c``
* M4: ``(eps_x - eps_inf) / (eps_0 - eps_x)^alpha = beta x^c``

(``c < 0`` in M1, M2 and M4 for a falling curve; ``c > 0`` in M3). Parameter names are the
paper's (``eps_inf`` for its epsilon-infinity, ``eps_0`` for epsilon-zero).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from .. import _linalg as la
from ._base import Bounds, Form, exponent_grid

__all__ = ["M1", "M2", "M3", "M4", "m4_solve"]

_LOG2 = float(np.log(2.0))


def _softplus(u: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, u)


def _sigmoid(u: np.ndarray) -> np.ndarray:
    return np.exp(-_softplus(-u))


class M1(Form):
    r"""M1: :math:`\varepsilon_x = \beta x^{c}` (a pure power law in the paper's names).

    Alabdulmohsin et al. 2022, arXiv:2209.06640, estimator M1 (as in Kaplan et al. 2020).
    Evaluated as ``exp(log beta + c log x)``.

    Parameters (fitted)
    -------------------
    beta : float
        Scale, >= 0.
    c : float
        Exponent (negative for a falling curve), any sign.
    """

    name = "m1"
    formula = "eps = beta * x**c"
    reference = "Alabdulmohsin et al. 2022, arXiv:2209.06640 (M1)"
    param_names = ("beta", "c")
    linear = ("beta",)

    def default_bounds(self) -> Bounds:
        return {"beta": (0.0, np.inf), "c": (-np.inf, np.inf)}

    def log_predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(p["beta"]) + p["c"] * np.log(np.asarray(x, dtype=float))

    def predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        return p["beta"] * np.exp(p["c"] * np.log(np.asarray(x, dtype=float)))

    def jacobian(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        lx = np.log(np.asarray(x, dtype=float))
        xc = np.exp(p["c"] * lx)
        return np.stack(np.broadcast_arrays(xc, p["beta"] * xc * lx), axis=-1)

    def basis(self, nl: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        return np.exp(np.asarray(nl["c"], dtype=float)[:, None] * np.log(x))[..., None]

    def basis_slope(
        self, nl: Mapping[str, np.ndarray], coef: np.ndarray, x: np.ndarray, basis: np.ndarray
    ) -> np.ndarray:
        return np.log(np.asarray(x, dtype=float)) * (coef[:, :1] * basis[..., 0])

    def nonlinear_grid(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        return {"c": exponent_grid(x, signed=True, n=24)}


class M2(Form):
    r"""M2: :math:`\varepsilon_x = \varepsilon_\infty + \beta x^{c}`.

    Alabdulmohsin et al. 2022, arXiv:2209.06640, estimator M2 (as in Hestness et al. 2017):
    a power law that levels off at ``eps_inf``. With ``eps_inf, beta > 0`` the log prediction is
    ``logaddexp(log eps_inf, log beta + c log x)``.

    Parameters (fitted)
    -------------------
    eps_inf : float
        Limit as ``x`` grows, >= 0.
    beta : float
        Scale, >= 0.
    c : float
        Exponent, <= 0.
    """

    name = "m2"
    formula = "eps = eps_inf + beta * x**c"
    reference = "Alabdulmohsin et al. 2022, arXiv:2209.06640 (M2)"
    param_names = ("eps_inf", "beta", "c")
    linear = ("eps_inf", "beta")

    def default_bounds(self) -> Bounds:
        return {"eps_inf": (0.0, np.inf), "beta": (0.0, np.inf), "c": (-np.inf, 0.0)}

    def predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        return p["eps_inf"] + p["beta"] * np.exp(p["c"] * np.log(np.asarray(x, dtype=float)))

    def log_predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        if np.all(np.asarray(p["eps_inf"]) >= 0) and np.all(np.asarray(p["beta"]) >= 0):
            with np.errstate(divide="ignore"):
                lx = np.log(np.asarray(x, dtype=float))
                return np.logaddexp(np.log(p["eps_inf"]), np.log(p["beta"]) + p["c"] * lx)
        return super().log_predict(p, x)

    def jacobian(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        lx = np.log(np.asarray(x, dtype=float))
        xc = np.exp(p["c"] * lx)
        return np.stack(np.broadcast_arrays(np.ones_like(xc), xc, p["beta"] * xc * lx), axis=-1)

    def basis(self, nl: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        xc = np.exp(np.asarray(nl["c"], dtype=float)[:, None] * np.log(x))
        return np.stack([np.ones_like(xc), xc], axis=-1)

    def basis_slope(
        self, nl: Mapping[str, np.ndarray], coef: np.ndarray, x: np.ndarray, basis: np.ndarray
    ) -> np.ndarray:
        return np.log(np.asarray(x, dtype=float)) * (coef[:, 1:2] * basis[..., 1])

    def nonlinear_grid(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        return {"c": -exponent_grid(x, n=40)}


class M3(Form):
    r"""M3: :math:`\varepsilon_x = \beta\,(1/x + \gamma)^{c}`.

    Alabdulmohsin et al. 2022, arXiv:2209.06640, estimator M3 (after Zhai et al. 2022): a power
    law in ``1/x`` that flattens at ``beta * gamma**c`` once ``x >> 1/gamma``. Evaluated as
    ``log beta + c * logaddexp(-log x, log gamma)``, so ``x = 1e25`` is exact.

    Parameters (fitted)
    -------------------
    beta : float
        Scale, >= 0.
    gamma : float
        Offset; the curve bends at ``x ~ 1/gamma``, >= 0.
    c : float
        Exponent, >= 0.
    """

    name = "m3"
    formula = "eps = beta * (1/x + gamma)**c"
    reference = "Alabdulmohsin et al. 2022, arXiv:2209.06640 (M3)"
    param_names = ("beta", "gamma", "c")
    linear = ("beta",)

    def default_bounds(self) -> Bounds:
        return {"beta": (0.0, np.inf), "gamma": (0.0, np.inf), "c": (0.0, np.inf)}

    @staticmethod
    def _log_inner(gamma: np.ndarray, x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.logaddexp(-np.log(np.asarray(x, dtype=float)), np.log(gamma))

    def log_predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(p["beta"]) + p["c"] * self._log_inner(p["gamma"], x)

    def predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        return p["beta"] * np.exp(p["c"] * self._log_inner(p["gamma"], x))

    def jacobian(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        li = self._log_inner(p["gamma"], x)
        t = np.exp(p["c"] * li)
        y = p["beta"] * t
        return np.stack(np.broadcast_arrays(t, y * p["c"] * np.exp(-li), y * li), axis=-1)

    def basis(self, nl: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        g = np.asarray(nl["gamma"], dtype=float)[:, None]
        c = np.asarray(nl["c"], dtype=float)[:, None]
        return np.exp(c * self._log_inner(g, x))[..., None]

    def nonlinear_grid(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        lo, hi = float(np.min(x)), float(np.max(x))
        gammas = np.concatenate([[0.0], np.geomspace(1e-2 / hi, 1e2 / lo, 16)])
        return {"gamma": gammas, "c": exponent_grid(x, n=24)}


def m4_solve(
    log_f: np.ndarray, alpha: np.ndarray, log_b: np.ndarray, u0: np.ndarray | None = None
) -> np.ndarray:
    r"""Solve M4 for ``u = logit(s)``, where ``eps = eps_inf + b s`` and ``b = eps_0 - eps_inf``.

    M4 reads ``w / (b - w)^alpha = f`` for the excess ``w = b s``; in ``s`` it is
    ``log s - alpha log(1 - s) = k`` with ``k = log f - (1 - alpha) log b``, and in
    ``u = logit(s)``, ``h(u) = -softplus(-u) + alpha softplus(u) = k``. ``h`` increases
    strictly (``h' = sigmoid(-u) + alpha sigmoid(u)``) and is convex for ``alpha > 1``, concave
    for ``alpha < 1``, and ``phi(u) - log 2 <= h(u) <= phi(u) + alpha log 2`` with
    ``phi(u) = min(u, 0) + alpha max(u, 0)``, which brackets the root. A safeguarded Newton
    iteration (bisection when a step leaves the bracket) converges in a few steps, vectorised
    over all points and parameter vectors. ``alpha = 0`` is taken as the limit
    ``alpha -> 0+``: ``eps = min(eps_inf + f, eps_0)``. ``u0`` (same shape) is an optional
    first guess, e.g. the root at nearby parameters.
    """
    alpha, k = np.broadcast_arrays(
        np.asarray(alpha, dtype=float), np.asarray(log_f, dtype=float) - (1.0 - alpha) * log_b
    )
    k = np.array(k, dtype=float)
    big = 1e300

    def phi_inv(v: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            pos = np.where(alpha > 0, v / np.where(alpha > 0, alpha, 1.0), big)
        return np.clip(np.where(v <= 0, v, pos), -big, big)

    lo = phi_inv(k - alpha * _LOG2)
    hi = phi_inv(k + _LOG2)
    first = phi_inv(k) if u0 is None or np.shape(u0) != k.shape else u0
    u = np.clip(first, lo, hi)
    for _ in range(100):
        sp_pos = _softplus(u)  # softplus(u); softplus(-u) = sp_pos - u
        h = u - sp_pos + alpha * sp_pos - k
        lo = np.where(h < 0, u, lo)
        hi = np.where(h > 0, u, hi)
        dh = np.exp(-sp_pos) + alpha * np.exp(u - sp_pos)  # sigmoid(-u) + alpha sigmoid(u)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = u - h / dh
        outside = ~((new > lo) & (new < hi))  # also catches NaN steps
        new = np.where(outside, 0.5 * (lo + hi), new)
        done = np.abs(new - u) <= 1e-13 * (1.0 + np.abs(u))
        u = new
        if np.all(done | ~np.isfinite(k)):
            break
    return u


class M4(Form):
    r"""M4: :math:`(\varepsilon_x - \varepsilon_\infty)/(\varepsilon_0 - \varepsilon_x)^{\alpha}
    = \beta x^{c}`.

    Alabdulmohsin et al. 2022, arXiv:2209.06640, the paper's estimator M4: the excess loss over
    ``eps_inf``, divided by the gap to the random-guess loss ``eps_0`` to the power ``alpha``,
    follows a power law, which gives a sigmoid-like curve on log-log axes that falls from
    ``eps_0`` to ``eps_inf``. ``eps_x`` is the root of that equation, found by a vectorised
    safeguarded Newton iteration in ``logit`` space (:func:`m4_solve`); the Jacobian is
    implicit differentiation of the root, exact. Predictions stay in ``(eps_inf, eps_0)``.

    No parameter enters linearly; the start search scores candidate points (``paired_grid``):
    for a grid of ``(eps_inf, eps_0)``, ``log(eps - eps_inf) = log beta + c log x +
    alpha log(eps_0 - eps)`` is linear in ``(log beta, c, alpha)`` and is solved by bounded least
    squares (``c <= 0 <= alpha``) for all grid points at once, as the paper's own estimator does.

    Parameters (fitted)
    -------------------
    eps_inf : float
        Limit as ``x`` grows, >= 0.
    eps_0 : float
        Loss with no data (random guessing), > ``eps_inf``.
    alpha : float
        Shape of the bend, >= 0.
    beta : float
        Scale, >= 0.
    c : float
        Exponent, <= 0.
    """

    name = "m4"
    formula = "(eps - eps_inf) / (eps_0 - eps)**alpha = beta * x**c"
    reference = "Alabdulmohsin et al. 2022, arXiv:2209.06640 (M4)"
    param_names = ("eps_inf", "eps_0", "alpha", "beta", "c")
    linear = ()
    paired_grid: ClassVar[bool] = True
    # the last root (key, result): a fit evaluates predict and jacobian at the same parameters,
    # and successive iterates are close, so it is both reused and used as the next first guess
    _last: tuple = ((), ())

    def default_bounds(self) -> Bounds:
        return {"eps_inf": (0.0, np.inf), "eps_0": (0.0, np.inf), "alpha": (0.0, np.inf),
                "beta": (0.0, np.inf), "c": (-np.inf, 0.0)}  # fmt: skip

    def _solve(self, p: Mapping[str, float], x: np.ndarray) -> tuple[np.ndarray, ...]:
        arrays = [np.asarray(p[k], dtype=float) for k in self.param_names]
        x = np.asarray(x, dtype=float)
        key = tuple((a.shape, a.tobytes()) for a in [*arrays, x])
        last_key, last = self._last  # one read: safe if another thread replaces it
        if key == last_key:
            return last
        lx = np.log(x)
        e_inf = np.asarray(p["eps_inf"], dtype=float)
        b = np.asarray(p["eps_0"], dtype=float) - e_inf
        alpha = np.asarray(p["alpha"], dtype=float)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_b = np.where(b > 0, np.log(np.where(b > 0, b, 1.0)), np.nan)
            log_f = np.log(np.asarray(p["beta"], dtype=float)) + np.asarray(p["c"]) * lx
        u = m4_solve(log_f, alpha, log_b, u0=last[-1] if last else None)
        out = (e_inf, b, alpha, log_b, lx, u)
        self._last = (key, out)
        return out

    def predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        e_inf, b, _, _, _, u = self._solve(p, x)
        return e_inf + b * _sigmoid(u)

    def log_predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        e_inf, _, _, log_b, _, u = self._solve(p, x)
        with np.errstate(divide="ignore"):
            return np.logaddexp(np.log(e_inf), log_b - _softplus(-u))

    def jacobian(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        e_inf, b, alpha, log_b, lx, u = self._solve(p, x)
        s, s1 = _sigmoid(u), _sigmoid(-u)
        dh = s1 + alpha * s  # dh/du
        g = b * s * s1 / dh  # d eps / d k
        d_b = s - g * (1.0 - alpha) / b  # d eps / d b at fixed k-inputs
        d_alpha = g * (log_b - _softplus(u))
        with np.errstate(divide="ignore", invalid="ignore"):
            d_beta = g / np.asarray(p["beta"], dtype=float)
        cols = [1.0 - d_b, d_b, d_alpha, d_beta, g * lx]
        return np.stack(np.broadcast_arrays(*cols), axis=-1)

    def nonlinear_grid(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """Candidate points: for each ``(eps_inf, eps_0)``, the transformed linear regression."""
        lx = np.log(np.asarray(x, dtype=float))
        y = np.asarray(y, dtype=float)
        lo, hi = float(np.min(y)), float(np.max(y))
        span = max(hi - lo, 1e-12 * max(hi, 1.0))
        e_inf = lo * np.array([0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.995])
        e_0 = np.unique(np.concatenate([hi + span * np.array([1e-3, 1e-2, 0.05, 0.2, 1.0, 5.0]),
                                        [max(1.0, 1.001 * hi)]]))  # fmt: skip
        ei, e0 = (a.ravel() for a in np.meshgrid(e_inf, e_0, indexing="ij"))
        lhs = np.log(y[None, :] - ei[:, None])  # log excess
        gap = np.log(e0[:, None] - y[None, :])
        design = np.stack(np.broadcast_arrays(np.ones_like(gap), lx[None, :], gap), axis=-1)
        lb, ub = np.array([-np.inf, -np.inf, 0.0]), np.array([np.inf, 0.0, np.inf])
        ok = np.all(np.isfinite(lhs), axis=1) & np.all(np.isfinite(gap), axis=1)
        design = np.where(ok[:, None, None], design, 0.0)
        coef, _ = la.bounded_lstsq(design, np.where(ok[:, None], lhs, 0.0), lb, ub)
        keep = ok & np.all(np.isfinite(coef), axis=1) & (np.abs(coef[:, 0]) < 700)
        return {
            "eps_inf": ei[keep],
            "eps_0": e0[keep],
            "alpha": coef[keep, 2],
            "beta": np.exp(coef[keep, 0]),
            "c": coef[keep, 1],
        }
