"""Helpers every command shares: reading the runs table, checking its columns, writing files."""

from __future__ import annotations

import argparse
import difflib
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import as_float_array, load_table
from ..exceptions import DataError

__all__ = [
    "column",
    "drop_missing",
    "numbers",
    "one_line",
    "positive_float",
    "read_table",
    "slug",
    "write_text",
]


def one_line(message: object) -> str:
    """``message`` with every run of whitespace (newlines too) as one space."""
    return " ".join(str(message).split())


def positive_float(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def read_table(path: str) -> pd.DataFrame:
    """The CSV at ``path`` (missing, binary, empty or unparsable files raise DataError)."""
    table, _ = load_table(path)
    if len(table) == 0:
        raise DataError(f"{path} has a header but no rows; add one row per run.")
    return table


def column(table: pd.DataFrame, name: str, flag: str, path: str) -> str:
    """``name`` if it is a column of ``table``, else a DataError suggesting the closest one."""
    if name in table.columns:
        return name
    close = difflib.get_close_matches(name, [str(c) for c in table.columns], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise DataError(
        f"column {name!r} given by {flag} is not in {path}{hint}; its columns are "
        f"{[str(c) for c in table.columns]}. Pass {flag} with one of them."
    )


def numbers(
    table: pd.DataFrame, column: str, path: str, *, positive: bool, greater_than: float | None
) -> np.ndarray:
    """A numeric column, validated; rows in messages are line numbers of the CSV."""
    raw = table[column]
    lines = table.index.to_numpy() + 2  # the header is line 1
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    missing = raw.isna().to_numpy() | np.isinf(values)
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


def drop_missing(table: pd.DataFrame, columns: list[str], quiet: bool) -> pd.DataFrame:
    """``table`` without rows where one of ``columns`` is empty, NaN or infinite."""
    bad = np.zeros(len(table), dtype=bool)
    for col in columns:
        values = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=float)
        bad |= table[col].isna().to_numpy() | np.isinf(values)
    if bad.any() and not quiet:
        print(f"dropped {int(bad.sum())} of {len(table)} rows with missing or infinite values")
    return table.loc[~bad]


def slug(value: object, taken: set[str]) -> str:
    """A file-name-safe form of ``value``, made unique against (and added to) ``taken``."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", str(value)).strip("_") or "group"
    name, i = base, 2
    while name in taken:
        name, i = f"{base}_{i}", i + 1
    taken.add(name)
    return name


def write_text(path: Path, text: str) -> Path:
    """Write ``text`` and a final newline to ``path`` (UTF-8); return ``path``."""
    path.write_text(text + "\n", encoding="utf-8")
    return path
