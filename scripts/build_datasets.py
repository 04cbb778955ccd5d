"""Build the OpenCLIP tables bundled in ``src/clipscale/datasets/``.

Reads the raw files of Cherti et al. (CVPR 2023), as copied from the GitHub repository
LAION-AI/scaling-laws-openclip into ``../shared/data/openclip/`` (relative to the repository
root), and writes tidy tables with clipscale's canonical columns first
(``compute``, ``samples``, ``params``, ``metric``), plus ``CITATION.md``.

Usage::

    python scripts/build_datasets.py                # default source and destination
    python scripts/build_datasets.py --source DIR   # raw files elsewhere

The output is deterministic: running the script twice writes identical bytes.
``tests/test_datasets.py`` imports :func:`render` to check that the packaged files are exactly
what this script produces.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO_ROOT.parent / "shared" / "data" / "openclip"
DEFAULT_DEST = REPO_ROOT / "src" / "clipscale" / "datasets"

ZEROSHOT = "zeroshot_results.csv"
CURVES = "imagenet_zeroshot_learning_curves.csv"
MODELS = "trained_models_info.csv"
ARCH = "arch_info.csv"
SOURCE_FILES = (ZEROSHOT, CURVES, MODELS, ARCH)

OUT_ZEROSHOT = "openclip_zeroshot.csv"
OUT_CURVES = "openclip_learning_curves.csv"
OUT_ARCH = "openclip_arch_info.csv"
OUT_CITATION = "CITATION.md"

SOURCE_REPO = "https://github.com/LAION-AI/scaling-laws-openclip"

ZEROSHOT_COLUMNS = [
    "compute",
    "samples",
    "params",
    "metric",
    "arch",
    "upstream_dataset",
    "family",
    "task",
    "task_type",
    "samples_seen_pretty",
    "gmacs",
    "acc1",
    "acc5",
    "mean_per_class_recall",
    "image_retrieval_recall@5",
    "text_retrieval_recall@5",
    "mean_average_precision",
    "name",
]

CURVES_COLUMNS = [
    "compute",
    "samples",
    "params",
    "metric",
    "arch",
    "upstream_dataset",
    "name",
    "epoch",
    "top1",
    "top5",
    "samples_seen_pretty",
]

RETRIEVAL_TASKS = ("mscoco_captions", "flickr30k")
MULTILABEL_TASKS = ("voc2007_multilabel",)

BIBTEX = """\
@InProceedings{Cherti_2023_CVPR,
    author    = {Cherti, Mehdi and Beaumont, Romain and Wightman, Ross and Wortsman, Mitchell
                 and Ilharco, Gabriel and Gordon, Cade and Schuhmann, Christoph
                 and Schmidt, Ludwig and Jitsev, Jenia},
    title     = {Reproducible Scaling Laws for Contrastive Language-Image Learning},
    booktitle = {Proceedings of the IEEE/CVF Conference on Computer Vision and Pattern
                 Recognition (CVPR)},
    month     = {June},
    year      = {2023},
    pages     = {2818--2829},
    note      = {arXiv:2212.07143}
}"""


def _read(source: Path, name: str) -> pd.DataFrame:
    path = source / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found; pass --source DIR pointing at the copied "
            f"LAION-AI/scaling-laws-openclip data ({', '.join(SOURCE_FILES)})"
        )
    return pd.read_csv(path)


def _params_by_arch(arch_info: pd.DataFrame) -> pd.Series:
    # mparams has two decimals, so mparams * 1e6 is an integer count; rounding drops float fuzz.
    return pd.Series(np.round(arch_info["mparams"].to_numpy() * 1e6), index=arch_info["model"])


def _lookup(keys: pd.Series, table: pd.Series, what: str) -> np.ndarray:
    missing = sorted(set(keys) - set(table.index))
    if missing:
        raise ValueError(f"no {what} for {missing}")
    return table.loc[keys.to_numpy()].to_numpy(dtype=float)


def _error_metric(df: pd.DataFrame) -> np.ndarray:
    """Error the paper fits: 1 - acc1, 1 - image retrieval Recall@5, or 1 - mAP (VOC)."""
    task = df["downstream_dataset"]
    score = df["acc1"].to_numpy(dtype=float).copy()
    retrieval = task.isin(RETRIEVAL_TASKS).to_numpy()
    multilabel = task.isin(MULTILABEL_TASKS).to_numpy()
    score[retrieval] = df["image_retrieval_recall@5"].to_numpy(dtype=float)[retrieval]
    score[multilabel] = df["mean_average_precision"].to_numpy(dtype=float)[multilabel]
    if np.isnan(score).any():
        bad = sorted(set(task[np.isnan(score)]))
        raise ValueError(f"no score for downstream datasets {bad}")
    return 1.0 - score


def build_zeroshot(source: Path) -> pd.DataFrame:
    """One row per (model, downstream task), canonical columns first."""
    raw = _read(source, ZEROSHOT)
    params = _params_by_arch(_read(source, ARCH))
    out = pd.DataFrame(
        {
            "compute": raw["gmacs_total"].astype(float),
            "samples": raw["samples_seen"].astype(float),
            "params": _lookup(raw["arch"], params, "arch_info.mparams"),
            "metric": _error_metric(raw),
            "arch": raw["arch"],
            "upstream_dataset": raw["upstream_dataset"],
            "family": np.where(raw["upstream_dataset"] == "CLIP-WIT", "openai", "openclip"),
            "task": raw["downstream_dataset"],
            "task_type": raw["task"],
        }
    )
    for column in ZEROSHOT_COLUMNS[len(out.columns) :]:
        out[column] = raw[column]
    out = out.sort_values(["task", "family", "compute", "name"], kind="mergesort")
    return out.reset_index(drop=True)[ZEROSHOT_COLUMNS]


def build_learning_curves(source: Path) -> pd.DataFrame:
    """Per-epoch zero-shot ImageNet accuracy joined with the run's data, arch and cost."""
    curves = _read(source, CURVES)
    models = _read(source, MODELS)
    arch_info = _read(source, ARCH)
    runs = curves.merge(models, on="name", how="left", validate="many_to_one")
    if runs["arch"].isna().any():
        missing = sorted(set(runs.loc[runs["arch"].isna(), "name"]))
        raise ValueError(f"learning curves without a trained_models_info row: {missing}")
    gmacs = pd.Series(arch_info["gmacs"].to_numpy(), index=arch_info["model"])
    samples = runs["epoch"].to_numpy(dtype=float) * runs["samples_per_epoch"].to_numpy(dtype=float)
    out = pd.DataFrame(
        {
            "compute": samples * _lookup(runs["arch"], gmacs, "arch_info.gmacs"),
            "samples": samples,
            "params": _lookup(runs["arch"], _params_by_arch(arch_info), "arch_info.mparams"),
            "metric": 1.0 - runs["imagenet-zeroshot-val-top1"].to_numpy(dtype=float),
            "arch": runs["arch"],
            "upstream_dataset": "LAION-" + runs["data"],
            "name": runs["name"],
            "epoch": runs["epoch"],
            "top1": runs["imagenet-zeroshot-val-top1"],
            "top5": runs["imagenet-zeroshot-val-top5"],
            "samples_seen_pretty": runs["samples_seen_pretty"],
        }
    )
    out = out.sort_values(["name", "epoch"], kind="mergesort")
    return out.reset_index(drop=True)[CURVES_COLUMNS]


