"""Text, HTML and JSON of every result class, as pure functions (layer 3).

The result classes (:class:`~clipscale.FitResult`, :class:`~clipscale.BootstrapResult`,
:class:`~clipscale.BacktestResult`) keep ``summary``, ``__str__``, ``__repr__``,
``_repr_html_``, ``to_dict`` and ``from_json`` as one-line calls into this module, which takes
the result duck-typed and imports only downward (forms, exceptions; numpy and pandas). The
renderings of ``FitResult`` are golden-tested (``tests/test_render.py``).
"""

from __future__ import annotations

import hashlib
import html
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from . import forms
from .exceptions import DataError

__all__ = [
    "FIT_SCHEMA",
    "BOOTSTRAP_SCHEMA",
    "backtest_html",
    "backtest_repr",
    "backtest_summary",
    "bootstrap_from_json",
    "bootstrap_html",
    "bootstrap_repr",
    "bootstrap_summary",
    "bootstrap_to_dict",
    "data_hash",
    "dumps",
    "fit_from_json",
    "fit_html",
    "fit_repr",
    "fit_summary",
    "fit_to_dict",
    "format_value",
]

FIT_SCHEMA = "clipscale.FitResult/1"
BOOTSTRAP_SCHEMA = "clipscale.BootstrapResult/1"


# --------------------------------------------------------------------------- numbers
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


def data_hash(*arrays: np.ndarray) -> str:
    """SHA-256 (first 16 hex digits) of the float64 bytes of the arrays, in order."""
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a, dtype=np.float64).tobytes())
    return h.hexdigest()[:16]


def dumps(d: dict[str, Any], indent: int | None) -> str:
    """Strict JSON text of a result's dict (no NaN: they are ``null`` already)."""
    return json.dumps(d, indent=indent, allow_nan=False)


# --------------------------------------------------------------------------- FitResult
def _fit_cells(r: Any, p: str) -> tuple[str, str]:
    """Value and standard error of ``p`` as text, both ending on the same digit."""
    se = r.stderr[p]
    if p not in r.free_params:
        return format_value(r.params[p]), "-"
    return format_value(r.params[p], se), format_value(se, se)


def fit_summary(r: Any) -> str:
    """Plain-text report of a fit: form, loss, data size, parameters with errors, notes."""
    lines = [
        f"clipscale fit: {r.form.name}   {r.form.formula}",
        f"loss {r.loss} = {r.loss_value:.6g}   n = {r.n}   dof = {r.dof}",
        "",
        f"{'param':<8} {'value':>14} {'stderr':>12}",
    ]
    for p in r.form.param_names:
        value, err = _fit_cells(r, p)
        tag = "  (fixed)" if p not in r.free_params else ""
        lines.append(f"{p:<8} {value:>14} {err:>12}{tag}")
    if r.notes:
        lines += ["", "notes:"] + [f"  - {note}" for note in r.notes]
    return "\n".join(lines)


def fit_repr(r: Any) -> str:
    """One-line ``repr`` of a fit."""
    vals = ", ".join(f"{p}={v:.6g}" for p, v in r.params.items())
    return f"<FitResult {r.form.name}: {vals}; {r.loss}={r.loss_value:.4g}, n={r.n}>"


def fit_html(r: Any) -> str:
    """HTML table of a fit for Jupyter."""
    esc = html.escape
    cells = {p: _fit_cells(r, p) for p in r.form.param_names}
    rows = "".join(
        f"<tr><td>{esc(p)}</td><td>{esc(cells[p][0])}</td><td>{esc(cells[p][1])}</td>"
        f"<td>{'fixed' if p not in r.free_params else ''}</td></tr>"
        for p in r.form.param_names
    )
    notes = "".join(f"<li>{esc(n)}</li>" for n in r.notes)
    return (
        f"<div class='clipscale-fit'><b>{esc(r.form.name)}</b>: "
        f"<code>{esc(r.form.formula)}</code><br>"
        f"loss {esc(r.loss)} = {r.loss_value:.6g}, n = {r.n}, dof = {r.dof}"
        "<table><thead><tr><th>param</th><th>value</th><th>stderr</th><th></th></tr></thead>"
        f"<tbody>{rows}</tbody></table>" + (f"<ul>{notes}</ul>" if notes else "") + "</div>"
    )


