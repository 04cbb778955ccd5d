"""Reading and validating run tables, and the array checks the fitter relies on.

A run table has one row per training run with the canonical columns ``compute``, ``samples``,
``params`` (scales, logged in every fit, so positive) and ``metric``. Every problem raises a
:class:`~clipscale.exceptions.DataError` naming the argument or column, rows, values and the fix.
"""

from __future__ import annotations

import copy
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from clipscale.exceptions import ClipscaleWarning, DataError

__all__ = ["CANONICAL", "as_float_array", "as_inputs", "check_xy", "read_runs"]

CANONICAL: tuple[str, ...] = ("compute", "samples", "params", "metric")
_SCALES = ("compute", "samples", "params")
_MAX_SHOWN = 5


def _fmt(value: Any) -> str:
    """Format a value or row label compactly: ``1e9``, ``0.5``, ``'n/a'``, ``3``."""
    if isinstance(value, (bool, np.bool_)):
        return repr(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        mantissa, _, exponent = f"{float(value):.6g}".partition("e")
        return f"{mantissa}e{int(exponent)}" if exponent else mantissa
    return repr(str(value)) if isinstance(value, str) else repr(value)


def _describe(labels: Sequence[Any], values: Sequence[Any]) -> str:
    """Describe offending rows as ``rows [3, 7] (values [0, -1])``, showing at most five."""
    shown = min(len(labels), _MAX_SHOWN)
    rows = ", ".join(_fmt(label) for label in labels[:shown])
    vals = ", ".join(_fmt(value) for value in values[:shown])
    more = f" ... and {len(labels) - shown} more" if len(labels) > shown else ""
    return f"rows [{rows}]{more} (values [{vals}])"


def _coerce(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return ``raw`` as a new float64 array and the mask of its non-numeric entries.

    Numeric strings such as ``" 1e9"`` are converted and missing entries (None, NaN, pd.NA)
    become NaN; text, booleans, complex numbers and dates are flagged.
    """
    if raw.dtype.kind in "iuf":
        return np.array(raw, dtype=np.float64, copy=True), np.zeros(raw.shape, dtype=bool)
    if raw.dtype.kind not in "OUS":
        return np.full(raw.shape, np.nan), np.ones(raw.shape, dtype=bool)
    entries = pd.Series(raw.astype(object), dtype=object)
    entries = entries.map(lambda v: v.strip() if isinstance(v, str) else v)
    odd = entries.map(lambda v: isinstance(v, (bool, np.bool_, complex, np.complexfloating)))
    odd = odd.to_numpy(dtype=bool)
    numbers = pd.Series(pd.to_numeric(entries.where(~odd), errors="coerce"))
    floats = numbers.to_numpy(dtype=np.float64, na_value=np.nan)
    return floats, odd | (np.isnan(floats) & entries.notna().to_numpy())


def as_float_array(
    values: Any,
    name: str,
    *,
    positive: bool = False,
    greater_than: float | None = None,
    index: Sequence[Any] | pd.Index | None = None,
    hint: str | None = None,
) -> np.ndarray:
    """Validate a 1-D array-like of finite numbers and return it as a new float64 array.

    Parameters
    ----------
    values : array-like
        A list, tuple, numpy array or pandas Series (not a scalar); never modified.
    name : str
        The argument's name, used in error messages.
    positive : bool, default False
        Require values > 0 (the fit works with their logarithm).
    greater_than : float, optional
        Require values strictly greater than this.
    index : sequence, optional
        Row labels for messages when ``values`` is not a Series (a Series reports its own
        index); row positions otherwise.
    hint : str, optional
        Appended to every error message.

    Returns
    -------
    numpy.ndarray
        A 1-D float64 copy of ``values``.

    Raises
    ------
    DataError
        If ``values`` is not 1-D, is empty, holds non-numeric entries, NaN or infinities, or
        breaks the ``positive`` / ``greater_than`` requirement.
    """
    tail = f" {hint}" if hint else ""
    try:
        raw = values.to_numpy() if isinstance(values, (pd.Series, pd.Index)) else np.asarray(values)
    except (ValueError, TypeError) as exc:
        msg = f"{name} must be a 1-D sequence of numbers but could not be read as an array."
        raise DataError(msg + tail) from exc
    if raw.ndim == 0:
        msg = f"{name} must be 1-D, got the scalar {_fmt(raw.item())}; wrap it in a list."
        raise DataError(msg + tail)
    if raw.ndim != 1:
        msg = f"{name} must be 1-D, got shape {raw.shape}; pass one column or use .ravel()."
        raise DataError(msg + tail)
    if raw.size == 0:
        raise DataError(f"{name} is empty; it needs one value per run.{tail}")
    source = values.index if isinstance(values, pd.Series) else index
    labels = np.arange(raw.size) if source is None else np.asarray(source, dtype=object)
    if labels.shape != raw.shape:
        msg = f"index has {labels.size} labels but {name} has {raw.size} values."
        raise DataError(msg + tail)
    out, bad = _coerce(raw)
    bound = None if greater_than is None else _fmt(float(greater_than))
    checks = [
        (bad, "has non-numeric entries", "Convert them to numbers or drop those rows"),
        (np.isnan(out), "has NaN (missing) entries", "Drop or fill those rows before fitting"),
        (np.isinf(out), "has infinite entries", "Drop those rows before fitting"),
        (
            (out <= 0) if positive else None,
            f"needs positive values because the fit works with log({name})",
            f"Drop or filter out those rows (keep only {name} > 0)",
        ),
        (
            None if greater_than is None else out <= greater_than,
            f"must be greater than {bound}",
            f"Drop or filter out those rows (keep only {name} > {bound})",
        ),
    ]
    for mask, problem, fix in checks:
        if mask is not None and mask.any():
            shown = raw if mask is bad else out
            where = _describe(labels[mask].tolist(), list(np.asarray(shown, dtype=object)[mask]))
            raise DataError(f"{name} {problem}: {where}. {fix}.{tail}")
    return out


def check_xy(
    x: Any,
    y: Any,
    *,
    weights: Any = None,
    x_name: str = "x",
    y_name: str = "y",
    positive_x: bool = True,
    y_greater_than: float | None = None,
    min_points: int = 2,
    min_distinct_x: int = 2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate the data of one fit and return ``(x, y, weights)`` as new float64 arrays.

    Parameters
    ----------
    x, y : array-like
        The scale and the metric, one value per run.
    weights : array-like, optional
        Finite, non-negative, not all zero; ones by default.
    x_name, y_name : str
        Names used in error messages.
    positive_x : bool, default True
        Require x > 0 (forms work with log x).
    y_greater_than : float, optional
        Require y greater than this: 0.0 for losses on log y, -1.0 for losses on log1p y.
    min_points : int, default 2
        Fewest points allowed: the number of parameters of the form.
    min_distinct_x : int, default 2
        Fewest distinct x values allowed.

    Returns
    -------
    tuple of numpy.ndarray
        ``x``, ``y`` and ``weights``, each a 1-D float64 copy.

    Raises
    ------
    DataError
        If an array is invalid (see :func:`as_float_array`), the lengths differ, or there are
        too few points or distinct x values.
    """
    xs = as_float_array(x, x_name, positive=positive_x)
    ys = as_float_array(y, y_name, greater_than=y_greater_than)
    if xs.size != ys.size:
        msg = f"{x_name} has {xs.size} values but {y_name} has {ys.size}; "
        raise DataError(msg + "they need one value each per run (columns of one table).")
    ws = np.ones_like(xs)
    if weights is not None:
        ws = as_float_array(weights, "weights", hint="Use weight 0 to leave a run out.")
        if ws.size != xs.size:
            msg = f"weights has {ws.size} values but {x_name} has {xs.size}; "
            raise DataError(msg + "give one weight per run.")
        if (ws < 0).any():
            where = _describe(np.flatnonzero(ws < 0).tolist(), list(ws[ws < 0]))
            raise DataError(f"weights must be >= 0: {where}. Use weight 0 to leave a run out.")
        if not ws.any():
            raise DataError("weights are all zero; give at least one run a positive weight.")
    if xs.size < min_points:
        msg = f"the form has {min_points} parameters to fit, so it needs at least {min_points} "
        raise DataError(msg + f"points; got {xs.size}. Add runs or use a simpler form.")
    distinct = np.unique(xs)
    if distinct.size < min_distinct_x:
        found = f"only {distinct.size} distinct values {[_fmt(v) for v in distinct]}"
        if distinct.size == 1:
            found = f"a single distinct value {_fmt(distinct[0])}"
        msg = f"{x_name} has {found}: a scaling law needs runs at different scales "
        raise DataError(msg + f"(at least {min_distinct_x} distinct values of {x_name}).")
    return xs, ys, ws


def _norm(column: Any) -> str:
    return str(column).strip().lower()


def load_table(source: Any) -> tuple[pd.DataFrame, str]:
    """Return a private copy of the table in ``source`` and a label for messages.

    CSV decoding and parsing failures become DataErrors.
    """
    if isinstance(source, pd.DataFrame):
        return source.copy(deep=True), "the table"
    target, label = source, "the buffer"
    if isinstance(source, (str, os.PathLike)):
        target = path = Path(source).expanduser()
        label = str(path)
        if not path.is_file():
            hint = " (for CSV text use io.StringIO(text))" if "\n" in str(source) else ""
            raise DataError(f"file not found: {path}. Check the path to the CSV file{hint}.")
        with path.open("rb") as handle:
            if b"\x00" in handle.read(8192):
                raise DataError(f"{path} is binary, not a text CSV file; export the runs as CSV.")
    elif not hasattr(source, "read"):
        msg = "source must be a CSV path, a text buffer or a pandas DataFrame; got "
        raise DataError(msg + f"{type(source).__name__}.")
    try:
        return pd.read_csv(target), label
    except pd.errors.EmptyDataError as exc:
        msg = f"{label} has no rows: it is empty. Write a header and a row per run."
        raise DataError(msg) from exc
    except UnicodeDecodeError as exc:
        msg = f"{label} is not UTF-8 text ({exc.reason}); save it as a UTF-8 CSV."
        raise DataError(msg) from exc
    except pd.errors.ParserError as exc:
        msg = f"{label} could not be parsed as CSV ({exc}); check the delimiter and quoting."
        raise DataError(msg) from exc


def _canonicalize(df: pd.DataFrame, columns: Mapping[str, str], label: str) -> pd.DataFrame:
    """Rename user columns to canonical names and check the required ones are present."""
    present = list(df.columns)
    renames: dict[Any, str] = {}
    for canon, user in columns.items():
        close = [c for c in present if _norm(c) == _norm(user)]
        match = user if user in present else (close[0] if len(close) == 1 else None)
        if match is None:
            msg = f"column {user!r} given for {canon!r} is not in the table; columns are: "
            raise DataError(msg + str(present))
        if match in renames:
            msg = f"column {user!r} is given for both {renames[match]!r} and {canon!r}"
            raise DataError(msg + "; map each canonical name to its own column.")
        renames[match] = canon
    for canon in (c for c in CANONICAL if c not in columns):
        candidates = [c for c in present if c not in renames and _norm(c) == canon]
        if len(candidates) > 1 and canon not in candidates:
            msg = f"columns {candidates} all look like {canon!r}; pick one with columns="
            raise DataError(msg + f"{{{canon!r}: '<your column>'}}.")
        if candidates:
            renames[canon if canon in candidates else candidates[0]] = canon
    df = df.rename(columns=renames)
    clashes = [c for c in CANONICAL if list(df.columns).count(c) > 1]
    if clashes:
        msg = f"{label} would have two {clashes[0]!r} columns: one already has that name and "
        raise DataError(msg + "columns= maps another to it; rename or drop one of them.")
    missing = [] if "metric" in df.columns else ["'metric'"]
    if not any(c in df.columns for c in _SCALES):
        missing.append("one of 'compute', 'samples', 'params'")
    if missing:
        msg = f"{label} is missing {' and '.join(missing)}; columns are: {present}. Name yours "
        raise DataError(msg + "with columns={'metric': '<your column>', 'compute': ...}.")
    return df


def _drop_nonfinite(df: pd.DataFrame, have: list[str], nan_policy: str) -> pd.DataFrame:
    """Raise on NaN/inf in the canonical columns, or drop those rows with a warning."""
    finite = np.isfinite(df[have].to_numpy(dtype=np.float64))
    if finite.all():
        return df
    if nan_policy == "raise":
        parts = [
            f"column {col!r} has NaN or inf at "
            + _describe(np.flatnonzero(~ok).tolist(), list(df[col].to_numpy()[~ok]))
            for col, ok in zip(have, finite.T, strict=True)
            if not ok.all()
        ]
        msg = ". Fill or drop those rows, or pass nan_policy='omit' to drop them."
        raise DataError("; ".join(parts) + msg)
    keep = finite.all(axis=1)
    msg = f"read_runs dropped {int((~keep).sum())} of {keep.size} rows with NaN or inf in "
    warnings.warn(msg + f"{have} (nan_policy='omit').", ClipscaleWarning, stacklevel=3)
    if not keep.any():
        raise DataError(f"every row has NaN or inf in {have}; no runs are left.")
    return df.loc[keep]


def read_runs(
    source: str | os.PathLike[str] | IO[str] | pd.DataFrame,
    *,
    columns: Mapping[str, str] | None = None,
    nan_policy: str = "raise",
    units: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Read a table of training runs and return it tidy and validated.

    Parameters
    ----------
    source : path, text buffer or pandas.DataFrame
        A CSV file, a file-like object holding CSV text, or a DataFrame (never modified).
    columns : mapping, optional
        Canonical name -> your column, e.g. ``{"compute": "gmacs_total", "metric": "acc1"}``.
        Columns already named canonically (ignoring case and whitespace) need no mapping.
    nan_policy : {"raise", "omit"}, default "raise"
        NaN / inf in a canonical column raise a DataError, or (``"omit"``) drop the row with
        a :class:`~clipscale.exceptions.ClipscaleWarning` giving the count. In a CSV, empty
        cells and pandas' missing-value tokens (``NA``, ``n/a``, ``nan``) count as NaN.
    units : mapping, optional
        Canonical name -> unit, e.g. ``{"compute": "GMACs"}``, kept in ``attrs["units"]``.

    Returns
    -------
    pandas.DataFrame
        ``metric`` and at least one of ``compute``, ``samples``, ``params`` as float64
        columns first (in :data:`CANONICAL` order), then the other columns unchanged;
        a RangeIndex.

    Raises
    ------
    DataError
        If the source cannot be read or has no rows, required columns are missing, or a
        canonical column holds text, NaN / inf (``nan_policy="raise"``) or non-positive scales.
    """
    if nan_policy not in ("raise", "omit"):
        raise DataError(f"nan_policy must be 'raise' or 'omit', got {nan_policy!r}.")
    for arg, mapping in (("columns", columns), ("units", units)):
        if mapping is not None and not isinstance(mapping, Mapping):
            raise DataError(f"{arg} must be a mapping such as {{'metric': 'acc1'}}.")
        unknown = [k for k in (mapping or {}) if k not in CANONICAL]
        if unknown:
            msg = f"{arg} keys must be canonical names {list(CANONICAL)}; got {unknown}. "
            raise DataError(msg + "Map canonical name -> yours, e.g. {'metric': 'acc1'}.")
    df, label = load_table(source)
    attrs = copy.deepcopy(dict(df.attrs))
    if len(df) == 0:
        raise DataError(f"{label} has no rows (columns: {list(df.columns)}); add a row per run.")
    df = _canonicalize(df.reset_index(drop=True), columns or {}, label)
    have = [c for c in CANONICAL if c in df.columns]
    for col in have:
        raw = df[col].to_numpy()
        numbers, bad = _coerce(raw)
        if bad.any():
            where = _describe(np.flatnonzero(bad).tolist(), list(raw[bad]))
            msg = f"column {col!r} must be numeric but has text at {where} (0-based rows, "
            raise DataError(msg + "header not counted). Fix or drop those rows.")
        df[col] = numbers
    df = _drop_nonfinite(df, have, nan_policy)
    for col in (c for c in _SCALES if c in have):
        mask = df[col].to_numpy() <= 0
        if mask.any():
            where = _describe(df.index[mask].tolist(), list(df[col].to_numpy()[mask]))
            msg = f"column {col!r} needs positive values because every fit works with log({col})"
            raise DataError(msg + f": {where}. Drop those rows (keep {col} > 0) or check units.")
    names = list(df.columns)
    order = [names.index(c) for c in have] + [i for i, c in enumerate(names) if c not in have]
    out = df.iloc[:, order].reset_index(drop=True)
    out.attrs = {**attrs, "units": dict(units or {})}
    return out


def as_inputs(x: Any, inputs: Sequence[str], *, form_name: str = "form") -> np.ndarray:
    """Validate the inputs of a form: a 1-D array for one input, an ``(n, d)`` array for several.

    Parameters
    ----------
    x : array-like, mapping or DataFrame
        One input: 1-D array-like of positive values. Several inputs (joint laws such as
        ``L(N, D)``): a mapping or DataFrame with one column per name in ``inputs``, or an
        ``(n, d)`` array with the columns in ``inputs`` order.
    inputs : sequence of str
        The form's input names.
    form_name : str
        Used in messages.

    Returns
    -------
    numpy.ndarray
        A float64 copy, shape ``(n,)`` or ``(n, len(inputs))`` in ``inputs`` order.
    """
    if len(inputs) == 1:
        return as_float_array(x, "x", positive=True)
    if isinstance(x, np.ndarray) and x.ndim == 2 and x.shape[1] == len(inputs):
        x = {name: x[:, j] for j, name in enumerate(inputs)}  # columns in ``inputs`` order
    if not (isinstance(x, pd.DataFrame) or hasattr(x, "keys")):
        raise DataError(
            f"form {form_name!r} takes named inputs {list(inputs)}: pass x as a dict or "
            f"DataFrame, e.g. x={{{', '.join(repr(i) + ': ...' for i in inputs)}}}"
        )
    missing = [name for name in inputs if name not in x]
    if missing:
        raise DataError(
            f"form {form_name!r} needs inputs {list(inputs)}; missing {missing} "
            f"(x has {[str(k) for k in x.keys()]}). Rename your columns or pass a dict."
        )
    cols = [as_float_array(x[name], f"x[{name!r}]", positive=True) for name in inputs]
    sizes = {name: c.size for name, c in zip(inputs, cols, strict=True)}
    if len(set(sizes.values())) > 1:
        raise DataError(f"inputs have different lengths {sizes}; give one value per run each.")
    return np.column_stack(cols)
