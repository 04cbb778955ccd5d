"""The output directory of the commands and of :func:`clipscale.reproduce.run`."""

from __future__ import annotations

from pathlib import Path

from .exceptions import DataError

__all__ = ["make_output_dir"]


def make_output_dir(out_dir: str | Path) -> Path:
    """Create ``out_dir`` (and its parents) if needed and return it as a Path.

    Raises
    ------
    DataError
        If the directory cannot be created (a file in the way, no permission), naming it.
    """
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"cannot create the output directory {str(out)!r}: {exc.strerror or exc}; "
            "pass a writable directory path"
        ) from exc
    return out
