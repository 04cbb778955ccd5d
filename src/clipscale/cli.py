"""The ``clipscale`` command.

Each subcommand is one ``_add_<name>(subparsers)`` function that declares its arguments and sets
``func`` to a handler ``(args) -> int`` (those of ``fit`` and ``predict`` are in
``_commands.py``), registered by one line in :data:`_SUBCOMMANDS`:

``clipscale fit RUNS.csv --x COL --y COL --form NAME``
    fit any runs table; print the summary, write ``fit.json`` and ``fit.png``.
``clipscale predict FIT.json --x VALUES``
    evaluate a saved law (with intervals when the saved result gives them).
``clipscale reproduce``
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

from . import forms
from ._commands import cmd_fit, cmd_predict
from ._version import __version__
from .exceptions import ClipscaleError
from .frontier import METHODS
from .losses import available_losses

__all__ = ["main", "build_parser"]

_PROG = "clipscale"


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from .reproduce import run

    run(args.out, quiet=args.quiet)
    return 0


def _add_reproduce(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "reproduce",
        help="reproduce the scaling laws of Cherti et al. (CVPR 2023) from the bundled data",
        description=(
            "Fit E = beta * C**alpha to the bundled OpenCLIP and OpenAI CLIP runs as in Cherti "
            "et al. (CVPR 2023), extrapolate the laws, compare with the published values, test "
            "a saturating law on held-out larger runs, and write tables (fits.csv, "
            "predictions.csv, prediction_mae.csv, beyond_paper.csv) and figures (fig_*.png)."
        ),
    )
    p.add_argument(
        "--out",
        default="clipscale-reproduce",
        metavar="DIR",
        help="output directory, created if needed (default: %(default)s)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    p.set_defaults(func=_cmd_reproduce)


# --------------------------------------------------------------------------- fit
def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _add_fit(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "fit",
        help="fit a scaling law to a CSV of runs; writes fit.json and fit.png",
        description=(
            "Fit a scaling-law form to two columns of a CSV table of runs (one row per run), "
            "print the parameters with standard errors, and write fit.json (loads back with "
            "clipscale.FitResult.from_json) and fit.png (the law over its data, and the "
            "residuals) into --out. With --group-by, one fit per value of a column, plus "
            "fits.csv (one row per group) and fit_<group>.json."
        ),
        epilog=(
            "example: clipscale fit runs.csv --x compute --y error --form saturating "
            "--frontier bins --out my-fit"
        ),
    )
    p.add_argument("runs", metavar="RUNS.csv", help="CSV file with a header row, one run per row")
    p.add_argument(
        "--x",
        required=True,
        metavar="COLUMN",
        help="column of the scale (compute, samples, params; > 0); for a joint form such as "
        "chinchilla, one column per input, comma-separated (e.g. --x params,samples)",
    )
    p.add_argument(
        "--y", required=True, metavar="COLUMN", help="column of the metric (error, loss)"
    )
    p.add_argument(
        "--form",
        default="power",
        metavar="NAME",
        help=f"functional form, one of {', '.join(forms.available())} (default: %(default)s)",
    )
    p.add_argument(
        "--loss",
        default="log_ls",
        metavar="LOSS",
        help=f"objective, one of {', '.join(available_losses())} (default: %(default)s)",
    )
    p.add_argument(
        "--frontier",
        choices=METHODS,
        metavar="METHOD",
        help=f"fit the frontier of the runs instead of every run: {', '.join(METHODS)}",
    )
    p.add_argument(
        "--bins", type=int, default=5, metavar="N", help="bins of --frontier bins (default: 5)"
    )
    p.add_argument(
        "--group-by", metavar="COLUMN", help="one fit per value of this column, and fits.csv"
    )
    p.add_argument(
        "--bootstrap",
        type=int,
        metavar="N",
        help="bootstrap the fit with N resamples: print its intervals, write bootstrap.json, "
        "shade the interval in fit.png",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of --bootstrap (default: 0)")
    p.add_argument(
        "--extrapolate-to",
        type=_positive_float,
        metavar="X",
        help="extend the curve of fit.png to this x",
    )
    p.add_argument(
        "--drop-missing",
        action="store_true",
        help="drop rows with an empty, NaN or infinite --x or --y value instead of failing",
    )
    p.add_argument(
        "--out",
        default="clipscale-fit",
        metavar="DIR",
        help="output directory, created if needed (default: %(default)s)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    p.set_defaults(func=cmd_fit)


# --------------------------------------------------------------------------- predict
def _add_predict(subparsers: argparse._SubParsersAction) -> None:
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


_SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (
    _add_fit,
    _add_predict,
    _add_reproduce,
)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


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


def _one_line(message: object) -> str:
    return " ".join(str(message).split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``clipscale`` command with ``argv`` (default ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit code: 0 on success (and for ``--help``), 2 on bad usage or a
        :class:`~clipscale.ClipscaleError`, 1 on an operating-system error.
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
        print(f"{_PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{_PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line, unless CLIPSCALE_DEBUG asks for more
        if os.environ.get("CLIPSCALE_DEBUG"):
            raise
        print(
            f"{_PROG}: internal error: {type(exc).__name__}: {_one_line(exc)} (please report "
            "it; set CLIPSCALE_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
