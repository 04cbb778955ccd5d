"""What ``clipscale fit`` and ``clipscale predict`` do; their arguments are declared in ``cli.py``.

Every problem with the input raises a :class:`~clipscale.DataError` whose one-line message names
the file, column, lines or flag and the fix; :func:`clipscale.cli.main` prints it.
"""

from __future__ import annotations

import argparse
import difflib
import inspect
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import forms
from . import results as results_module
from .data import as_float_array
from .exceptions import ClipscaleError, DataError
from .fitting import fit
from .frontier import frontier
from .losses import get_loss
from .reproduce import _make_dir
from .results import FitResult

__all__ = ["cmd_fit", "cmd_predict"]

_FIGURE_SIZE = (6.4, 6.4)


def _read_table(path: str) -> pd.DataFrame:
    """The CSV at ``path`` (missing, binary, empty or unparsable files raise DataError)."""
    from .data import _load

    table, _ = _load(path)
    if len(table) == 0:
        raise DataError(f"{path} has a header but no rows; add one row per run.")
    return table


def _column(table: pd.DataFrame, name: str, flag: str, path: str) -> str:
    if name in table.columns:
        return name
    close = difflib.get_close_matches(name, [str(c) for c in table.columns], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise DataError(
        f"column {name!r} given by {flag} is not in {path}{hint}; its columns are "
        f"{[str(c) for c in table.columns]}. Pass {flag} with one of them."
    )


def _numbers(
    table: pd.DataFrame, column: str, path: str, *, positive: bool, greater_than: float | None
) -> np.ndarray:
    """A numeric column, validated; rows in messages are line numbers of the CSV."""
    raw = table[column]
    lines = table.index.to_numpy() + 2  # the header is line 1
    numbers = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    missing = raw.isna().to_numpy() | np.isinf(numbers)
    if missing.any():
        shown = ", ".join(str(v) for v in lines[missing][:5])
        more = f" and {int(missing.sum()) - 5} more" if missing.sum() > 5 else ""
        raise DataError(
            f"column {column!r} of {path} has empty, NaN or infinite values on lines "
            f"[{shown}]{more}; fill or delete those rows, or pass --drop-missing to skip them"
        )
    hint = f"Rows are line numbers in {path}."
    return as_float_array(
        pd.Series(raw.to_numpy(), index=lines),
        column,
        positive=positive,
        greater_than=greater_than,
        hint=hint,
    )


def _drop_missing(table: pd.DataFrame, columns: list[str], quiet: bool) -> pd.DataFrame:
    """``table`` without rows where one of ``columns`` is empty, NaN or infinite."""
    bad = np.zeros(len(table), dtype=bool)
    for col in columns:
        numbers = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
        bad |= table[col].isna().to_numpy() | np.isinf(numbers)
    if bad.any() and not quiet:
        print(f"dropped {int(bad.sum())} of {len(table)} rows with missing or infinite values")
    return table.loc[~bad]


def _slug(value: object, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", str(value)).strip("_") or "group"
    slug, i = base, 2
    while slug in taken:
        slug, i = f"{base}_{i}", i + 1
    taken.add(slug)
    return slug


def _bootstrap(result: FitResult, n: int, seed: int) -> Any:
    """``result.bootstrap`` with ``n`` resamples, whatever its resample argument is called."""
    method = result.bootstrap  # type: ignore[attr-defined]
    names = inspect.signature(method).parameters
    kwargs: dict[str, Any] = {"rng": seed} if "rng" in names else {}
    for name in ("n_resamples", "n_boot", "n"):
        if name in names:
            return method(**{name: n}, **kwargs)
    return method(n, **kwargs)


def _fit_one(args: argparse.Namespace, form: Any, table: pd.DataFrame, path: str) -> Any:
    """Validate the columns of one table, take its frontier if asked, fit; the fit and data."""
    loss = get_loss(args.loss)
    y = _numbers(table, args.y, path, positive=False, greater_than=loss.y_greater_than)
    xs = [_numbers(table, c, path, positive=True, greater_than=None) for c in args.x_columns]
    if args.frontier:
        data = pd.DataFrame({args.x_columns[0]: xs[0], args.y: y})
        best = frontier(data, args.x_columns[0], args.y, method=args.frontier, n_bins=args.bins)
        xs, y = [best[args.x_columns[0]].to_numpy()], best[args.y].to_numpy()
    x: Any = xs[0] if len(xs) == 1 else dict(zip(form.inputs, xs, strict=True))
    return fit(form, x, y, loss=loss, warn=False)


def _figure(results: dict[str, Any], args: argparse.Namespace, path: Path) -> None:
    """fit.png: the laws and their data above, the residuals below."""
    from matplotlib.figure import Figure

    from . import plotting

    fig = Figure(figsize=_FIGURE_SIZE, layout="constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=(3, 1.3), sharex=True)
    first = plotting._point(next(iter(results.values())))
    joint = len(first.form.inputs) > 1
    grouped = len(results) > 1 or bool(next(iter(results)))
    for i, (label, res) in enumerate(results.items()):
        color = f"C{i % 10}"
        if not joint:
            plotting.plot_fit(
                res,
                ax=top,
                label=label or None,
                color=color,
                data_label="_nolegend_" if grouped else None,
                extrapolate_to=args.extrapolate_to,
                symbols=("x", "y"),
            )
        elif {"params", "samples"} <= set(first.form.inputs) and not grouped:
            plotting.plot_isoloss(res, ax=top)
        plotting.plot_residuals(res, ax=bottom, color=color)
    if not joint:
        top.set_ylabel(args.y)
    bottom.set_xlabel(args.x_columns[0])
    fig.savefig(path, dpi=120)


def cmd_fit(args: argparse.Namespace) -> int:
    form = forms.get(args.form)
    get_loss(args.loss)  # an unknown loss fails before anything is read
    if args.bootstrap is not None:
        if args.bootstrap < 2:
            raise DataError(f"--bootstrap needs at least 2 resamples, got {args.bootstrap}")
        if not hasattr(FitResult, "bootstrap"):
            raise DataError(
                "bootstrap intervals are not available in this version of clipscale "
                "(FitResult.bootstrap is missing); drop --bootstrap"
            )
    args.x_columns = [c.strip() for c in args.x.split(",") if c.strip()]
    if len(args.x_columns) != len(form.inputs):
        example = ",".join(form.inputs)
        raise DataError(
            f"form {form.name!r} takes {len(form.inputs)} input(s) ({', '.join(form.inputs)}) "
            f"but --x names {len(args.x_columns)}; pass --x with one column per input, "
            f"comma-separated in that order (e.g. --x {example})"
        )
    if args.frontier and len(form.inputs) > 1:
        raise DataError(f"--frontier needs a one-input form; {form.name!r} has several inputs")
    table = _read_table(args.runs)
    used = [_column(table, c, "--x", args.runs) for c in args.x_columns]
    used.append(_column(table, args.y, "--y", args.runs))
    if args.group_by is not None:
        _column(table, args.group_by, "--group-by", args.runs)
    if args.drop_missing:
        table = _drop_missing(table, used, args.quiet)
    out = _make_dir(args.out)
    if args.group_by is None:
        groups = [("", table)]
    else:
        groups = [(k, g) for k, g in table.groupby(args.group_by, sort=True, dropna=False)]
    results: dict[str, Any] = {}
    rows, written, taken = [], [], set()
    for key, rows_of_group in groups:
        label = "" if args.group_by is None else str(key)
        try:
            result = _fit_one(args, form, rows_of_group, args.runs)
        except DataError as exc:
            if args.group_by is None:
                raise
            raise DataError(f"group {label!r} of --group-by {args.group_by}: {exc}") from exc
        stem = "fit" if args.group_by is None else f"fit_{_slug(key, taken)}"
        shown: Any = result
        if not args.quiet:
            if label:
                print(f"== {args.group_by} = {label}")
            print(result.summary())
        written.append(_write(out / f"{stem}.json", result.to_json()))
        if args.bootstrap is not None:
            shown = _bootstrap(result, args.bootstrap, args.seed)
            if not args.quiet:
                text = shown.summary() if callable(getattr(shown, "summary", None)) else shown
                print(f"\n{text}")
            if callable(getattr(shown, "to_json", None)):
                name = stem.replace("fit", "bootstrap", 1) + ".json"
                written.append(_write(out / name, shown.to_json()))
        if not args.quiet:
            print()
        results[label] = shown
        rows.append(_table_row(args.group_by, key, result))
    if args.group_by is not None:
        written.append(out / "fits.csv")
        pd.DataFrame(rows).to_csv(written[-1], index=False)
        if not args.quiet:
            print(pd.DataFrame(rows).to_string(index=False))
    written.append(out / "fit.png")
    _figure(results, args, written[-1])
    if not args.quiet:
        print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def _table_row(group_by: str | None, key: object, result: FitResult) -> dict[str, Any]:
    row: dict[str, Any] = {} if group_by is None else {group_by: key}
    row.update(
        form=result.form.name,
        loss=result.loss,
        n=result.n,
        dof=result.dof,
        loss_value=result.loss_value,
    )
    for p in result.form.param_names:
        row[p] = result.params[p]
        row[f"{p}_stderr"] = result.stderr[p]
    row["notes"] = "; ".join(result.notes)
    return row


def _write(path: Path, text: str) -> Path:
    path.write_text(text + "\n", encoding="utf-8")
    return path


def _bootstrap_class() -> Any:
    """``BootstrapResult`` where this version of clipscale has one, else None."""
    try:
        from . import bootstrap
    except ImportError:
        return getattr(results_module, "BootstrapResult", None)
    return getattr(bootstrap, "BootstrapResult", None)


def _load_result(path: str) -> Any:
    file = Path(path)
    if not file.is_file():
        raise DataError(f"file not found: {path}; pass the fit.json written by `clipscale fit`")
    try:
        text = file.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise DataError(
            f"{path} is not a text JSON file; pass the fit.json written by `clipscale fit`"
        ) from None
    try:
        return FitResult.from_json(text)
    except (DataError, KeyError, TypeError, ValueError) as exc:
        boot = _bootstrap_class()
        if boot is not None and callable(getattr(boot, "from_json", None)):
            try:
                return boot.from_json(text)
            except (ClipscaleError, KeyError, TypeError, ValueError):
                pass
        reason = exc if isinstance(exc, DataError) else f"missing or bad field {exc}"
        raise DataError(f"{path}: {reason}; pass the fit.json written by `clipscale fit`") from None


def _parse_values(items: Sequence[str], inputs: Sequence[str]) -> Any:
    """``--x`` items: numbers (comma-separated, repeatable), or ``name=v1,v2`` per input."""
    named: dict[str, list[str]] = {}
    plain: list[str] = []
    for item in items:
        name, sep, values = item.partition("=")
        target = named.setdefault(name.strip(), []) if sep else plain
        target.extend(v.strip() for v in (values if sep else item).split(",") if v.strip())
    if len(inputs) == 1:
        other = [k for k in named if k != inputs[0]]
        if other:
            raise DataError(
                f"this law has one input; pass plain numbers (--x 1e21,1e22), not {other[0]}="
            )
        return _floats(plain + named.get(inputs[0], []), "--x")
    missing = [i for i in inputs if i not in named]
    if missing or plain:
        example = " ".join(f"--x {i}=..." for i in inputs)
        raise DataError(f"this law takes inputs {list(inputs)}; give each by name, e.g. {example}")
    cols = {i: _floats(named[i], f"--x {i}") for i in inputs}
    if len({v.size for v in cols.values()}) > 1:
        raise DataError(f"give the same number of values for each input: {list(inputs)}")
    return cols


def _floats(values: list[str], flag: str) -> np.ndarray:
    if not values:
        raise DataError(f"{flag} needs at least one number, e.g. {flag} 1e21,1e22")
    for v in values:
        try:
            float(v)
        except ValueError:
            raise DataError(
                f"{flag} value {v!r} is not a number; pass numbers separated by commas, "
                f"e.g. {flag} 1e21,1e22"
            ) from None
    return as_float_array([float(v) for v in values], flag, positive=True)


def _predict_table(obj: Any, x: Any, level: float) -> pd.DataFrame:
    from . import plotting  # no matplotlib: only the point-fit and interval helpers

    fit_ = plotting._point(obj)
    table = pd.DataFrame({"x": x}) if not isinstance(x, dict) else pd.DataFrame(x)
    if hasattr(obj, "predict_interval"):
        out = obj.predict_interval(x, confidence_level=level)
        if not isinstance(out, pd.DataFrame):
            table["estimate"] = fit_.predict(x)
            table["lower"], table["upper"] = plotting._interval(obj, x, level)
            return table
    else:
        try:
            out = fit_.predict(x, confidence_level=level)
        except TypeError:  # this FitResult gives no intervals
            out = fit_.predict(x)
    if isinstance(out, pd.DataFrame):
        return pd.concat([table, out.reset_index(drop=True)], axis=1)
    table["estimate"] = np.atleast_1d(out)
    return table


def cmd_predict(args: argparse.Namespace) -> int:
    if not 0 < args.confidence_level < 1:
        raise DataError(f"--confidence-level must be between 0 and 1, got {args.confidence_level}")
    obj = _load_result(args.fit)
    from . import plotting

    x = _parse_values(args.x, plotting._point(obj).form.inputs)
    table = _predict_table(obj, x, args.confidence_level)
    print(table.to_csv(index=False, float_format="%.6g"), end="")
    return 0
