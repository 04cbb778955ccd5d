"""Tests of the bundled OpenCLIP tables and of the script that builds them."""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from clipscale.datasets import (
    CITATION,
    load_openclip,
    load_openclip_arch_info,
    load_openclip_learning_curves,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared" / "data" / "openclip"
SCRIPT = REPO_ROOT / "scripts" / "build_datasets.py"
PACKAGED = resources.files("clipscale.datasets")

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
ARCH_COLUMNS = [
    "model",
    "image_size",
    "image_width",
    "text_width",
    "embed_dim",
    "gmacs",
    "macts",
    "mparams",
    "image_gmacs",
    "image_macts",
    "image_mparams",
    "text_gmacs",
    "text_macts",
    "text_mparams",
]
CANONICAL = ["compute", "samples", "params", "metric"]


# ---------------------------------------------------------------- zero-shot table


def test_zeroshot_columns_and_rows() -> None:
    df = load_openclip()
    assert list(df.columns) == ZEROSHOT_COLUMNS
    assert len(df) == 1312
    for column in CANONICAL:
        assert df[column].dtype == np.float64
        assert np.isfinite(df[column]).all()
    assert df["task"].nunique() == 41
    assert (df.groupby("task").size() == 32).all()
    assert not df.duplicated(["name", "arch", "task"]).any()


def test_zeroshot_models() -> None:
    df = load_openclip()
    openclip = df[df["family"] == "openclip"]
    openai = df[df["family"] == "openai"]
    assert openclip["name"].nunique() == 29
    assert set(openclip["upstream_dataset"]) == {"LAION-80M", "LAION-400M", "LAION-2B"}
    assert sorted(openai["arch"].unique()) == ["ViT-B-16", "ViT-B-32", "ViT-L-14"]
    assert set(openai["upstream_dataset"]) == {"CLIP-WIT"}
    assert (openai["samples"] == 12.8e9).all()
    assert set(df["family"]) == {"openclip", "openai"}


def test_zeroshot_compute_is_samples_times_gmacs() -> None:
    df = load_openclip()
    np.testing.assert_allclose(df["compute"], df["samples"] * df["gmacs"], rtol=1e-14)


def test_zeroshot_params_from_arch_info() -> None:
    df = load_openclip()
    arch = load_openclip_arch_info().set_index("model")
    expected = arch.loc[df["arch"], "mparams"].to_numpy() * 1e6
    np.testing.assert_allclose(df["params"], expected, rtol=1e-12)
    assert (df["params"] == np.round(df["params"])).all()


def test_zeroshot_metric_is_the_papers_error() -> None:
    df = load_openclip()
    retrieval = df["task"].isin(["mscoco_captions", "flickr30k"])
    voc = df["task"] == "voc2007_multilabel"
    classification = ~(retrieval | voc)
    assert (df.loc[retrieval, "task_type"] == "zeroshot_retrieval").all()
    assert (df.loc[~retrieval, "task_type"] == "zeroshot_classification").all()
    np.testing.assert_array_equal(
        df.loc[classification, "metric"], 1 - df.loc[classification, "acc1"]
    )
    np.testing.assert_array_equal(
        df.loc[retrieval, "metric"], 1 - df.loc[retrieval, "image_retrieval_recall@5"]
    )
    np.testing.assert_array_equal(df.loc[voc, "metric"], 1 - df.loc[voc, "mean_average_precision"])
    assert df["metric"].between(0, 1).all()


def test_zeroshot_attrs() -> None:
    df = load_openclip()
    assert df.attrs["compute_unit"] == "GMACs"
    assert df.attrs["citation"] == CITATION
    assert df.attrs["units"] == {
        "compute": "GMACs",
        "samples": "samples seen",
        "params": "parameters",
        "metric": "error = 1 - accuracy or recall",
    }
    assert "Cherti" in CITATION and "2212.07143" in CITATION


# ---------------------------------------------------------------- learning curves


def test_learning_curves() -> None:
    df = load_openclip_learning_curves()
    assert list(df.columns) == CURVES_COLUMNS
    assert len(df) == 3359
    assert df["name"].nunique() == 29
    assert set(df["name"]) == set(load_openclip().query("family == 'openclip'")["name"])
    assert not df.duplicated(["name", "epoch"]).any()
    assert df.equals(df.sort_values(["name", "epoch"], kind="mergesort"))
    for column in CANONICAL:
        assert df[column].dtype == np.float64
        assert np.isfinite(df[column]).all()
    np.testing.assert_array_equal(df["metric"], 1 - df["top1"])
    assert df.attrs["compute_unit"] == "GMACs"


def test_learning_curves_compute_is_samples_times_gmacs() -> None:
    df = load_openclip_learning_curves()
    gmacs = load_openclip_arch_info().set_index("model").loc[df["arch"], "gmacs"].to_numpy()
    np.testing.assert_allclose(df["compute"], df["samples"] * gmacs, rtol=1e-14)


def test_learning_curves_end_at_the_final_run() -> None:
    # the last epoch of each run is within the README's +-0.0012 of zeroshot_results acc1
    curves = load_openclip_learning_curves()
    last = curves.sort_values("epoch").groupby("name").tail(1).set_index("name")
    zs = load_openclip().query("task == 'imagenet1k' and family == 'openclip'").set_index("name")
    diff = (last["top1"] - zs.loc[last.index, "acc1"]).abs()
    assert (diff <= 0.0013).all()


# ---------------------------------------------------------------- arch info


def test_arch_info() -> None:
    df = load_openclip_arch_info()
    assert list(df.columns) == ARCH_COLUMNS
    assert len(df) == 28
    assert {"ViT-B-32", "ViT-B-16", "ViT-L-14", "ViT-H-14", "ViT-g-14"} <= set(df["model"])
    assert df.attrs["citation"] == CITATION


# ---------------------------------------------------------------- copies


@pytest.mark.parametrize(
    "loader", [load_openclip, load_openclip_learning_curves, load_openclip_arch_info]
)
def test_each_call_returns_a_fresh_copy(loader) -> None:
    first = loader()
    reference = loader()
    number = first.select_dtypes("number").columns[0]
    first.loc[:, number] = -1
    first.iloc[0, 0] = first.iloc[1, 0]
    del first[first.columns[-1]]
    first.attrs["citation"] = "changed"
    second = loader()
    pd.testing.assert_frame_equal(second, reference)
    assert second.attrs == reference.attrs
    assert second is not reference


def test_citation_file_is_packaged() -> None:
    text = PACKAGED.joinpath("CITATION.md").read_text(encoding="utf-8")
    assert "652b1e7471f7ccf372277f67cb680de5c9fa139d" in text
    assert "@InProceedings{Cherti_2023_CVPR" in text
    assert "no explicit license" in text


# ---------------------------------------------------------------- build script


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_datasets", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def build() -> ModuleType:
    if not SHARED.is_dir():
        pytest.skip(f"raw OpenCLIP data not found at {SHARED} (../shared/data/openclip)")
    return _build_module()


def test_packaged_files_equal_script_output(build: ModuleType) -> None:
    outputs = build.render(SHARED)
    assert set(outputs) == {
        "openclip_zeroshot.csv",
        "openclip_learning_curves.csv",
        "openclip_arch_info.csv",
        "CITATION.md",
    }
    for name, content in outputs.items():
        assert PACKAGED.joinpath(name).read_bytes() == content, f"rerun {SCRIPT.name}: {name}"


def test_script_is_idempotent(build: ModuleType, tmp_path: Path, capsys) -> None:
    for _ in range(2):
        assert build.main(["--source", str(SHARED), "--dest", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "openclip_zeroshot.csv (1312 rows)" in printed
    assert "openclip_learning_curves.csv (3359 rows)" in printed
    assert "openclip_arch_info.csv (28 rows)" in printed
    for path in tmp_path.iterdir():
        assert path.read_bytes() == PACKAGED.joinpath(path.name).read_bytes()


def test_csv_floats_round_trip(build: ModuleType) -> None:
    built = {
        "openclip_zeroshot.csv": build.build_zeroshot(SHARED),
        "openclip_learning_curves.csv": build.build_learning_curves(SHARED),
    }
    loaded = {
        "openclip_zeroshot.csv": load_openclip(),
        "openclip_learning_curves.csv": load_openclip_learning_curves(),
    }
    for name, frame in built.items():
        for column in frame.select_dtypes("number").columns:
            np.testing.assert_array_equal(
                loaded[name][column].to_numpy(), frame[column].to_numpy(), err_msg=column
            )


def test_raw_values_survive(build: ModuleType) -> None:
    raw = pd.read_csv(SHARED / "zeroshot_results.csv")
    df = load_openclip()
    key = ["name", "arch", "downstream_dataset"]
    merged = raw.merge(df, left_on=key, right_on=["name", "arch", "task"], validate="one_to_one")
    assert len(merged) == len(raw)
    np.testing.assert_array_equal(merged["compute"], merged["gmacs_total"])
    np.testing.assert_array_equal(merged["samples"], merged["samples_seen"])
    np.testing.assert_array_equal(merged["acc1_x"], merged["acc1_y"])
