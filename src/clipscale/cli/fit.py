"""``clipscale fit``: fit a law to a CSV of runs; print it, write fit.json and fit.png.

Every problem with the input raises a :class:`~clipscale.DataError` whose one-line message names
the file, column, lines or flag and the fix; :func:`clipscale.cli.main` prints it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from .. import forms
from .._output import make_output_dir
from ..exceptions import DataError
from ..fitting import fit
from ..forms import Form
from ..frontier import METHODS, frontier
from ..losses import available_losses, get_loss
from ..results import FitResult
from ._common import column, drop_missing, numbers, positive_float, read_table, slug, write_text

__all__ = ["add_parser", "cmd_fit"]

_FIGURE_SIZE = (6.4, 6.4)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Declare ``clipscale fit`` and its arguments."""
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
        type=positive_float,
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


def _x_columns(args: argparse.Namespace, form: Form) -> list[str]:
    """The ``--x`` columns, one per input of the form, after checking the flags fit the form."""
    if args.bootstrap is not None:
        if args.bootstrap < 2:
            raise DataError(f"--bootstrap needs at least 2 resamples, got {args.bootstrap}")
    names = [c.strip() for c in args.x.split(",") if c.strip()]
    if len(names) != len(form.inputs):
        example = ",".join(form.inputs)
        raise DataError(
            f"form {form.name!r} takes {len(form.inputs)} input(s) ({', '.join(form.inputs)}) "
            f"but --x names {len(names)}; pass --x with one column per input, "
            f"comma-separated in that order (e.g. --x {example})"
        )
    if args.frontier and len(form.inputs) > 1:
        raise DataError(f"--frontier needs a one-input form; {form.name!r} has several inputs")
    return names


def _fit_one(args: argparse.Namespace, form: Form, table: pd.DataFrame, path: str) -> FitResult:
    """Validate the columns of one table, take its frontier if asked, fit; the fit and data."""
    loss = get_loss(args.loss)
    y = numbers(table, args.y, path, positive=False, greater_than=loss.y_greater_than)
    xs = [numbers(table, c, path, positive=True, greater_than=None) for c in args.x_columns]
    if args.frontier:
        data = pd.DataFrame({args.x_columns[0]: xs[0], args.y: y})
        best = frontier(data, args.x_columns[0], args.y, method=args.frontier, n_bins=args.bins)
        xs, y = [best[args.x_columns[0]].to_numpy()], best[args.y].to_numpy()
    x: Any = xs[0] if len(xs) == 1 else dict(zip(form.inputs, xs, strict=True))
    return fit(form, x, y, loss=loss, warn=False)


def _figure(form: Form, shown: dict[str, Any], args: argparse.Namespace, path: Path) -> None:
    """fit.png: the laws (or their bootstrap results) and their data above, residuals below."""
    from matplotlib.figure import Figure

    from .. import plotting

    fig = Figure(figsize=_FIGURE_SIZE, layout="constrained")
    top, bottom = fig.subplots(2, 1, height_ratios=(3, 1.3), sharex=True)
    joint = len(form.inputs) > 1
    grouped = len(shown) > 1 or bool(next(iter(shown)))
    for i, (label, res) in enumerate(shown.items()):
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
        elif {"params", "samples"} <= set(form.inputs) and not grouped:
            plotting.plot_isoloss(res, ax=top)
        plotting.plot_residuals(res, ax=bottom, color=color)
    if not joint:
        top.set_ylabel(args.y)
    bottom.set_xlabel(args.x_columns[0])
    fig.savefig(path, dpi=120)


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


def cmd_fit(args: argparse.Namespace) -> int:
    """Run ``clipscale fit``: fit, print, and write the JSON, CSV and PNG files."""
    form = forms.get(args.form)
    get_loss(args.loss)  # an unknown loss fails before anything is read
    args.x_columns = _x_columns(args, form)
    table = read_table(args.runs)
    used = [column(table, c, "--x", args.runs) for c in args.x_columns]
    used.append(column(table, args.y, "--y", args.runs))
    if args.group_by is not None:
        column(table, args.group_by, "--group-by", args.runs)
    if args.drop_missing:
        table = drop_missing(table, used, args.quiet)
    out = make_output_dir(args.out)
    if args.group_by is None:
        groups = [("", table)]
    else:
        groups = [(k, g) for k, g in table.groupby(args.group_by, sort=True, dropna=False)]
    shown: dict[str, Any] = {}  # label -> the fit, or its bootstrap result
    rows, written, taken = [], [], set()
    for key, rows_of_group in groups:
        label = "" if args.group_by is None else str(key)
        try:
            result = _fit_one(args, form, rows_of_group, args.runs)
        except DataError as exc:
            if args.group_by is None:
                raise
            raise DataError(f"group {label!r} of --group-by {args.group_by}: {exc}") from exc
        stem = "fit" if args.group_by is None else f"fit_{slug(key, taken)}"
        if not args.quiet:
            if label:
                print(f"== {args.group_by} = {label}")
            print(result.summary())
        written.append(write_text(out / f"{stem}.json", result.to_json()))
        shown[label] = result
        if args.bootstrap is not None:
            shown[label] = boot = result.bootstrap(args.bootstrap, rng=args.seed)
            if not args.quiet:
                print(f"\n{boot.summary()}")
            name = stem.replace("fit", "bootstrap", 1) + ".json"
            written.append(write_text(out / name, boot.to_json()))
        if not args.quiet:
            print()
        rows.append(_table_row(args.group_by, key, result))
    if args.group_by is not None:
        written.append(out / "fits.csv")
        pd.DataFrame(rows).to_csv(written[-1], index=False)
        if not args.quiet:
            print(pd.DataFrame(rows).to_string(index=False))
    written.append(out / "fit.png")
    _figure(form, shown, args, written[-1])
    if not args.quiet:
        print(f"wrote {', '.join(str(p) for p in written)}")
    return 0