def _json_float(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


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


def _unjson_bound(v: Any, default: float) -> float:
    return default if v is None else float(v)


def fit_to_dict(r: Any) -> dict[str, Any]:
    """A JSON-able dict of a fit (NaN and inf become ``null``)."""
    return {
        "schema": FIT_SCHEMA,
        "clipscale_version": r.version,
        "form": r.form.spec(),
        "loss": r.loss,
        "loss_value": r.loss_value,
        "params": dict(r.params),
        "stderr": {k: _json_float(v) for k, v in r.stderr.items()},
        "covariance": {
            "names": list(r.covariance.columns),
            "values": [[_json_float(v) for v in row] for row in r.covariance.to_numpy()],
        },
        "n": r.n,
        "dof": r.dof,
        "notes": list(r.notes),
        "settings": _jsonable(dict(r.settings)),
        "data": {"x": r.x.tolist(), "y": r.y.tolist(), "weights": r.weights.tolist()},
        "data_hash": r.data_hash,
    }


def fit_from_json(cls: Callable[..., Any], text: str) -> Any:
    """The fit ``cls(...)`` that :func:`fit_to_dict` wrote as JSON ``text``; checks its hash."""
    try:
        d = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise DataError(f"not a clipscale FitResult JSON document: {exc}") from exc
    if not isinstance(d, dict) or d.get("schema") != FIT_SCHEMA:
        raise DataError(f"not a clipscale FitResult JSON document (expected schema {FIT_SCHEMA})")
    try:
        result = cls(**_fit_fields(d))
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


def _fit_fields(d: dict[str, Any]) -> dict[str, Any]:
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
    return {
        "form": forms.from_spec(d["form"]),
        "params": d["params"],
        "stderr": {k: np.nan if v is None else v for k, v in d["stderr"].items()},
        "covariance": pd.DataFrame(cov, index=names, columns=names),
        "loss": d["loss"],
        "loss_value": d["loss_value"],
        "n": d["n"],
        "dof": d["dof"],
        "notes": tuple(d["notes"]),
        "settings": settings,
        "x": np.asarray(data["x"], dtype=float),
        "y": np.asarray(data["y"], dtype=float),
        "weights": np.asarray(data["weights"], dtype=float),
        "data_hash": d["data_hash"],
        "version": d["clipscale_version"],
    }


# --------------------------------------------------------------------------- BootstrapResult
def _bootstrap_header(b: Any) -> list[str]:
    s = b.solver
    return [
        f"clipscale bootstrap: {b.fit.form.name}   {b.fit.form.formula}",
        f"loss {b.fit.loss}   n = {b.fit.n}   method {b.method}, "
        f"{b.n_resamples} resamples, {b.confidence_level:.0%} {b.interval} intervals",
        f"failed {b.n_failed}   (batched {s.get('ok', 0)}, re-polished from the grid "
        f"{s.get('regrid', 0)}, fallback loop {s.get('fallback', 0)})   "
        f"{s.get('seconds', float('nan')):.2f} s",
    ]


def bootstrap_summary(b: Any) -> str:
    """Plain-text report of a bootstrap: settings, solver counts, parameters, notes."""
    tab = b.table()
    lines = _bootstrap_header(b) + [
        "",
        f"{'param':<8} {'estimate':>12} {'std':>10} {'lower':>12} {'upper':>12}",
    ]
    for p, row in tab.iterrows():
        tag = "  (fixed)" if row["fixed"] else ""
        lines.append(
            f"{p:<8} {format_value(row['estimate'], row['std']):>12} {row['std']:>10.3g} "
            f"{row['lower']:>12.6g} {row['upper']:>12.6g}{tag}"
        )
    if b.notes:
        lines += ["", "notes:"] + [f"  - {n}" for n in b.notes]
    return "\n".join(lines)


def bootstrap_repr(b: Any) -> str:
    """One-line ``repr`` of a bootstrap."""
    return (
        f"<BootstrapResult {b.fit.form.name}: {b.method}, {b.n_resamples} resamples, "
        f"{b.n_failed} failed, {b.interval} {b.confidence_level:g}>"
    )


def bootstrap_html(b: Any) -> str:
    """HTML table of a bootstrap for Jupyter."""
    esc = html.escape
    tab = b.table()
    rows = "".join(
        f"<tr><td>{esc(str(p))}</td><td>{esc(format_value(r['estimate'], r['std']))}</td>"
        f"<td>{r['std']:.3g}</td><td>{r['lower']:.6g}</td><td>{r['upper']:.6g}</td></tr>"
        for p, r in tab.iterrows()
    )
    head = "<br>".join(esc(line) for line in _bootstrap_header(b))
    notes = "".join(f"<li>{esc(n)}</li>" for n in b.notes)
    return (
        f"<div class='clipscale-bootstrap'>{head}<table><thead><tr><th>param</th>"
        "<th>estimate</th><th>std</th><th>lower</th><th>upper</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>" + (f"<ul>{notes}</ul>" if notes else "") + "</div>"
    )


def _json_scalar(v: Any) -> Any:
    if isinstance(v, float | np.floating):
        return float(v) if np.isfinite(v) else None
    return int(v) if isinstance(v, np.integer) else v


def _nested(a: np.ndarray) -> Any:
    return np.where(np.isfinite(a), a, np.nan).astype(object).tolist() if a.size else []


def _array(v: Any) -> np.ndarray:
    return np.array(v if v else [], dtype=float)


def bootstrap_to_dict(b: Any) -> dict[str, Any]:
    """A JSON-able dict of a bootstrap (NaN and inf become ``null``); embeds the fit's dict."""
    return {
        "schema": BOOTSTRAP_SCHEMA,
        "clipscale_version": b.version,
        "fit": b.fit.to_dict(),
        "method": b.method,
        "interval": b.interval,
        "confidence_level": b.confidence_level,
        "theta": _nested(b.theta),
        "loss_values": _nested(b.loss_values),
        "residual_variance": _nested(b.residual_variance),
        "status": b.status.tolist(),
        "covariances": _nested(b.covariances),
        "jackknife": _nested(b.jackknife),
        "solver": {k: _json_scalar(v) for k, v in b.solver.items()},
        "seed": b.seed,
        "n_units": b.n_units,
    }


def bootstrap_from_json(cls: Callable[..., Any], text: str, load_fit: Callable[[str], Any]) -> Any:
    """The bootstrap ``cls(...)`` written as JSON ``text``; ``load_fit`` loads its fit."""
    try:
        d = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise DataError(f"not a clipscale BootstrapResult JSON document: {exc}") from exc
    if not isinstance(d, dict) or d.get("schema") != BOOTSTRAP_SCHEMA:
        raise DataError(f"not a clipscale BootstrapResult JSON document ({BOOTSTRAP_SCHEMA})")
    p = len(d["fit"]["params"])
    k = len(d["fit"]["covariance"]["names"])
    return cls(
        fit=load_fit(json.dumps(d["fit"])),
        method=d["method"],
        interval=d["interval"],
        confidence_level=d["confidence_level"],
        theta=_array(d["theta"]).reshape(-1, p),
        loss_values=_array(d["loss_values"]),
        residual_variance=_array(d["residual_variance"]),
        status=np.asarray(d["status"], int),
        covariances=_array(d["covariances"]).reshape(-1, k, k),
        jackknife=_array(d["jackknife"]).reshape(-1, p),
        solver=d["solver"],
        seed=int(d["seed"]),
        n_units=int(d["n_units"]),
        version=d["clipscale_version"],
    )


# --------------------------------------------------------------------------- BacktestResult
def backtest_summary(t: Any) -> str:
    """Plain-text report of a backtest: the fit, the scores, one line per held-out point."""
    level = f"{t.confidence_level:.0%}"
    lines = [
        f"clipscale backtest: {t.fit.form.name}, loss {t.fit.loss}, trained on "
        f"{t.fit.n} points, {t.holdout} held out",
        f"RMSLE {t.rmsle:.4g}   mean |rel error| {t.mean_abs_rel_error:.3%}   "
        f"max {t.max_abs_rel_error:.3%}   {level} {t.kind} intervals covered "
        f"{t.coverage:.0%}",
        "",
        t.table.to_string(
            columns=["y", "prediction", "lower", "upper", "abs_rel_error", "covered"],
            float_format=lambda v: f"{v:.5g}",
        ),
    ]
    return "\n".join(lines)


def backtest_repr(t: Any) -> str:
    """One-line ``repr`` of a backtest."""
    return (
        f"<BacktestResult {t.fit.form.name}: holdout={t.holdout}, "
        f"rmsle={t.rmsle:.4g}, coverage={t.coverage:.2f}>"
    )


def backtest_html(t: Any) -> str:
    """The backtest's scores and its table as HTML for Jupyter."""
    head = "<br>".join(html.escape(line) for line in backtest_summary(t).splitlines()[:2])
    return f"<div class='clipscale-backtest'>{head}{t.table.to_html()}</div>"
