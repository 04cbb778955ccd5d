"""Bootstrap intervals for fitted scaling laws: the entry point and :class:`BootstrapResult`.

Every scheme (:mod:`clipscale._uncertainty.schemes`, one small class per method) turns a fit
into ``B`` resamples over the *same* inputs: a weight vector per resample (pairs: multinomial
counts, bayesian: Dirichlet weights, cluster: counts of whole groups) or a new target vector
(residual, wild). :mod:`clipscale._engine` then fits all of them at once, warm-started from the
point estimate and checked against the start grid; :mod:`clipscale._uncertainty.intervals`
turns the draws into intervals, and :mod:`clipscale._render` renders the result.

>>> import numpy as np, clipscale
>>> rng = np.random.default_rng(0)
>>> x = np.geomspace(1e7, 1e10, 12)
>>> y = (0.2 + 0.6 * (x / 1e7) ** -0.35) * np.exp(0.02 * rng.standard_normal(12))
>>> boot = clipscale.fit("saturating", x, y).bootstrap(1000, rng=0)
>>> low, high = boot.confidence_interval("alpha")
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from . import _render
from ._bands import as_x, gradient_in_space, loss_of, outside, prediction_index, space
from ._engine.batch import STATUS, Batch
from ._engine.covariance import covariances, residual_variance
from ._uncertainty import intervals as iv
from ._uncertainty.schemes import METHODS, SCHEMES, residual_pool, solve_all, validate
from ._version import __version__
from .exceptions import ClipscaleWarning, DataError
from .results import FitResult

__all__ = ["bootstrap", "BootstrapResult", "METHODS", "DEFAULT_INTERVALS"]

#: Default interval type of each method: the one ``benchmarks/coverage_study.py`` measured
#: closest to nominal (docs/uncertainty.md has the table), declared by each scheme class.
#: Pairs, residual and wild bootstraps are calibrated with studentized intervals
#: (``tests/test_coverage.py`` checks pairs); no interval type made the bayesian or cluster
#: bootstraps calibrated at n <= 20.
DEFAULT_INTERVALS = {name: cls.default_interval for name, cls in SCHEMES.items()}


def bootstrap(
    result: FitResult,
    n_resamples: int = 1000,
    *,
    method: str = "pairs",
    groups: Any = None,
    confidence_level: float = 0.95,
    interval: str | None = None,
    rng: int | np.random.Generator | None = None,
    progress: bool | None = None,
) -> BootstrapResult:
    """Refit ``result`` on ``n_resamples`` bootstrap resamples, all at once.

    See :meth:`clipscale.FitResult.bootstrap` for the parameters.
    """
    scheme_class, level, interval, gen, codes = validate(
        result, n_resamples, method, groups, confidence_level, interval, rng
    )
    batch = Batch.from_fit(result)
    theta_hat = np.array([result.params[p] for p in batch.names], float)
    scheme = scheme_class(result, batch, codes)
    start = time.perf_counter()
    B = int(n_resamples)
    w, y, mult = scheme.draw(gen, B)
    # the leave-one-out fits (for bca) ride along as extra rows of the same batch
    jw = scheme.jackknife_weights()
    y_obs = np.asarray(result.y, float)
    y_all = y if np.ndim(y) == 1 else np.concatenate([y, np.broadcast_to(y_obs, jw.shape)])
    both = solve_all(batch, theta_hat, y_all, np.concatenate([w, jw]), progress, shown=B)
    y = np.broadcast_to(y, w.shape)
    sol = both.rows(slice(0, B))
    jack = both.theta[B:] if len(jw) else None
    k = batch.free_idx.size
    dof = mult @ (result.weights > 0).astype(float) - k
    if batch.loss.is_least_squares:  # the loss value is the weighted sum of squares
        with np.errstate(all="ignore"):
            s2 = np.where(np.isfinite(sol.value), sol.value, np.nan) / np.where(
                dof > 0, dof, np.nan
            )
    else:
        s2 = residual_variance(batch, sol.theta, y, w, dof)
    cov = covariances(batch, sol.theta, y, w, dof, s2=s2, normal=sol.normal)
    counts = sol.counts()
    solver = {**counts, "iterations": sol.iterations, "seconds": time.perf_counter() - start}
    out = BootstrapResult(
        fit=result,
        method=method,
        interval=interval,
        confidence_level=level,
        theta=sol.theta,
        loss_values=sol.value,
        residual_variance=s2,
        status=sol.status,
        covariances=cov,
        jackknife=np.zeros((0, len(batch.names))) if jack is None else jack,
        solver=solver,
        seed=int(gen.integers(2**62)),
        n_units=scheme.n_units,
    )
    for note in out.notes:
        warnings.warn(note, ClipscaleWarning, stacklevel=3)
    return out


# --------------------------------------------------------------------------- the result
def _frozen(a: Any) -> np.ndarray:
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


@dataclass(frozen=True, eq=False)
class BootstrapResult:
    """Bootstrap distribution of a fit; a frozen value made by :meth:`FitResult.bootstrap`.

    Attributes
    ----------
    fit : FitResult
        The fit that was resampled (its parameters are the point estimates).
    method : str
        Resampling scheme: ``pairs``, ``cluster``, ``residual``, ``wild`` or ``bayesian``.
    interval : str
        Default interval type of the ``*_interval`` methods.
    confidence_level : float
        Default confidence level.
    theta : ndarray, shape (B, p)
        Parameter vectors of every resample (fixed parameters included), read-only.
    loss_values, residual_variance : ndarray, shape (B,)
        Loss at each resample's optimum, and its residual variance on the loss's scale.
    status : ndarray of int, shape (B,)
        0 solved in the batch, 1 re-polished from the start grid, 2 refitted by the fallback
        loop, -1 failed (no finite loss), -2 degenerate (fewer distinct points than free
        parameters). Failed and degenerate resamples are left out of every interval.
    covariances : ndarray, shape (B, k, k)
        Covariance of the free parameters of each resample (for studentized intervals).
    jackknife : ndarray, shape (J, p)
        Leave-one-out (point, or group for ``cluster``) estimates, for ``bca``.
    solver : Mapping
        How many resamples each solver path handled, LM iterations and seconds.
    seed : int
        Seed of the noise draws of observation intervals (so they are reproducible).
    n_units : int
        Number of resampled units: points with weight, or groups.
    """

    fit: FitResult
    method: str
    interval: str
    confidence_level: float
    theta: np.ndarray
    loss_values: np.ndarray
    residual_variance: np.ndarray
    status: np.ndarray
    covariances: np.ndarray
    jackknife: np.ndarray
    solver: Mapping[str, Any]
    seed: int
    n_units: int
    version: str = __version__

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        for name in ("theta", "loss_values", "residual_variance", "covariances", "jackknife"):
            set_(self, name, _frozen(np.asarray(getattr(self, name), float)))
        set_(self, "status", _frozen(np.asarray(self.status, int)))
        set_(self, "solver", MappingProxyType(dict(self.solver)))

    # ------------------------------------------------------------------ basics
    @property
    def n_resamples(self) -> int:
        return int(self.theta.shape[0])

    @property
    def n_failed(self) -> int:
        """Resamples whose fit failed or was degenerate (left out of the intervals)."""
        return int(np.sum(self.status < 0))

    @property
    def names(self) -> tuple[str, ...]:
        return self.fit.form.param_names

    @property
    def draws(self) -> pd.DataFrame:
        """One row per resample: parameters, loss value, residual variance and status."""
        df = pd.DataFrame(self.theta, columns=list(self.names))
        df["loss_value"] = self.loss_values
        df["status"] = [STATUS[int(s)] for s in self.status]
        df.index.name = "resample"
        return df

    @property
    def notes(self) -> tuple[str, ...]:
        out = []
        if self.n_failed:
            deg = int(np.sum(self.status == -2))
            out.append(
                f"{self.n_failed} of {self.n_resamples} resamples failed ({deg} degenerate: "
                "fewer distinct points than free parameters) and are left out of the intervals"
            )
        return tuple(out)

    def _ok(self) -> np.ndarray:
        return self.status >= 0

    def _level(self, confidence_level: float | None) -> float:
        if confidence_level is None:
            return self.confidence_level
        return iv.check_level(confidence_level)

    def _kind(self, interval: str | None) -> str:
        return self.interval if interval is None else iv.check_interval(interval)

    def _expansion(self, level: float) -> float:
        k = len(self.fit.free_params)
        shrunk = self.method in SCHEMES and SCHEMES[self.method].shrinks
        return iv.expansion_factor(level, self.n_units, k, shrunk=shrunk)

    def _compute(
        self,
        kind: str,
        level: float,
        draws: np.ndarray,
        est: np.ndarray,
        se_draws: np.ndarray | None,
        se_hat: np.ndarray | None,
        jack: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        return iv.interval(
            kind,
            draws,
            est,
            level,
            se_draws=se_draws,
            se_hat=se_hat,
            jackknife=jack,
            expansion=self._expansion(level),
        )

    # ------------------------------------------------------------------ parameters
    def _param_intervals(self, level: float, kind: str) -> tuple[np.ndarray, np.ndarray]:
        free = list(self.fit.free_params)
        idx = [self.names.index(p) for p in free]
        ok = self._ok()
        est = np.array([self.fit.params[p] for p in free])
        se_draws = np.sqrt(np.abs(np.diagonal(self.covariances, axis1=1, axis2=2)))[ok]
        se_hat = np.array([self.fit.stderr[p] for p in free])
        jack = self.jackknife[:, idx] if len(self.jackknife) else None
        low, high = self._compute(kind, level, self.theta[ok][:, idx], est, se_draws, se_hat, jack)
        bounds = self.fit.settings["bounds"]
        at_bound = np.array([np.isclose(est[j], bounds[p], rtol=0, atol=1e-8).any()
                             for j, p in enumerate(free)])  # fmt: skip
        if kind == "studentized" and at_bound.any():
            # no standard error is meaningful at a bound (the fit notes it): percentile there
            plow, phigh = self._compute("percentile", level, self.theta[ok][:, idx], est,
                                        se_draws, se_hat, jack)  # fmt: skip
            low, high = np.where(at_bound, plow, low), np.where(at_bound, phigh, high)
        # a parameter cannot leave its bounds (E >= 0, say): nor can the ends of its interval
        low = np.clip(low, [bounds[p][0] for p in free], [bounds[p][1] for p in free])
        high = np.clip(high, [bounds[p][0] for p in free], [bounds[p][1] for p in free])
        all_low = np.array([self.fit.params[p] for p in self.names])
        all_high = all_low.copy()
        all_low[idx], all_high[idx] = low, high
        return all_low, all_high

    def confidence_interval(
        self, name: str, confidence_level: float | None = None, *, interval: str | None = None
    ) -> tuple[float, float]:
        """``(low, high)`` for parameter ``name``; a fixed parameter gives ``(value, value)``."""
        if name not in self.names:
            raise DataError(
                f"{name!r} is not a parameter of form {self.fit.form.name!r}; its parameters "
                f"are {', '.join(self.names)} (use derive() for other quantities)"
            )
        low, high = self._param_intervals(self._level(confidence_level), self._kind(interval))
        i = self.names.index(name)
        return float(low[i]), float(high[i])

    def table(
        self, confidence_level: float | None = None, *, interval: str | None = None
    ) -> pd.DataFrame:
        """Every parameter: estimate, bootstrap std, bias, lower and upper end, fixed."""
        level, kind = self._level(confidence_level), self._kind(interval)
        low, high = self._param_intervals(level, kind)
        ok = self.theta[self._ok()]
        est = np.array([self.fit.params[p] for p in self.names])
        with np.errstate(all="ignore"):
            std = np.std(ok, axis=0, ddof=1) if len(ok) > 1 else np.full(len(est), np.nan)
            bias = np.mean(ok, axis=0) - est if len(ok) else np.full(len(est), np.nan)
        return pd.DataFrame(
            {
                "estimate": est,
                "std": std,
                "bias": bias,
                "lower": low,
                "upper": high,
                "fixed": [p not in self.fit.free_params for p in self.names],
            },
            index=pd.Index(self.names, name="param"),
        )

    # ------------------------------------------------------------------ predictions
    def _prediction_parts(self, xa: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        free = list(self.fit.free_params)
        params = {p: theta[:, [i]] for i, p in enumerate(self.names)}
        tv, grad, _ = gradient_in_space(self.fit.form, params, xa, free, loss_of(self.fit))
        return np.broadcast_to(tv, (theta.shape[0], xa.shape[0])), grad

    def predict_interval(
        self,
        x: Any,
        *,
        kind: str = "mean",
        confidence_level: float | None = None,
        interval: str | None = None,
    ) -> pd.DataFrame:
        """Pointwise interval for the fitted law at ``x``.

        Parameters
        ----------
        x : array-like (named inputs for joint laws)
        kind : {"mean", "observation"}
            ``mean``: where the law itself lies. ``observation``: where a new measurement at
            ``x`` (weight 1) lies: the resampled law plus a residual drawn from the fit's
            leverage-corrected residuals (the interval type's standard errors add the residual
            variance). ``bca`` is not available for observations.
        confidence_level, interval : optional
            Override the result's defaults.

        Returns
        -------
        pandas.DataFrame
            ``estimate`` (the fit's prediction), ``lower``, ``upper`` and ``extrapolated``
            (True outside the range of the fitted inputs), indexed by ``x``.
        """
        if kind not in ("mean", "observation"):
            raise DataError(f"kind must be 'mean' or 'observation', got {kind!r}")
        level, ikind = self._level(confidence_level), self._kind(interval)
        if kind == "observation" and ikind == "bca":
            raise DataError("interval='bca' is not available for kind='observation'")
        xa = as_x(self.fit, x)
        ok = self._ok()
        tv, grad = self._prediction_parts(xa, self.theta[ok])
        se = np.sqrt(np.maximum(np.sum(grad @ self.covariances[ok] * grad, axis=-1), 0))
        theta_hat = np.array([[self.fit.params[p] for p in self.names]])
        tv_hat, grad_hat = self._prediction_parts(xa, theta_hat)
        cov_hat = self.fit.covariance.to_numpy()
        se_hat = np.sqrt(np.maximum(np.einsum("mi,ij,mj->m", grad_hat[0], cov_hat, grad_hat[0]), 0))
        jack = self._prediction_parts(xa, self.jackknife)[0] if len(self.jackknife) else None
        if kind == "observation":
            tv, se, se_hat = self._add_noise(tv, se, se_hat, ok)
        low, high = self._compute(ikind, level, tv, tv_hat[0], se, se_hat, jack)
        _, inverse = space(loss_of(self.fit))
        return pd.DataFrame(
            {
                "estimate": self.fit.form.predict(self.fit.params, xa),
                "lower": inverse(low),
                "upper": inverse(high),
                "extrapolated": outside(self.fit, xa),
            },
            index=prediction_index(self.fit.form, xa),
        )

    def _add_noise(
        self, tv: np.ndarray, se: np.ndarray, se_hat: np.ndarray, ok: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        _, _, centred = residual_pool(self.fit, Batch.from_fit(self.fit))
        pool = centred[np.asarray(self.fit.weights) > 0]
        gen = np.random.default_rng(self.seed)
        noise = pool[gen.integers(0, pool.size, size=tv.shape)]
        s2_hat = float(np.sum(pool**2) / max(pool.size, 1))
        s2 = self.residual_variance[ok][:, None]
        return tv + noise, np.sqrt(se**2 + s2), np.sqrt(se_hat**2 + s2_hat)

    # ------------------------------------------------------------------ derived quantities
    def derive(
        self,
        fn: Callable[[Mapping[str, Any]], Any],
        *,
        confidence_level: float | None = None,
        interval: str | None = None,
    ) -> pd.DataFrame:
        """Interval for any quantity computed from the parameters.

        ``fn(params)`` gets a mapping of parameter name to value and returns a number (or a
        1-D array). It is called once with arrays holding every resample (write it with numpy
        operations) and falls back to one call per resample when that fails. Example, the
        scale at which a saturating law reaches error 0.25::

            boot.derive(lambda p: (p["A"] / (0.25 - p["E"])) ** (1 / p["alpha"]))

        Returns a DataFrame with ``estimate``, ``lower``, ``upper`` and ``n_undefined`` (draws
        where ``fn`` gave NaN, left out of the interval), one row per element of the output.
        Studentized intervals use numerical gradients of ``fn``.
        """
        level, kind = self._level(confidence_level), self._kind(interval)
        ok = self._ok()
        theta_hat = np.array([[self.fit.params[p] for p in self.names]])
        names = self.names
        est = iv.call_on_draws(fn, names, theta_hat)[0]
        draws = iv.call_on_draws(fn, names, self.theta[ok])
        jack = iv.call_on_draws(fn, names, self.jackknife) if len(self.jackknife) else None
        se = se_hat = None
        if kind == "studentized":
            cov_hat = self.fit.covariance.to_numpy()[None]
            free = [names.index(p) for p in self.fit.free_params]
            se = iv.derived_se(fn, names, free, self.theta[ok], self.covariances[ok])
            se_hat = iv.derived_se(fn, names, free, theta_hat, cov_hat)[0]
        low, high = self._compute(kind, level, draws, est, se, se_hat, jack)
        return pd.DataFrame(
            {"estimate": est, "lower": low, "upper": high, "n_undefined": np.isnan(draws).sum(0)}
        )

    # ------------------------------------------------------------------ renderings
    def summary(self) -> str:
        """Plain-text report: settings, solver counts, one line per parameter, notes."""
        return _render.bootstrap_summary(self)

    def __str__(self) -> str:
        return _render.bootstrap_summary(self)

    def __repr__(self) -> str:
        return _render.bootstrap_repr(self)

    def _repr_html_(self) -> str:
        return _render.bootstrap_html(self)

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (NaN and inf become ``null``); embeds the fit's own dict."""
        return _render.bootstrap_to_dict(self)

    def to_json(self, indent: int | None = None) -> str:
        """JSON text that :meth:`from_json` loads back (no pickle)."""
        return _render.dumps(self.to_dict(), indent)

    @classmethod
    def from_json(cls, text: str) -> BootstrapResult:
        """Load a result written by :meth:`to_json`."""
        return _render.bootstrap_from_json(cls, text, FitResult.from_json)
