"""The scale a loss measures residuals on, and the delta-method band of a fit (layer 3).

:meth:`clipscale.FitResult.predict` draws its approximate band here, and the bootstrap
(:mod:`clipscale._uncertainty`) reuses the same helpers: the transform of a loss and its
inverse, the gradient of a prediction on that scale, and the index and extrapolation flags of a
prediction table. Everything here takes the result duck-typed and imports only downward.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import stdtrit

from .data import as_inputs
from .exceptions import DataError
from .losses import Loss, get_loss

__all__ = [
    "as_x",
    "check_level",
    "delta_band",
    "gradient_in_space",
    "loss_of",
    "outside",
    "prediction_index",
    "space",
]

Transform = tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]


def check_level(confidence_level: Any) -> float:
    """Validate ``confidence_level`` (a number strictly between 0 and 1)."""
    try:
        level = float(confidence_level)
    except (TypeError, ValueError) as exc:
        raise DataError(
            f"confidence_level must be a number in (0, 1), e.g. 0.95; got {confidence_level!r}"
        ) from exc
    if not 0 < level < 1:
        raise DataError(
            f"confidence_level must be in (0, 1), e.g. 0.95 (not a percentage); got {level!r}"
        )
    return level


def loss_of(result: Any) -> Loss:
    """The :class:`~clipscale.losses.Loss` of a fit (its name and the options it recorded)."""
    settings = result.settings
    options = {k: settings[k] for k in ("huber_delta", "asymmetry") if k in settings}
    return get_loss(result.loss, **options)


def _as_float(v: np.ndarray) -> np.ndarray:
    return np.asarray(v, float)


def _log(v: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(v)


def _log1p(v: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log1p(v)


# The forward transform keyed on the Loss's transform name keeps np.log's NaN for negative
# values (the Loss's safe transform gives -inf there, which a quantile would count); the
# inverse is the Loss's own.
_FORWARD: dict[str, Callable[[np.ndarray], np.ndarray]] = {"log": _log, "log1p": _log1p}


def space(loss: Loss) -> Transform:
    """(forward, inverse) of the scale ``loss`` measures residuals on: log, log1p or identity."""
    loss = get_loss(loss)
    return _FORWARD.get(loss.transform_name, _as_float), loss.inverse


def gradient_in_space(
    form: Any, params: Any, x: np.ndarray, free: list[str], loss: Loss
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prediction on the loss's scale, its gradient in the free parameters, and the prediction."""
    fwd, _ = space(loss)
    with np.errstate(all="ignore"):
        yhat = np.asarray(form.predict(params, x), float)
        jac = np.asarray(form.jacobian(params, x), float)
        cols = [form.param_names.index(p) for p in free]
        jac = jac[..., cols]
        eps = 1e-7 * np.maximum(np.abs(yhat), 1e-300)
        slope = (fwd(yhat + eps) - fwd(yhat - eps)) / (2 * eps)  # d t / d yhat
    return fwd(yhat), jac * slope[..., None], yhat


def prediction_index(form: Any, x: np.ndarray) -> pd.Index:
    """Index of a prediction table: ``x``, or one level per input of a joint law."""
    if x.ndim == 1:
        return pd.Index(x, name="x")
    return pd.MultiIndex.from_arrays(list(x.T), names=list(form.inputs))


def outside(result: Any, x: np.ndarray) -> np.ndarray:
    """True where ``x`` lies outside the range of the fitted (positive-weight) inputs."""
    xf = np.asarray(result.x)[np.asarray(result.weights) > 0]
    if x.ndim == 1:
        return (x < xf.min()) | (x > xf.max())
    return np.any((x < xf.min(axis=0)) | (x > xf.max(axis=0)), axis=1)


def as_x(result: Any, x: Any) -> np.ndarray:
    """``x`` as the fit's inputs: a 1-D array, or ``(m, d)`` for a joint law."""
    if len(result.form.inputs) > 1:
        return as_inputs(x, result.form.inputs, form_name=result.form.name)
    return np.atleast_1d(np.asarray(x, dtype=float))


def delta_band(result: Any, x: Any, confidence_level: float) -> pd.DataFrame:
    """Approximate pointwise band for the mean by the delta method (see FitResult.predict)."""
    level = check_level(confidence_level)
    xa = as_x(result, x)
    free = list(result.free_params)
    loss = loss_of(result)
    tv, grad, yhat = gradient_in_space(result.form, result.params, xa, free, loss)
    cov = result.covariance.to_numpy()
    se = np.sqrt(np.maximum(np.einsum("ni,ij,nj->n", grad, cov, grad), 0.0)) if free else 0 * tv
    tail = (1 - level) / 2
    q = stdtrit(result.dof, 1 - tail) if result.dof > 0 else np.nan
    _, inv = space(loss)
    return pd.DataFrame(
        {
            "estimate": yhat,
            "lower": inv(tv - q * se),
            "upper": inv(tv + q * se),
            "extrapolated": outside(result, xa),
        },
        index=prediction_index(result.form, xa),
    )
