"""Objectives the fitter minimises.

Every loss is a weighted sum over points of ``rho(r_i)`` where ``r_i = t(y_i) - t(yhat_i)`` is a
residual after a transform ``t`` (identity, ``log`` or ``log1p``):

========== ================ ==================================== ==============
name       transform ``t``   ``rho(r)``                           least squares
========== ================ ==================================== ==============
ls         identity          ``r**2``                             yes
log_ls     ``log``           ``r**2``                             yes
msle1p     ``log1p``         ``r**2``                             yes
huber_log  ``log``           ``scipy.special.huber(delta, r)``    no
asymmetric identity          ``r`` if r >= 0 else ``-asymmetry*r`` no (a weighted mean)
========== ================ ==================================== ==============

``loss_value`` of a fit is exactly ``sum_i w_i * rho(r_i)``, except ``asymmetric``, which is the
weighted mean ``sum_i w_i rho(r_i) / sum_i w_i`` (the mean absolute error with over-predictions,
``yhat > y``, counted ``asymmetry`` times: the curve hugs the lower envelope of the data, as in
the ``chinchilla`` package of Takano, whose objective value it reproduces).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import huber

from .exceptions import DataError

__all__ = ["Loss", "get_loss", "available_losses"]


def _identity(v: np.ndarray) -> np.ndarray:
    return v


def _one(v: np.ndarray) -> np.ndarray:
    return np.ones_like(v)


def _inv(v: np.ndarray) -> np.ndarray:
    return 1.0 / v


def _inv1p(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + v)


def _safe_log(v: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v > 0, np.log(np.where(v > 0, v, 1.0)), -np.inf)


def _safe_log1p(v: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v > -1, np.log1p(np.where(v > -1, v, 0.0)), -np.inf)


def _exp(v: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.exp(v)


def _expm1(v: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.expm1(v)


@dataclass(frozen=True)
class Loss:
    """A fitting objective ``sum_i w_i * rho(t(y_i) - t(yhat_i))``.

    Attributes
    ----------
    name : str
        Registry name.
    transform : callable
        ``t``, applied to observed and predicted values.
    dtransform : callable
        ``dt/dyhat``.
    y_greater_than : float or None
        Observed values must exceed this (0 for ``log``, -1 for ``log1p``).
    is_least_squares : bool
        ``rho(r) = r**2``: the fitter can use ``scipy.optimize.least_squares`` directly.
    delta : float or None
        Huber threshold, for ``huber_log``.
    asymmetry : float or None
        Weight of over-predictions, for ``asymmetric``.
    log_space : bool
        Residuals are differences of logs (``t = log``): the fitter evaluates the form's
        ``log_predict`` directly.
    transform_name : str
        ``"identity"``, ``"log"`` or ``"log1p"``.
    inverse : callable
        ``t**-1`` (``exp``, ``expm1`` or the identity), mapping transformed values back to data
        units.
    """

    name: str
    transform: Callable[[np.ndarray], np.ndarray]
    dtransform: Callable[[np.ndarray], np.ndarray]
    y_greater_than: float | None
    is_least_squares: bool
    delta: float | None = None
    asymmetry: float | None = None
    log_space: bool = False
    transform_name: str = "identity"
    inverse: Callable[[np.ndarray], np.ndarray] = _identity

    @property
    def is_identity(self) -> bool:
        """True when the transform is the identity (residuals in data units)."""
        return self.transform_name == "identity"

    @property
    def is_plain_ls(self) -> bool:
        """Least squares in data units (``rho(r) = r**2``, ``t`` the identity): the linear
        sub-problem of the start search is then exact, not first order."""
        return self.is_identity and self.is_least_squares

    def predict_transformed(self, form: Any, p: Mapping[str, Any], x: np.ndarray) -> np.ndarray:
        """``t(yhat)`` of ``form`` at parameters ``p`` (the form's ``log_predict`` in log space:
        exact where ``yhat`` itself would under- or overflow)."""
        if self.log_space:
            return form.log_predict(p, x)
        return self.transform(form.predict(p, x))

    def rho(self, r: np.ndarray) -> np.ndarray:
        """Per-point loss of residual ``r``."""
        if self.is_least_squares:
            return r * r
        if self.asymmetry is not None:
            return np.where(r < 0, -self.asymmetry * r, r)
        return huber(self.delta, r)

    def drho(self, r: np.ndarray) -> np.ndarray:
        """Derivative of :meth:`rho` with respect to ``r``."""
        if self.is_least_squares:
            return 2.0 * r
        if self.asymmetry is not None:
            return np.where(r < 0, -self.asymmetry, 1.0)
        return np.clip(r, -self.delta, self.delta)

    def value(self, r: np.ndarray, w: np.ndarray) -> float:
        """``sum(w * rho(r))``; ``inf`` where any weighted residual is not finite."""
        terms = w * self.rho(r)
        terms = np.where(w == 0, 0.0, terms)
        total = float(np.sum(terms))
        if self.asymmetry is not None:
            total /= float(np.sum(w))
        return total if np.isfinite(total) else np.inf

    def value_and_grad(
        self, r: np.ndarray, w: np.ndarray, smoothing: float = 0.0
    ) -> tuple[float, np.ndarray]:
        """:meth:`value` and its derivative with respect to each residual.

        ``smoothing > 0`` (``asymmetric`` only) replaces the kink at ``r = 0`` by
        ``r + (1 + asymmetry) * s * softplus(-r / s)``, which tends to the exact loss as
        ``s -> 0``; the fitter follows a decreasing sequence of ``s`` (continuation).
        """
        if self.asymmetry is not None and smoothing > 0:
            z = -r / smoothing
            k = 1.0 + self.asymmetry
            rho = r + k * smoothing * np.logaddexp(0.0, z)
            drho = 1.0 - k * np.exp(-np.logaddexp(0.0, -z))
        else:
            rho, drho = self.rho(r), self.drho(r)
        total = float(np.sum(np.where(w == 0, 0.0, w * rho)))
        grad = w * drho
        if self.asymmetry is not None:
            total, grad = total / float(np.sum(w)), grad / float(np.sum(w))
        return (total if np.isfinite(total) else np.inf), grad

    def smoothed_terms(
        self, r: np.ndarray, w: np.ndarray, smoothing: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Terms ``f`` with ``sum(f**2)`` the smoothed loss, and ``df/dr`` (``smoothing > 0``).

        The smoothed asymmetric loss is positive everywhere, so it is a sum of squares of
        ``f = sqrt(w * rho_s(r) / sum(w))``: ``scipy.optimize.least_squares`` minimises it with
        the analytic Jacobian ``df/dr = w * rho_s'(r) / (2 f sum(w))``.
        """
        z = -r / smoothing
        k = 1.0 + float(self.asymmetry if self.asymmetry is not None else 1.0)
        rho = r + k * smoothing * np.logaddexp(0.0, z)
        drho = 1.0 - k * np.exp(-np.logaddexp(0.0, -z))
        total = float(np.sum(w))
        f = np.sqrt(np.maximum(w * rho, 0.0) / total)
        with np.errstate(divide="ignore", invalid="ignore"):
            df = np.where(f > 0, w * drho / (2.0 * f * total), 0.0)
        return f, df

    def continuation(self, r: np.ndarray) -> tuple[list[float], list[float]]:
        """The smoothing widths a polish follows from residuals ``r``: ``(coarse, fine)``.

        For ``asymmetric``, the kink is smoothed with widths ``s`` a tenth and a hundredth of
        the typical residual (coarse stages, minimised as sums of squares with
        :meth:`smoothed_terms`: fast), then a thousandth, a ten-thousandth and 0 (the exact
        loss, by L-BFGS-B on :meth:`value_and_grad`: precise at the kinked optimum). Other
        losses: no coarse stage, the exact loss only.
        """
        if self.asymmetry is None:
            return [], [0.0]
        typical = float(np.median(np.abs(r[np.isfinite(r)]))) if r.size else 1.0
        return [typical * 10.0**-k for k in (1, 2)], [typical * 10.0**-k for k in (3, 4)] + [0.0]

    def settings(self) -> dict[str, float]:
        """Loss options to record in a result's provenance."""
        if self.asymmetry is not None:
            return {"asymmetry": self.asymmetry}
        return {} if self.delta is None else {"huber_delta": self.delta}


