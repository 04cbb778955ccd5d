"""The ``clipscale`` command.

Each subcommand is one ``_add_<name>(subparsers)`` function that declares its arguments and sets
``func`` to a handler ``(args) -> int``; adding ``fit`` or ``predict`` later is one more such
function and one more line in :data:`_SUBCOMMANDS`.

Exit codes: 0 on success, 2 on bad usage or a :class:`~clipscale.ClipscaleError` (one line on
stderr, no traceback), 1 on an operating-system error (a file that cannot be written).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from . import __version__
from .exceptions import ClipscaleError

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


_SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction], None], ...] = (_add_reproduce,)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``clipscale`` command, with every subcommand."""
    parser = argparse.ArgumentParser(
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
        return int(args.func(args))
    except ClipscaleError as exc:
        print(f"{_PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{_PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
