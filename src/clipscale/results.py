"""Frozen result objects and their text, HTML and JSON renderings."""

from __future__ import annotations

import hashlib
import html
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from . import forms
from ._version import __version__
from .exceptions import DataError

__all__ = ["FitResult", "data_hash", "format_value"]

_SCHEMA = "clipscale.FitResult/1"


def data_hash(*arrays: np.ndarray) -> str:
    """SHA-256 (first 16 hex digits) of the float64 bytes of the arrays, in order."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


def format_value(value: float, err: float | None = None) -> str:
    """Round ``value`` to the last digit its uncertainty ``err`` supports.

    ``err`` is kept to two significant digits (three when it starts with a 1, so rounding never
    moves it by more than ~3%), and ``value`` is rounded to the same decimal place:
    ``format_value(0.347312, 0.015437) == "0.3473"``. ``format_value(err, err)`` gives the
    uncertainty at that precision (``"0.0154"``), so a value and its error always end on the
    same digit. Scientific notation is used when that digit is below 1e-6 or above 1e3
    (``3.20e+07`` with ``2.5e+06``), the mantissa again ending on it. Without a usable ``err``
    (None, 0, NaN) the value gets 6 significant digits.
    """
    if value is None or not np.isfinite(value):
        return str(value)
    if err is None or not np.isfinite(err) or err <= 0:
        return f"{value:.6g}"
    lead = float(f"{err:.1e}")  # two significant digits, to find the leading digit
    e_exp = int(math.floor(math.log10(lead)))
    place = e_exp - (2 if lead / 10.0**e_exp < 2 else 1)  # power of ten of the last digit
    if abs(value) < 0.5 * 10.0**place and value != 0:  # would round to 0: keep 2 digits
        return f"{value:.2g}"
    if -6 <= place <= 3:  # decided by the shared last digit, so value and error agree
        return f"{round(value, -place):.{max(-place, 0)}f}"
    ref = max(int(math.floor(math.log10(max(abs(value), lead)))), e_exp)
    mantissa = round(value / 10.0**ref, ref - place)
    if abs(mantissa) >= 10:
        ref, mantissa = ref + 1, round(value / 10.0 ** (ref + 1), ref + 1 - place)
    return f"{mantissa:.{ref - place}f}e{ref:+03d}"


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float, copy=True)
    a.flags.writeable = False
    return a



def _json_float(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


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
            from ._intervals import delta_band

            return delta_band(self, x, confidence_level)
        if len(self.form.inputs) > 1:
            from .data import as_inputs

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
        lines = [
            f"clipscale fit: {self.form.name}   {self.form.formula}",
            f"loss {self.loss} = {self.loss_value:.6g}   n = {self.n}   dof = {self.dof}",
            "",
            f"{'param':<8} {'value':>14} {'stderr':>12}",
        ]
        for p in self.form.param_names:
            value, err = self._rendered(p)
            tag = "  (fixed)" if p not in self.free_params else ""
            lines.append(f"{p:<8} {value:>14} {err:>12}{tag}")
        if self.notes:
            lines += ["", "notes:"] + [f"  - {note}" for note in self.notes]
        return "\n".join(lines)

    def _rendered(self, p: str) -> tuple[str, str]:
        """Value and standard error of ``p`` as text, both ending on the same digit."""
        se = self.stderr[p]
        if p not in self.free_params:
            return format_value(self.params[p]), "-"
        return format_value(self.params[p], se), format_value(se, se)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        vals = ", ".join(f"{p}={v:.6g}" for p, v in self.params.items())
        return (
            f"<FitResult {self.form.name}: {vals}; {self.loss}={self.loss_value:.4g}, n={self.n}>"
        )

    def _repr_html_(self) -> str:
        esc = html.escape
        cells = {p: self._rendered(p) for p in self.form.param_names}
        rows = "".join(
            f"<tr><td>{esc(p)}</td><td>{esc(cells[p][0])}</td><td>{esc(cells[p][1])}</td>"
            f"<td>{'fixed' if p not in self.free_params else ''}</td></tr>"
            for p in self.form.param_names
        )
        notes = "".join(f"<li>{esc(n)}</li>" for n in self.notes)
        return (
            f"<div class='clipscale-fit'><b>{esc(self.form.name)}</b>: "
            f"<code>{esc(self.form.formula)}</code><br>"
            f"loss {esc(self.loss)} = {self.loss_value:.6g}, n = {self.n}, dof = {self.dof}"
            "<table><thead><tr><th>param</th><th>value</th><th>stderr</th><th></th></tr></thead>"
            f"<tbody>{rows}</tbody></table>" + (f"<ul>{notes}</ul>" if notes else "") + "</div>"
        )

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (NaN and inf become ``null``)."""
        return {
            "schema": _SCHEMA,
            "clipscale_version": self.version,
            "form": self.form.spec(),
            "loss": self.loss,
            "loss_value": self.loss_value,
            "params": dict(self.params),
            "stderr": {k: _json_float(v) for k, v in self.stderr.items()},
            "covariance": {
                "names": list(self.covariance.columns),
                "values": [[_json_float(v) for v in row] for row in self.covariance.to_numpy()],
            },
            "n": self.n,
            "dof": self.dof,
            "notes": list(self.notes),
            "settings": _jsonable(dict(self.settings)),
            "data": {"x": self.x.tolist(), "y": self.y.tolist(), "weights": self.weights.tolist()},
            "data_hash": self.data_hash,
        }

    def to_json(self, indent: int | None = 2) -> str:
        """JSON text that :meth:`from_json` loads back (no pickle)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> FitResult:
        """Load a result written by :meth:`to_json`."""
        try:
            d = json.loads(text)
        except (json.JSONDecodeError, TypeError) as exc:
            raise DataError(f"not a clipscale FitResult JSON document: {exc}") from exc
        if not isinstance(d, dict) or d.get("schema") != _SCHEMA:
            raise DataError(f"not a clipscale FitResult JSON document (expected schema {_SCHEMA})")
        try:
            names = d["covariance"]["names"]
            cov = np.array(
                [[np.nan if v is None else v for v in row] for row in d["covariance"]["values"]],
                dtype=float,
            ).reshape(len(names), len(names))
            settings = d["settings"]
            settings["bounds"] = {
                k: [_unjson_bound(v[0], -np.inf), _unjson_bound(v[1], np.inf)]
                for k, v in settings["bounds"].items()
            }
            data = d["data"]
            result = cls(
                form=forms.from_spec(d["form"]),
                params=d["params"],
                stderr={k: np.nan if v is None else v for k, v in d["stderr"].items()},
                covariance=pd.DataFrame(cov, index=names, columns=names),
                loss=d["loss"],
                loss_value=d["loss_value"],
                n=d["n"],
                dof=d["dof"],
                notes=tuple(d["notes"]),
                settings=settings,
                x=np.asarray(data["x"], dtype=float),
                y=np.asarray(data["y"], dtype=float),
                weights=np.asarray(data["weights"], dtype=float),
                data_hash=d["data_hash"],
                version=d["clipscale_version"],
            )
        except DataError:
            raise
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            raise DataError(
                "malformed clipscale FitResult JSON document: missing or bad field "
                f"({type(exc).__name__}: {exc}); write it with FitResult.to_json()"
            ) from exc
        if data_hash(result.x, result.y, result.weights) != result.data_hash:
            raise DataError("the JSON's data does not match its data_hash: the file was altered")
        return result


def _unjson_bound(v: Any, default: float) -> float:
    return default if v is None else float(v)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return _json_float(float(obj))
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
