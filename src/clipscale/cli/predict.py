"""``clipscale predict``: evaluate a saved law (fit.json, or bootstrap.json for its intervals)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..bootstrap import BootstrapResult
from ..data import as_float_array
from ..exceptions import ClipscaleError, DataError
from ..results import FitResult

__all__ = ["add_parser", "cmd_predict"]


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Declare ``clipscale predict`` and its arguments."""
    p = subparsers.add_parser(
        "predict",
        help="evaluate a fitted law (fit.json) at new x values",
        description=(
            "Evaluate the law saved by `clipscale fit` at new values of x and print a CSV "
            "table (x, estimate; with lower and upper bounds when the saved result gives "
            "intervals)."
        ),
        epilog="example: clipscale predict my-fit/fit.json --x 1e12,1e13 --x 1e14",
    )
    p.add_argument(
        "fit",
        metavar="FIT.json",
        help="a fit.json (or bootstrap.json, for its intervals) written by `clipscale fit`",
    )
    p.add_argument(
        "--x",
        action="append",
        required=True,
        metavar="VALUES",
        help="x values, comma-separated, repeatable; for a joint law name each input: "
        "--x params=1e9,1e10 --x samples=2e10,2e11",
    )
    p.add_argument(
        "--confidence-level",
        type=float,
        default=0.95,
        metavar="LEVEL",
        help="level of the intervals, when the result gives them (default: %(default)s)",
    )
    p.set_defaults(func=cmd_predict)


def _load_result(path: str) -> FitResult | BootstrapResult:
    """The FitResult (or BootstrapResult) saved as JSON at ``path``."""
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
        try:
            return BootstrapResult.from_json(text)
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


def _predict_table(obj: FitResult | BootstrapResult, x: Any, level: float) -> pd.DataFrame:
    """``x`` beside the estimate and, where the result gives them, its interval's bounds."""
    table = pd.DataFrame({"x": x}) if not isinstance(x, dict) else pd.DataFrame(x)
    if isinstance(obj, BootstrapResult):
        out = obj.predict_interval(x, confidence_level=level)
    else:
        out = obj.predict(x, confidence_level=level)
    return pd.concat([table, out.reset_index(drop=True)], axis=1)


def cmd_predict(args: argparse.Namespace) -> int:
    """Run ``clipscale predict``: print the CSV table of predictions."""
    if not 0 < args.confidence_level < 1:
        raise DataError(f"--confidence-level must be between 0 and 1, got {args.confidence_level}")
    obj = _load_result(args.fit)
    fit_ = obj.fit if isinstance(obj, BootstrapResult) else obj
    x = _parse_values(args.x, fit_.form.inputs)
    table = _predict_table(obj, x, args.confidence_level)
    print(table.to_csv(index=False, float_format="%.6g"), end="")
    return 0
