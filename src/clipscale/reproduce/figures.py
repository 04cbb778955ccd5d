"""The figures of :mod:`clipscale.reproduce`: the paper's Figure 1 panels and the extrapolations.

matplotlib is imported only when a figure is drawn (Agg canvas, no pyplot state).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .fits import prediction_mae, predictions
from .paper import PAPER_TASKS, family_fit, law_bootstrap, runs_table, select_runs

__all__ = ["figures"]

_PRETTY = {
    "imagenet1k": "ImageNet",
    "imagenet_robustness": "ImageNet robustness",
    "mscoco_captions": "MS-COCO (image retrieval)",
    "flickr30k": "Flickr30K (image retrieval)",
}


def figures(
    out_dir: str | Path, df: pd.DataFrame | None = None, *, dpi: int = 120, n_resamples: int = 0
) -> list[Path]:
    """Write the paper's Figure 1 panels and an extrapolation figure as PNG (Agg backend).

    One ``fig_<task>.png`` per paper task: error against compute on log-log axes, every run
    coloured by upstream dataset, the OpenCLIP frontier points, and both families' fitted laws
    with their equations in the legend. ``fig_predictions.png``: the ImageNet and MS-COCO laws
    extrapolated to ViT-G/14 at 68B samples, with the predicted points.

    Parameters
    ----------
    out_dir : str or Path
        Existing directory to write into.
    df : pandas.DataFrame, optional
        Runs (default :func:`clipscale.datasets.load_openclip`).
    dpi : int, default 120
        Resolution of the PNGs.
    n_resamples : int, default 0
        With a positive number, each law is drawn with its 95% bootstrap band for the mean.

    Returns
    -------
    list of Path
        The files written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ..plotting import plot_fit, plot_frontier

    runs = runs_table(df)
    out = Path(out_dir)
    written = []
    for task in PAPER_TASKS:
        fig = Figure(figsize=(7.5, 5.5), layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.subplots()
        laion = select_runs(runs, task, "openclip")
        plot_frontier(laion, color_by="upstream_dataset", ax=ax)
        law, _ = family_fit(runs, task, "openclip")
        law = law_bootstrap(law, n_resamples) if n_resamples > 0 else law
        plot_fit(law, ax=ax, label="OpenCLIP", color="tab:red", show_data=False)
        law, _ = family_fit(runs, task, "openai")
        law = law_bootstrap(law, n_resamples) if n_resamples > 0 else law
        plot_fit(law, ax=ax, label="OpenAI CLIP", color="black", data_label="CLIP-WIT", marker="*")
        metric = "image retrieval Recall@5" if "retrieval" in _task_type(laion) else "top-1 acc."
        ax.set_xlabel("compute C (GMACs)")
        ax.set_ylabel(f"error E = 1 \N{MINUS SIGN} {metric}")
        ax.set_title(rf"{_PRETTY.get(task, task)}: $E = \beta\,C^{{\alpha}}$ (Cherti et al. 2023)")
        path = out / f"fig_{task}.png"
        fig.savefig(path, dpi=dpi)
        written.append(path)
    written.append(_prediction_figure(runs, out / "fig_predictions.png", dpi))
    return written


def _task_type(rows: pd.DataFrame) -> str:
    return str(rows["task_type"].iloc[0]) if "task_type" in rows and len(rows) else ""


def _prediction_figure(runs: pd.DataFrame, path: Path, dpi: int) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ..plotting import plot_predictions

    pred = predictions(runs)
    mae = prediction_mae(pred).set_index("task")
    fig = Figure(figsize=(13, 5.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    for ax, task in zip(axes, ("imagenet1k", "mscoco_captions"), strict=True):
        law, _ = family_fit(runs, task, "openclip")
        rows = pred[pred["task"] == task]
        plot_predictions(law, rows, ax=ax, label="OpenCLIP")
        ax.set_xlabel("compute C (GMACs) = samples seen x GMACs per sample")
        ax.set_ylabel("error E")
        m = mae.loc[task]
        ax.set_title(
            f"{_PRETTY[task]}: predictions at 3B/13B/34B/68B samples\n"
            f"X = law, o = best run; MAE {m['mae']:.4f} pp over {int(m['n_pairs'])} runs"
        )
    fig.savefig(path, dpi=dpi)
    return path
