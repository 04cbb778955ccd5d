"""The paper's published values, the bundled runs it is fitted on, and one family's fit.

Constants and helpers of :mod:`clipscale.reproduce` (see its docstring for the recipe).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

from .. import datasets
from ..exceptions import DataError
from ..fitting import fit_power_law
from ..frontier import frontier
from ..results import FitResult

if TYPE_CHECKING:  # pragma: no cover
    from ..bootstrap import BootstrapResult

__all__ = [
    "FAMILIES",
    "FIT_TASK_TYPES",
    "PAPER_TASKS",
    "PREDICTION_ARCHS",
    "PUBLISHED_FITS",
    "PUBLISHED_MAE",
    "PUBLISHED_PREDICTIONS",
    "SAMPLES_SEEN",
    "all_tasks",
    "family_fit",
    "law_bootstrap",
    "runs_table",
    "select_runs",
]

#: The four tasks of the paper's Table of scaling laws (and of its Figure 1).
PAPER_TASKS: tuple[str, ...] = (
    "imagenet1k",
    "imagenet_robustness",
    "mscoco_captions",
    "flickr30k",
)

#: Published ``(beta, alpha)`` of ``E = beta * C**alpha`` per ``(task, family)``.
PUBLISHED_FITS: dict[tuple[str, str], tuple[float, float]] = {
    ("imagenet1k", "openclip"): (5.8581, -0.11139),
    ("imagenet_robustness", "openclip"): (11.6087, -0.12554),
    ("mscoco_captions", "openclip"): (2.7497, -0.07943),
    ("flickr30k", "openclip"): (15.5060, -0.18916),
    ("imagenet1k", "openai"): (23.1836, -0.16377),
    ("imagenet_robustness", "openai"): (211.6600, -0.23784),
    ("mscoco_captions", "openai"): (1.5886, -0.05076),
    ("flickr30k", "openai"): (2.2084, -0.10285),
}

_LAION_80M = 80_000_415
_LAION_400M = 407_332_084

#: Nominal samples-seen budgets of the paper's extrapolations (see :mod:`clipscale.reproduce`).
SAMPLES_SEEN: dict[str, int] = {
    "3B": _LAION_80M * 32,
    "13B": _LAION_400M * 32,
    "34B": _LAION_400M * 84,
    "68B": 2 * _LAION_400M * 84,
}

#: Architectures of the paper's extrapolations (ViT-G-14 has no run; it is in arch_info).
PREDICTION_ARCHS: tuple[str, ...] = (
    "ViT-B-32",
    "ViT-B-16",
    "ViT-L-14",
    "ViT-H-14",
    "ViT-g-14",
    "ViT-G-14",
)

#: Published ImageNet zero-shot top-1 extrapolations (percent) per ``(task, arch, budget)``.
PUBLISHED_PREDICTIONS: dict[tuple[str, str, str], float] = {
    ("imagenet1k", "ViT-B-32", "68B"): 70.89,
    ("imagenet1k", "ViT-B-16", "68B"): 74.03,
    ("imagenet1k", "ViT-L-14", "68B"): 77.90,
    ("imagenet1k", "ViT-H-14", "68B"): 79.73,
    ("imagenet1k", "ViT-g-14", "34B"): 79.11,
    ("imagenet1k", "ViT-G-14", "34B"): 80.47,
    ("imagenet1k", "ViT-G-14", "68B"): 81.92,
}

#: Published mean absolute error (percentage points) of the predictions against the best run.
PUBLISHED_MAE: dict[str, float] = {"imagenet1k": 0.8744, "mscoco_captions": 0.5884}

FIT_TASK_TYPES = ("zeroshot_classification", "zeroshot_retrieval")
FAMILIES = ("openclip", "openai")


# --------------------------------------------------------------------------- helpers
def runs_table(df: pd.DataFrame | None) -> pd.DataFrame:
    """``df``, checked to be a table of runs; ``None`` loads the bundled OpenCLIP runs."""
    if df is None:
        return datasets.load_openclip()
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"df must be a pandas DataFrame of runs, got {type(df).__name__}")
    missing = {"compute", "metric", "task", "family"} - set(df.columns)
    if missing:
        raise DataError(
            f"df lacks column(s) {sorted(missing)}; pass the table of "
            "clipscale.datasets.load_openclip() (or one with the same columns)"
        )
    return df


def select_runs(df: pd.DataFrame, task: str, family: str) -> pd.DataFrame:
    """The runs of one task and family with a compute and a metric."""
    rows = df[(df["task"] == task) & (df["family"] == family)]
    return rows.dropna(subset=["compute", "metric"])


def all_tasks(df: pd.DataFrame) -> list[str]:
    """The four paper tasks first, then every other classification or retrieval task."""
    if "task_type" in df.columns:
        present = df.loc[df["task_type"].isin(FIT_TASK_TYPES), "task"].unique()
    else:
        present = df["task"].unique()
    rest = sorted(t for t in present if t not in PAPER_TASKS)
    return [t for t in PAPER_TASKS if t in set(present)] + rest


def family_fit(df: pd.DataFrame | None, task: str, family: str) -> tuple[FitResult, pd.DataFrame]:
    """The paper's fit of one task and family, with the points it was fitted on.

    Parameters
    ----------
    df : pandas.DataFrame or None
        Runs as returned by :func:`clipscale.datasets.load_openclip`; ``None`` loads them.
    task : str
        Downstream task, e.g. ``"imagenet1k"``.
    family : {"openclip", "openai"}
        ``"openclip"`` pools its runs through ``frontier(method="bins")``; ``"openai"`` uses
        its runs directly.

    Returns
    -------
    result : FitResult
        Ordinary least squares of ``log E`` on ``log C`` (form ``"power"``, loss ``"log_ls"``).
    points : pandas.DataFrame
        The fitted points (``compute``, ``metric`` columns and the runs' other columns).

    Raises
    ------
    DataError
        If the task and family have fewer than two runs.
    """
    runs = select_runs(runs_table(df), task, family)
    if len(runs) < 2:
        raise DataError(
            f"task {task!r} has {len(runs)} run(s) of family {family!r}; a fit needs two or more"
        )
    points = frontier(runs, "compute", "metric", method="bins") if family == "openclip" else runs
    return fit_power_law(points["compute"], points["metric"], warn=False), points


# --------------------------------------------------------------------------- fits
def law_bootstrap(result: FitResult, n_resamples: int = 1000, *, rng: Any = 0) -> BootstrapResult:
    """Bootstrap one of the paper's laws: residual resampling, studentized 95% intervals.

    The fitted points are fixed bin centres (OpenCLIP) or the 3 OpenAI runs, so the design is
    fixed and tiny: resampling pairs would often leave fewer distinct points than parameters.
    Resampling the log-space residuals keeps every x and is the usual choice for such a
    regression; the studentized interval is the one the coverage study found calibrated for it.
    """
    return result.bootstrap(n_resamples, method="residual", rng=rng, progress=False)
