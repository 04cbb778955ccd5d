"""Learning-curve extrapolation benchmark of Alabdulmohsin et al. 2022 (M1-M4 and others).

The benchmark of "Revisiting Neural Scaling Laws in Language and Vision" (NeurIPS 2022,
arXiv:2209.06640): 92 learning curves (72 few-shot image classification, 5 NMT, 5 LM and
10 BIG-Bench). For every curve, every 1-D form is fitted with ``clipscale.fit`` (default
``loss="log_ls"``) on the rows with ``Training == 1`` and scored by the RMSE of
``log(yhat) - log(y)`` on the held-out rows (``Training == 0``), which lie at larger ``x``.

Run from the repository root::

    PYTHONPATH=src python benchmarks/extrapolation_benchmark.py                 # all 92 curves
    PYTHONPATH=src python benchmarks/extrapolation_benchmark.py --markdown      # table for docs
    PYTHONPATH=src python benchmarks/extrapolation_benchmark.py --n-jobs 2

The language file repeats its LM block verbatim: rows are de-duplicated before use.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import clipscale

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
DATA = DATA / "revisiting-neural-scaling-laws"
# every 1-D form; power = M1 and saturating = M2 (same curves, other names: a consistency check)
FORMS = ("m1", "m2", "m3", "m4", "power", "saturating", "shifted", "broken")
KEYS = ["Domain", "Task", "Model"]


def load_curves(data_dir: Path = DATA) -> pd.DataFrame:
    """Both benchmark files, de-duplicated, with a ``curve`` id per (Domain, Task, Model)."""
    frames = [pd.read_csv(data_dir / f) for f in ("benchmark.vision.csv", "benchmark.lang.csv")]
    df = pd.concat(frames, ignore_index=True).drop_duplicates(ignore_index=True)
    df["curve"] = df[KEYS].astype(str).agg(" | ".join, axis=1)
    return df


def score_curve(curve: pd.DataFrame, form: str) -> dict[str, object]:
    """Fit ``form`` on a curve's training rows; RMSE of log predictions on its held-out rows."""
    train, test = curve[curve["Training"] == 1], curve[curve["Training"] == 0]
    row: dict[str, object] = {k: curve[k].iloc[0] for k in KEYS}
    row.update(form=form, n_train=len(train), n_test=len(test))
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = clipscale.fit(form, train["Seen Examples"], train["Loss"], warn=False)
        pred = result.predict(test["Seen Examples"].to_numpy())
        with np.errstate(all="ignore"):
            err = np.log(pred) - np.log(test["Loss"].to_numpy())
        row["rmsle"] = float(np.sqrt(np.mean(err**2))) if np.all(np.isfinite(err)) else np.inf
        row["train_loss"] = result.loss_value
    except clipscale.ClipscaleError as exc:  # a failed fit is reported, never dropped
        row["rmsle"], row["error"] = np.inf, str(exc)
    row["seconds"] = time.perf_counter() - t0
    return row


def run(df: pd.DataFrame, forms: tuple[str, ...] = FORMS, n_jobs: int = 1) -> pd.DataFrame:
    """Score every form on every curve; one row per (curve, form)."""
    tasks = [(c, f) for _, c in df.groupby("curve", sort=True) for f in forms]
    if n_jobs == 1:
        rows = [score_curve(c, f) for c, f in tasks]
    else:
        from joblib import Parallel, delayed

        rows = Parallel(n_jobs=n_jobs)(delayed(score_curve)(c, f) for c, f in tasks)
    return pd.DataFrame(rows)


def summarise(scores: pd.DataFrame, forms: list[str] | None = None) -> pd.DataFrame:
    """Per domain: median extrapolation RMSLE of each form, and how often each form wins.

    ``forms`` restricts the comparison (the wins count only among them); a tie (within 1e-6
    relative, e.g. ``m2`` and ``saturating``, the same law) is a win for each.
    """
    wide = scores.pivot_table(index=KEYS, columns="form", values="rmsle", aggfunc="first")
    forms = list(wide.columns) if forms is None else list(forms)
    wide = wide[forms]
    wins = wide.le(wide.min(axis=1) * (1 + 1e-6), axis=0)
    out = []
    for domain, block in wide.groupby(level="Domain"):
        row: dict[str, object] = {"domain": domain, "curves": len(block)}
        for f in forms:
            row[f"{f} median"] = float(np.median(block[f]))
        for f in forms:
            row[f"{f} wins"] = int(wins.loc[block.index, f].sum())
        out.append(row)
    total: dict[str, object] = {"domain": "all", "curves": len(wide)}
    for f in forms:
        total[f"{f} median"] = float(np.median(wide[f]))
    for f in forms:
        total[f"{f} wins"] = int(wins[f].sum())
    out.append(total)
    return pd.DataFrame(out).set_index("domain")


def markdown(summary: pd.DataFrame, forms: list[str]) -> str:
    """The summary as a Markdown table: median RMSLE (wins) per form and domain."""
    head = "| domain | curves | " + " | ".join(forms) + " |"
    lines = [head, "|" + "---|" * (len(forms) + 2)]
    for domain, row in summary.iterrows():
        best = min(forms, key=lambda f: row[f"{f} median"])
        cells = []
        for f in forms:
            cell = f"{row[f'{f} median']:.4f} ({int(row[f'{f} wins'])})"
            cells.append(f"**{cell}**" if f == best else cell)
        lines.append(f"| {domain} | {int(row['curves'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--forms", nargs="+", default=list(FORMS))
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--markdown", action="store_true", help="print the docs table")
    parser.add_argument("--csv", type=Path, help="write the per-curve scores here")
    args = parser.parse_args(argv)
    df = load_curves(args.data)
    t0 = time.perf_counter()
    scores = run(df, tuple(args.forms), n_jobs=args.n_jobs)
    elapsed = time.perf_counter() - t0
    if args.csv:
        scores.to_csv(args.csv, index=False)
    print(f"{df['curve'].nunique()} curves, {len(scores)} fits in {elapsed:.1f} s")
    print("extrapolation RMSLE: median per domain (number of curves where the form is best)")
    paper = [f for f in ("m1", "m2", "m3", "m4") if f in args.forms]
    tables = [("all forms", list(args.forms))]
    if len(paper) > 1 and len(paper) < len(args.forms):
        tables.append(("the paper's estimators only", paper))
    for title, subset in tables:
        summary = summarise(scores, subset)
        print(f"\n{title}:")
        if args.markdown:
            print(markdown(summary, subset))
        else:
            with pd.option_context("display.width", 200, "display.max_columns", 40):
                print(summary.round(4))
    failed = scores[~np.isfinite(scores["rmsle"])]
    if len(failed):
        print(f"\n{len(failed)} fits failed or predicted non-finite values:")
        print(failed[KEYS + ["form"]].to_string(index=False))
    return scores


if __name__ == "__main__":
    main()
