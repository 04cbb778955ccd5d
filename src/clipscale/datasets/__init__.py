"""Public run tables bundled with clipscale, with their citation.

The OpenCLIP tables come from Cherti et al., "Reproducible scaling laws for contrastive
language-image learning", CVPR 2023 (arXiv:2212.07143), data of the GitHub repository
LAION-AI/scaling-laws-openclip. They are built by ``scripts/build_datasets.py``; see
``CITATION.md`` in this folder for the source commit, the BibTeX entry, the license note
(no explicit license: public data, cite the paper) and every derived column.

Every loader reads the packaged CSV and returns a fresh DataFrame, so callers may modify it.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import pandas as pd

__all__ = [
    "CITATION",
    "load_openclip",
    "load_openclip_learning_curves",
    "load_openclip_arch_info",
]

CITATION = (
    'Cherti et al., "Reproducible scaling laws for contrastive language-image learning", '
    "CVPR 2023, pp. 2818-2829 (arXiv:2212.07143); "
    "data: https://github.com/LAION-AI/scaling-laws-openclip"
)

_UNITS = {
    "compute": "GMACs",
    "samples": "samples seen",
    "params": "parameters",
    "metric": "error = 1 - accuracy or recall",
}


@cache
def _read(name: str) -> pd.DataFrame:
    with resources.files(__name__).joinpath(name).open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle)


def _fresh(name: str, *, units: bool = True) -> pd.DataFrame:
    df = _read(name).copy(deep=True)
    df.attrs = {"citation": CITATION, "source": f"clipscale.datasets/{name}"}
    if units:
        df.attrs["compute_unit"] = "GMACs"
        df.attrs["units"] = dict(_UNITS)
    return df


def load_openclip() -> pd.DataFrame:
    """Zero-shot results of the 29 OpenCLIP and 3 OpenAI CLIP models on 41 downstream tasks.

    One row per (model, downstream task): 32 models x 41 tasks = 1312 rows, sorted by
    ``task``, ``family``, ``compute``, ``name``.

    Returns
    -------
    pandas.DataFrame
        A new DataFrame on every call, with columns:

        ``compute``
            Total training compute in GMACs (giga multiply-accumulates, the paper's unit;
            1 MAC is about 2 FLOPs) = ``samples * gmacs``.
        ``samples``
            Training samples seen.
        ``params``
            Model parameters (``arch_info.mparams * 1e6``).
        ``metric``
            The error the paper fits: ``1 - acc1`` for classification,
            ``1 - image_retrieval_recall@5`` for ``mscoco_captions`` and ``flickr30k``,
            ``1 - mean_average_precision`` for ``voc2007_multilabel``.
        ``arch``
            open_clip architecture name (``ViT-B-32``, ``ViT-B-16``, ``ViT-L-14``,
            ``ViT-H-14``, ``ViT-g-14``).
        ``upstream_dataset``
            ``LAION-80M``, ``LAION-400M``, ``LAION-2B`` or ``CLIP-WIT``.
        ``family``
            ``openclip`` (LAION runs) or ``openai`` (CLIP-WIT).
        ``task``
            Downstream dataset (``imagenet1k``, ``imagenet_robustness``, ``mscoco_captions``,
            ``flickr30k``, ``vtab``, ...).
        ``task_type``
            ``zeroshot_classification`` or ``zeroshot_retrieval``.
        ``samples_seen_pretty``
            ``3B``, ``13B`` or ``34B``.
        ``gmacs``
            Forward GMACs per sample (image and text towers).
        ``acc1``, ``acc5``, ``mean_per_class_recall``
            Classification scores, fractions (NaN for retrieval and VOC multilabel rows).
        ``image_retrieval_recall@5``, ``text_retrieval_recall@5``
            Retrieval scores, fractions (retrieval rows only).
        ``mean_average_precision``
            ``voc2007_multilabel`` rows only.
        ``name``
            Checkpoint file name; ``openai`` for the OpenAI models.

        ``df.attrs`` holds ``"citation"``, ``"compute_unit"`` (``"GMACs"``) and ``"units"``.

    Examples
    --------
    >>> from clipscale.datasets import load_openclip
    >>> df = load_openclip()
    >>> runs = df[(df.family == "openclip") & (df.task == "imagenet1k")]
    >>> len(runs)
    29
    """
    return _fresh("openclip_zeroshot.csv")


def load_openclip_learning_curves() -> pd.DataFrame:
    """Zero-shot ImageNet accuracy at the end of each epoch of the 29 OpenCLIP runs.

    3359 rows sorted by ``name``, ``epoch``; some epochs are missing in the source.

    Returns
    -------
    pandas.DataFrame
        A new DataFrame on every call, with columns:

        ``compute``
            Training compute so far in GMACs = ``samples * gmacs`` of the architecture.
        ``samples``
            Samples seen so far = ``epoch * samples_per_epoch``.
        ``params``
            Model parameters.
        ``metric``
            ``1 - top1``.
        ``arch``, ``upstream_dataset``, ``name``
            As in :func:`load_openclip`.
        ``epoch``
            1-based epoch.
        ``top1``, ``top5``
            Zero-shot ImageNet top-1 / top-5 accuracy (``top5`` is NaN in some rows).
        ``samples_seen_pretty``
            The run's final budget label (``3B``, ``13B``, ``34B``).

        ``df.attrs`` holds ``"citation"``, ``"compute_unit"`` and ``"units"``.
    """
    return _fresh("openclip_learning_curves.csv")


def load_openclip_arch_info() -> pd.DataFrame:
    """Per-architecture cost of 28 open_clip models (``arch_info.csv`` unchanged).

    Returns
    -------
    pandas.DataFrame
        A new DataFrame on every call, with columns ``model``, ``image_size``,
        ``image_width``, ``text_width``, ``embed_dim``, ``gmacs`` (forward GMACs per sample),
        ``macts`` (millions of activations), ``mparams`` (millions of parameters), and the
        same three split by tower: ``image_gmacs``, ``image_macts``, ``image_mparams``,
        ``text_gmacs``, ``text_macts``, ``text_mparams``.

        ``df.attrs["citation"]`` holds the citation.
    """
    return _fresh("openclip_arch_info.csv", units=False)