def _csv_bytes(df: pd.DataFrame) -> bytes:
    # pandas writes float64 with repr (shortest round-trip); tests/test_datasets.py checks it.
    return df.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _snapshot_commit(source: Path) -> str:
    readme = source / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    match = re.search(r"HEAD commit\s*`([0-9a-f]{40})`", text)
    return match.group(1) if match else "unknown (README.md of the source folder not found)"


def _file_commits(source: Path) -> dict[str, str]:
    readme = source / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.is_file() else ""
    found = re.findall(r"^\|\s*`([^`]+\.csv)`\s*\|\s*([0-9a-f]{40})", text, flags=re.M)
    return dict(found)


def citation_markdown(source: Path, counts: dict[str, int]) -> str:
    """The text of ``CITATION.md``: source, commit, paper, license and what we changed."""
    commits = _file_commits(source)
    rows = []
    for name in SOURCE_FILES:
        digest = hashlib.sha256((source / name).read_bytes()).hexdigest()
        rows.append(f"| `{name}` | `{commits.get(name, 'unknown')}` | `{digest}` |")
    table = "\n".join(rows)
    return f"""\
# OpenCLIP scaling-law data (Cherti et al., CVPR 2023)

Bundled tables, built by `scripts/build_datasets.py` from the data files of
Cherti et al., "Reproducible scaling laws for contrastive language-image learning",
CVPR 2023, pp. 2818-2829 (arXiv:2212.07143).

## Source

- Repository: <{SOURCE_REPO}>
- Snapshot commit: `{_snapshot_commit(source)}`
- Only data was used, no code.

| source file | last changed in commit | sha256 of the file read |
|---|---|---|
{table}

## Citation

If you use these tables, cite the paper:

```bibtex
{BIBTEX}
```

## License

The source repository has no LICENSE file and its README states no license, so the data has
**no explicit license**. It is public data: cite the paper above when you use it.

## What `scripts/build_datasets.py` changed

All values are the source values; the script only renames, derives and reorders columns.

`openclip_zeroshot.csv` ({counts[OUT_ZEROSHOT]} rows, one per model and downstream task,
from `{ZEROSHOT}`):

- `compute` = `gmacs_total`, total training compute in **GMACs** (the paper's unit; not FLOPs).
- `samples` = `samples_seen`.
- `params` = `arch_info.mparams * 1e6` for the row's `arch` (rounded to an integer count).
- `metric` = the error the paper fits: `1 - acc1` for classification,
  `1 - image_retrieval_recall@5` for `mscoco_captions` and `flickr30k`,
  `1 - mean_average_precision` for `voc2007_multilabel`.
- `family` = `openai` for `CLIP-WIT` rows, `openclip` for LAION rows.
- `task` = `downstream_dataset`; `task_type` = the source `task` column.
- Other columns unchanged. Rows sorted by `task`, `family`, `compute`, `name`.

`openclip_learning_curves.csv` ({counts[OUT_CURVES]} rows, from `{CURVES}` joined with
`{MODELS}` on `name`):

- `samples` = `epoch * samples_per_epoch`; `compute` = `samples * arch_info.gmacs` (GMACs).
- `params` as above; `metric` = `1 - top1`.
- `top1`, `top5` = `imagenet-zeroshot-val-top1`, `imagenet-zeroshot-val-top5`.
- `upstream_dataset` = `LAION-` + `data`. Rows sorted by `name`, `epoch`.

`openclip_arch_info.csv` ({counts[OUT_ARCH]} rows): `{ARCH}` byte for byte.
"""


