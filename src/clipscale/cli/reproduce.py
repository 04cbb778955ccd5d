"""``clipscale reproduce``: the scaling laws of Cherti et al. (CVPR 2023) from the bundled data."""

from __future__ import annotations

import argparse

__all__ = ["add_parser", "cmd_reproduce"]


def cmd_reproduce(args: argparse.Namespace) -> int:
    """Run :func:`clipscale.reproduce.run` into ``--out``."""
    from .. import reproduce  # the tables and figures load only when the command runs

    reproduce.run(args.out, quiet=args.quiet)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Declare ``clipscale reproduce`` and its arguments."""
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
    p.set_defaults(func=cmd_reproduce)
