"""The frozen result of a fit; its text, HTML and JSON come from :mod:`clipscale._render`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from . import _render, forms
from ._bands import delta_band
from ._render import data_hash, format_value
from ._version import __version__
from .data import as_inputs

__all__ = ["FitResult", "data_hash", "format_value"]


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float, copy=True)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class FitResult:
    """The outcome of :func:`clipscale.fit`; a frozen value.

    Attributes
    ----------
    form : Form
        The fitted functional form.
    params : Mapping[str, float]
        Fitted parameter values (fixed ones included), read-only.
    stderr : Mapping[str, float]
        Standard errors: ``sqrt(diag(s**2 (J^T W J)^-1))`` with ``s**2`` the weighted residual
        variance on ``dof`` degrees of freedom, ``J`` the Jacobian of the (transformed)
        residuals; 0 for fixed parameters, NaN where undefined.
    covariance : pandas.DataFrame
        Covariance of the free parameters.
    loss : str
        Name of the loss; ``loss_value`` is its value at the optimum.
    n, dof : int
        Number of points, and points with non-zero weight minus free parameters.
    notes : tuple of str
        Diagnostics (parameter at a bound, weak identification, poor conditioning).
    settings : Mapping
        Fixed parameters, bounds and loss options used.
    x, y, weights : ndarray
        The data that was fitted (read-only copies).
    data_hash : str
        Hash of ``x``, ``y`` and ``weights``.
    version : str
        clipscale version that produced the result.
    """

    form: forms.Form
    params: Mapping[str, float]
    stderr: Mapping[str, float]
    covariance: pd.DataFrame
    loss: str
    loss_value: float
    n: int
    dof: int
    notes: tuple[str, ...]
    settings: Mapping[str, Any]
    x: np.ndarray
    y: np.ndarray
    weights: np.ndarray
    data_hash: str
    version: str = __version__

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "params", MappingProxyType(dict(self.params)))
        set_(self, "stderr", MappingProxyType(dict(self.stderr)))
        set_(self, "settings", MappingProxyType(dict(self.settings)))
        cov = self.covariance  # a read-only copy: writing into it raises, as for x and y
        frame = pd.DataFrame(_readonly(cov), index=cov.index, columns=cov.columns, copy=False)
        set_(self, "covariance", frame)
        set_(self, "notes", tuple(self.notes))
        for name in ("x", "y", "weights"):
            set_(self, name, _readonly(getattr(self, name)))

    # ------------------------------------------------------------------ use
    def predict(self, x: Any, confidence_level: float | None = None) -> Any:
        """Evaluate the fitted law at ``x`` (array-like; named inputs for joint laws).

        With ``confidence_level`` (e.g. 0.95) returns a DataFrame indexed by ``x`` with
        ``estimate``, ``lower``, ``upper`` and ``extrapolated`` (x outside the fitted range):
        an **approximate** pointwise band for the law itself (not for new observations) by the
        delta method, ``t(yhat) -/+ q * sqrt(g' C g)`` on the loss's scale (log for log losses)
        with ``C`` the covariance, ``g`` the gradient and ``q`` the Student t quantile on
        ``dof`` degrees of freedom. It assumes the law is close to linear in its parameters
        over their uncertainty, which fails for weakly identified fits and far extrapolations;
        :meth:`bootstrap` gives calibrated intervals.
        """
        if confidence_level is not None:
            return delta_band(self, x, confidence_level)
        if len(self.form.inputs) > 1:
            return self.form.predict(self.params, as_inputs(x, self.form.inputs))
        xa = np.asarray(x, dtype=float)
        if xa.ndim == 0:
            return self.form.predict(self.params, xa.reshape(1))[0]
        return self.form.predict(self.params, xa)

    @property
    def fitted(self) -> np.ndarray:
        """Predictions at the fitted ``x``."""
        return self.predict(self.x)

    @property
    def residuals(self) -> np.ndarray:
        """``y - yhat`` at the fitted points."""
        return self.y - self.fitted

    @property
    def free_params(self) -> tuple[str, ...]:
        """Names of the parameters that were fitted (not fixed)."""
        return tuple(self.covariance.columns)

    def bootstrap(
        self,
        n_resamples: int = 1000,
        *,
        method: str = "pairs",
        groups: Any = None,
        confidence_level: float = 0.95,
        interval: str | None = None,
        rng: Any = None,
        progress: bool | None = None,
    ) -> Any:
        """Bootstrap the fit: refit all resamples at once; returns a :class:`BootstrapResult`.

        Failed resamples are counted (``n_failed``) and reported, never silently dropped.

        Parameters
        ----------
        n_resamples : int, default 1000
            Number of resamples.
        method : {"pairs", "cluster", "residual", "wild", "bayesian"}, default "pairs"
            ``pairs`` resamples points (multinomial counts as weights); ``cluster`` resamples
            whole groups (``groups``: one label per point, e.g. all checkpoints of one run);
            ``residual`` adds resampled leverage-corrected residuals to the fitted values;
            ``wild`` flips their signs at random (Rademacher); ``bayesian`` uses Dirichlet
            weights.
        groups : array-like, optional
            Group label of every point, for ``method="cluster"``.
        confidence_level : float, default 0.95
            Default level of the result's intervals.
        interval : {"studentized", "percentile", "basic", "bca", "expanded"}, optional
            Default interval type of the result; ``None`` picks the one the coverage study
            measured best for ``method`` (``studentized`` for pairs, residual and wild; see
            ``clipscale.bootstrap.DEFAULT_INTERVALS`` and docs/uncertainty.md).
        rng : int or numpy.random.Generator, optional
            Seed or generator; the same seed gives the same result.
        progress : bool, optional
            Show a progress bar; by default only on a terminal and for runs longer than ~1 s.
        """
        from .bootstrap import bootstrap

        return bootstrap(
            self,
            n_resamples,
            method=method,
            groups=groups,
            confidence_level=confidence_level,
            interval=interval,
            rng=rng,
            progress=progress,
        )

    def to_lmfit(self) -> Any:
        """The fit as ``lmfit.Parameters`` with ``stderr`` and correlations filled in."""
        import lmfit

        out = lmfit.Parameters()
        bounds = self.settings["bounds"]
        for p in self.form.param_names:
            low, high = bounds[p]
            out.add(p, value=self.params[p], min=low, max=high, vary=p in self.free_params)
            out[p].stderr = self.stderr[p]
        cov = self.covariance.to_numpy()
        free = self.free_params
        for i, a in enumerate(free):
            out[a].correl = {}
            for j, b in enumerate(free):
                if i != j:
                    denom = math.sqrt(cov[i, i] * cov[j, j]) if cov[i, i] * cov[j, j] > 0 else 0
                    out[a].correl[b] = cov[i, j] / denom if denom else float("nan")
        return out

    # ------------------------------------------------------------------ renderings
    def table(self) -> pd.DataFrame:
        """Parameters as a DataFrame: value, stderr, fixed, low and high bounds."""
        rows = []
        for p in self.form.param_names:
            low, high = self.settings["bounds"][p]
            rows.append(
                {
                    "param": p,
                    "value": self.params[p],
                    "stderr": self.stderr[p],
                    "fixed": p not in self.free_params,
                    "low": low,
                    "high": high,
                }
            )
        return pd.DataFrame(rows).set_index("param")

    def summary(self) -> str:
        """A plain-text report: form, loss, data size, parameters with errors, notes."""
        return _render.fit_summary(self)

    def __str__(self) -> str:
        return _render.fit_summary(self)

    def __repr__(self) -> str:
        return _render.fit_repr(self)

    def _repr_html_(self) -> str:
        return _render.fit_html(self)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (NaN and inf become ``null``)."""
        return _render.fit_to_dict(self)

    def to_json(self, indent: int | None = 2) -> str:
        """JSON text that :meth:`from_json` loads back (no pickle)."""
        return _render.dumps(self.to_dict(), indent)

    @classmethod
    def from_json(cls, text: str) -> FitResult:
        """Load a result written by :meth:`to_json`."""
        return _render.fit_from_json(cls, text)