def render(source: Path = DEFAULT_SOURCE) -> dict[str, bytes]:
    """Build every output file in memory: file name -> exact bytes to write."""
    source = Path(source)
    zeroshot = build_zeroshot(source)
    curves = build_learning_curves(source)
    arch_bytes = (source / ARCH).read_bytes()
    counts = {
        OUT_ZEROSHOT: len(zeroshot),
        OUT_CURVES: len(curves),
        OUT_ARCH: len(_read(source, ARCH)),
    }
    return {
        OUT_ZEROSHOT: _csv_bytes(zeroshot),
        OUT_CURVES: _csv_bytes(curves),
        OUT_ARCH: arch_bytes,
        OUT_CITATION: citation_markdown(source, counts).encode("utf-8"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source", type=Path, default=DEFAULT_SOURCE, help="folder with the raw OpenCLIP CSVs"
    )
    parser.add_argument(
        "--dest", type=Path, default=DEFAULT_DEST, help="folder to write the tables into"
    )
    args = parser.parse_args(argv)
    outputs = render(args.source)
    args.dest.mkdir(parents=True, exist_ok=True)
    for name, content in outputs.items():
        path = args.dest / name
        path.write_bytes(content)
        if name.endswith(".csv"):
            rows = len(pd.read_csv(io.BytesIO(content)))
            print(f"wrote {path} ({rows} rows)")
        else:
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
