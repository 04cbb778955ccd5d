"""The ``clipscale`` command.

One module per subcommand, each with ``add_parser(subparsers)`` (its arguments, and ``func``:
the handler ``(args) -> int``), registered by one line in :data:`_SUBCOMMANDS`:

``clipscale fit RUNS.csv --x COL --y COL --form NAME`` (:mod:`clipscale.cli.fit`)
    fit any runs table; print the summary, write ``fit.json`` and ``fit.png``.
``clipscale predict FIT.json --x VALUES`` (:mod:`clipscale.cli.predict`)
    evaluate a saved law (with intervals when the saved result gives them).
``clipscale reproduce`` (:mod:`clipscale.cli.reproduce`)
    the scaling laws of Cherti et al. (CVPR 2023) from the bundled data.

Exit codes: 0 on success, 2 on bad usage or a :class:`~clipscale.ClipscaleError` (one line on
stderr, naming the problem and the fix; no traceback), 1 on an operating-system error (a file
that cannot be written), 3 on an unexpected internal error (one line; ``CLIPSCALE_DEBUG=1``
shows the traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import NoReturn

import numpy as np

from .._version import __version__
from ..exceptions import ClipscaleError
from . import fit, predict, reproduce
from ._common import one_line

__all__ = ["main", "build_parser"]

_PROG = "clipscale"

_SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    fit.add_parser,
    predict.add_parser,
    reproduce.add_parser,
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``clipscale`` command, with every subcommand."""
    parser = _Parser(
        prog=_PROG,
        description="Fit, compare and extrapolate scaling laws of training runs.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for add in _SUBCOMMANDS:
        add(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``clipscale`` command with ``argv`` (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code: 0 on success (and for ``--help``), 2 on bad usage or a
        :class:`~clipscale.ClipscaleError`, 1 on an operating-system error, 3 on an internal
        error.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error (already printed)
        return exc.code if isinstance(exc.code, int) else 2
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")  # diagnostics are in the printed notes
            return int(args.func(args))
    except ClipscaleError as exc:
        print(f"{_PROG}: error: {one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{_PROG}: error: {one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line, unless CLIPSCALE_DEBUG asks for more
        if os.environ.get("CLIPSCALE_DEBUG"):
            raise
        print(
            f"{_PROG}: internal error: {type(exc).__name__}: {one_line(exc)} (please report "
            "it; set CLIPSCALE_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 3