# transform name, t, dt/dyhat, inverse of t, lower limit of y
_KINDS = {
    "identity": (_identity, _one, _identity, None),
    "log": (_safe_log, _inv, _exp, 0.0),
    "log1p": (_safe_log1p, _inv1p, _expm1, -1.0),
}
_TRANSFORMS = {
    "ls": "identity",
    "log_ls": "log",
    "msle1p": "log1p",
    "huber_log": "log",
    "asymmetric": "identity",
}


def available_losses() -> list[str]:
    """Names of the built-in losses."""
    return sorted(_TRANSFORMS)


def get_loss(
    name: str | Loss, *, huber_delta: float | None = None, asymmetry: float | None = None
) -> Loss:
    """Return the :class:`Loss` called ``name``.

    Parameters
    ----------
    name : str or Loss
        One of :func:`available_losses`; a ``Loss`` passes through.
    huber_delta : float, optional
        Threshold of ``huber_log`` (default 1e-3, as in Hoffmann et al. 2022).
    asymmetry : float, optional
        Weight of over-predictions in ``asymmetric`` (default 10, as in the ``chinchilla``
        package).
    """
    if isinstance(name, Loss):
        return name
    if name not in _TRANSFORMS:
        raise DataError(f"unknown loss {name!r}; choose one of {', '.join(available_losses())}")
    kind = _TRANSFORMS[name]
    t, dt, inv, lower = _KINDS[kind]
    common = dict(log_space=kind == "log", transform_name=kind, inverse=inv)
    if asymmetry is not None and name != "asymmetric":
        raise DataError(f"asymmetry only applies to loss='asymmetric', not loss={name!r}")
    if name == "asymmetric":
        if huber_delta is not None:
            raise DataError("huber_delta only applies to loss='huber_log', not loss='asymmetric'")
        a = 10.0 if asymmetry is None else float(asymmetry)
        if not np.isfinite(a) or a <= 0:
            raise DataError(f"asymmetry must be a positive number, got {asymmetry!r}")
        return Loss(name, t, dt, lower, is_least_squares=False, asymmetry=a, **common)
    if name == "huber_log":
        delta = 1e-3 if huber_delta is None else float(huber_delta)
        if not np.isfinite(delta) or delta <= 0:
            raise DataError(f"huber_delta must be a positive number, got {huber_delta!r}")
        return Loss(name, t, dt, lower, is_least_squares=False, delta=delta, **common)
    if huber_delta is not None:
        raise DataError(f"huber_delta only applies to loss='huber_log', not loss={name!r}")
    return Loss(name, t, dt, lower, is_least_squares=True, **common)
