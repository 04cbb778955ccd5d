"""Reproduction of Cherti et al. (CVPR 2023) from the bundled data: fits, extrapolations, MAEs."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from clipscale import DataError
from clipscale.datasets import load_openclip
from clipscale.reproduce import (
    PAPER_TASKS,
    PUBLISHED_FITS,
    PUBLISHED_MAE,
    PUBLISHED_PREDICTIONS,
    SAMPLES_SEEN,
    beyond_paper,
    family_fit,
    format_fits,
    paper_fits,
    prediction_mae,
    predictions,
    run,
)

FITS_COLUMNS = [
    "task",
    "task_type",
    "family",
    "n_runs",
    "n_points",
    "beta",
    "alpha",
    "alpha_stderr",
    "published_beta",
    "published_alpha",
    "in_paper",
    "alpha_low",
    "alpha_high",
    "beta_low",
    "beta_high",
    "n_failed",
]
PREDICTION_COLUMNS = [
    "task",
    "arch",
    "samples_label",
    "samples_seen",
    "gmacs_per_sample",
    "compute",
    "predicted",
    "observed",
    "observed_upstream",
    "n_observed",
    "abs_error",
    "published",
]
MAE_COLUMNS = ["task", "mae", "n_pairs", "published_mae"]
BEYOND_COLUMNS = [
    "task",
    "source",
    "n_points",
    "n_bins",
    "n_frontier",
    "pure_beta",
    "pure_alpha",
    "sat_E",
    "sat_A",
    "sat_alpha",
    "sat_floor_at_zero",
    "cutoff_compute",
    "n_train",
    "n_test",
    "rmsle_pure",
    "rmsle_saturating",
    "better",
]


@pytest.fixture(scope="module")
def fits() -> pd.DataFrame:
    return paper_fits()


@pytest.fixture(scope="module")
def pred() -> pd.DataFrame:
    return predictions()


@pytest.fixture(scope="module")
def beyond() -> pd.DataFrame:
    return beyond_paper()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    out = tmp_path_factory.mktemp("reproduce") / "nested" / "out"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        result = run(out)
    return out, result, printed.getvalue()


# ---------------------------------------------------------------- the paper's Table


@pytest.mark.parametrize(("task", "family"), sorted(PUBLISHED_FITS))
def test_paper_fit(fits: pd.DataFrame, task: str, family: str) -> None:
    row = fits[(fits["task"] == task) & (fits["family"] == family)].iloc[0]
    beta, alpha = PUBLISHED_FITS[(task, family)]
    assert row["alpha"] == pytest.approx(alpha, abs=1e-4)
    assert np.log10(row["beta"]) == pytest.approx(np.log10(beta), abs=1e-3)
    assert row["published_beta"] == beta
    assert row["published_alpha"] == alpha
    assert row["in_paper"]
    assert row["n_runs"] == (29 if family == "openclip" else 3)
    assert row["n_points"] == (5 if family == "openclip" else 3)


def test_paper_fits_cover_every_task(fits: pd.DataFrame) -> None:
    # without n_resamples there are no interval columns
    assert list(fits.columns) == FITS_COLUMNS[: FITS_COLUMNS.index("alpha_low")]
    df = load_openclip()
    tasks = set(df["task"])
    assert set(fits["task"]) == tasks
    assert len(fits) == 2 * len(tasks)
    assert list(fits["task"].iloc[: 2 * len(PAPER_TASKS) : 2]) == list(PAPER_TASKS)
    assert fits["in_paper"].sum() == 8
    assert fits.loc[~fits["in_paper"], "published_beta"].isna().all()
    assert np.isfinite(fits[["beta", "alpha", "alpha_stderr"]].to_numpy(float)).all()
    assert set(fits["task_type"]) == {"zeroshot_classification", "zeroshot_retrieval"}


def test_paper_fits_subset_and_errors() -> None:
    one = paper_fits(tasks=["imagenet1k"])
    assert one["family"].tolist() == ["openclip", "openai"]
    with pytest.raises(DataError, match="lacks column"):
        paper_fits(pd.DataFrame({"compute": [1.0]}))
    with pytest.raises(DataError, match="nothing to fit"):
        paper_fits(tasks=["no-such-task"])
    with pytest.raises(DataError, match="0 run"):
        family_fit(None, "no-such-task", "openclip")


def test_format_fits_shows_published_values(fits: pd.DataFrame) -> None:
    text = format_fits(fits)
    assert "5.8581" in text and "-0.11139" in text and "211.6600" in text
    assert len(text.splitlines()) == 2 + 8


# ---------------------------------------------------------------- extrapolations


def test_samples_seen_recipe() -> None:
    assert SAMPLES_SEEN == {
        "3B": 2_560_013_280,
        "13B": 13_034_626_688,
        "34B": 34_215_895_056,
        "68B": 68_431_790_112,
    }


@pytest.mark.parametrize(("task", "arch", "label"), sorted(PUBLISHED_PREDICTIONS))
def test_published_extrapolation(pred: pd.DataFrame, task: str, arch: str, label: str) -> None:
    row = pred[(pred["task"] == task) & (pred["arch"] == arch) & (pred["samples_label"] == label)]
    assert len(row) == 1
    row = row.iloc[0]
    assert row["predicted"] == pytest.approx(PUBLISHED_PREDICTIONS[(task, arch, label)], abs=0.02)
    assert row["published"] == PUBLISHED_PREDICTIONS[(task, arch, label)]
    assert row["compute"] == pytest.approx(row["samples_seen"] * row["gmacs_per_sample"])


def test_predictions_table(pred: pd.DataFrame) -> None:
    assert list(pred.columns) == PREDICTION_COLUMNS
    assert len(pred) == 2 * 6 * 4
    assert set(pred["task"]) == {"imagenet1k", "mscoco_captions"}
    observed = pred.dropna(subset=["observed"])
    assert len(observed) == 22  # 11 (arch, budget) pairs with a run, per task
    assert (observed["n_observed"] >= 1).all()
    assert pred.loc[pred["observed"].isna(), "n_observed"].eq(0).all()
    assert (pred.loc[pred["samples_label"] == "68B", "observed"]).isna().all()
    assert pred["published"].notna().sum() == 7
    # observed is the best run over upstream datasets: ViT-B-32 at 13B is the LAION-400M run
    row = observed[
        (observed["task"] == "imagenet1k")
        & (observed["arch"] == "ViT-B-32")
        & (observed["samples_label"] == "13B")
    ].iloc[0]
    assert row["observed_upstream"] == "LAION-400M"
    assert row["observed"] == pytest.approx(100 * (1 - 0.36772))
    np.testing.assert_allclose(
        observed["abs_error"], (observed["predicted"] - observed["observed"]).abs()
    )
    assert ((pred["predicted"] > 50) & (pred["predicted"] < 90)).all()


@pytest.mark.parametrize("task", sorted(PUBLISHED_MAE))
def test_published_mae(pred: pd.DataFrame, task: str) -> None:
    mae = prediction_mae(pred).set_index("task")
    assert list(prediction_mae(pred).columns) == MAE_COLUMNS
    assert mae.loc[task, "mae"] == pytest.approx(PUBLISHED_MAE[task], abs=1e-3)
    assert mae.loc[task, "n_pairs"] == 11
    assert mae.loc[task, "published_mae"] == PUBLISHED_MAE[task]


def test_predictions_unknown_arch() -> None:
    with pytest.raises(DataError, match="ViT-Z-99"):
        predictions(archs=["ViT-Z-99"])


def test_predictions_custom_budget() -> None:
    out = predictions(tasks=["imagenet1k"], archs=["ViT-B-32"], samples={"34B": 34e9})
    assert len(out) == 1
    assert out["compute"].iloc[0] == pytest.approx(34e9 * 7.4)
    assert np.isfinite(out["observed"].iloc[0])


# ---------------------------------------------------------------- beyond the paper


def test_beyond_paper_columns_and_sanity(beyond: pd.DataFrame) -> None:
    assert list(beyond.columns) == BEYOND_COLUMNS
    runs = beyond[beyond["source"] == "runs"]
    curves = beyond[beyond["source"] == "learning_curves"]
    assert set(runs["task"]) == set(load_openclip()["task"])
    assert curves["task"].eq("imagenet1k").all()
    assert curves["n_bins"].tolist() == [5, 10, 20]
    assert (runs["n_points"] == 29).all() and (runs["n_frontier"] == 5).all()
    assert (runs["n_train"] == 4).all()
    assert (beyond["n_test"] >= 1).all()
    assert (beyond["n_train"] == beyond["n_frontier"] - 1).all()
    for column in ("rmsle_pure", "rmsle_saturating", "cutoff_compute", "sat_E", "sat_alpha"):
        values = beyond[column].to_numpy(float)
        assert np.isfinite(values).all(), column
    assert (beyond[["rmsle_pure", "rmsle_saturating"]] >= 0).all().all()
    assert (beyond["sat_E"] >= 0).all()
    assert set(beyond["better"]) <= {"saturating", "pure", "tie"}


def test_beyond_paper_pure_fit_is_the_paper_fit(beyond: pd.DataFrame, fits: pd.DataFrame) -> None:
    for task in PAPER_TASKS:
        mine = beyond[(beyond["task"] == task) & (beyond["source"] == "runs")].iloc[0]
        paper = fits[(fits["task"] == task) & (fits["family"] == "openclip")].iloc[0]
        assert mine["pure_alpha"] == pytest.approx(paper["alpha"], rel=1e-9)
        assert mine["pure_beta"] == pytest.approx(paper["beta"], rel=1e-9)


def test_beyond_paper_floor_at_zero_means_a_tie(beyond: pd.DataFrame) -> None:
    # on ImageNet the 5-point frontier does not identify a floor: the saturating fit puts it at
    # 0 and reduces to the pure law, so both predict the held-out runs equally well
    row = beyond[(beyond["task"] == "imagenet1k") & (beyond["source"] == "runs")].iloc[0]
    assert row["sat_floor_at_zero"]
    assert row["sat_alpha"] == pytest.approx(-row["pure_alpha"], rel=1e-6)
    assert row["better"] == "tie"
    # the learning curves (all epochs) bend: the saturating law finds a floor there
    curves = beyond[beyond["source"] == "learning_curves"]
    assert (curves["sat_E"] > 0.05).all()


def test_beyond_paper_options() -> None:
    out = beyond_paper(tasks=["imagenet1k"], curve_bins=())
    assert out["source"].tolist() == ["runs"]


# ---------------------------------------------------------------- run()


def test_run_writes_files(report: tuple[Path, dict, str]) -> None:
    out, result, _ = report
    names = sorted(p.name for p in out.iterdir())
    expected = {"fits.csv", "predictions.csv", "prediction_mae.csv", "beyond_paper.csv"}
    expected |= {f"fig_{t}.png" for t in PAPER_TASKS} | {"fig_predictions.png"}
    assert set(names) == expected
    assert sorted(p.name for p in result["files"]) == sorted(expected)
    for p in result["files"]:
        assert p.stat().st_size > 0
    for name in expected:
        if name.endswith(".png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list(pd.read_csv(out / "fits.csv").columns) == FITS_COLUMNS
    assert list(pd.read_csv(out / "predictions.csv").columns) == PREDICTION_COLUMNS
    assert list(pd.read_csv(out / "prediction_mae.csv").columns) == MAE_COLUMNS
    assert list(pd.read_csv(out / "beyond_paper.csv").columns) == BEYOND_COLUMNS
    written = pd.read_csv(out / "fits.csv")
    pd.testing.assert_frame_equal(written, result["fits"], check_dtype=False)
    assert set(result) == {"fits", "predictions", "mae", "beyond_paper", "files", "seconds"}
    assert result["seconds"] < 60


def test_run_prints_the_table(report: tuple[Path, dict, str]) -> None:
    text = report[2]
    assert "5.8581" in text and "-0.11139" in text
    assert "imagenet1k: 0.8744 pp" in text and "mscoco_captions: 0.5884 pp" in text
    assert "95% CI of alpha" in text


def test_run_fits_carry_bootstrap_intervals(report: tuple[Path, dict, str]) -> None:
    fits = report[1]["fits"]
    assert (fits["n_failed"] == 0).all()
    for name in ("alpha", "beta"):
        low, high = fits[f"{name}_low"], fits[f"{name}_high"]
        assert np.isfinite(low).all() and np.isfinite(high).all()
        assert (low < fits[name]).all() and (fits[name] < high).all()
    # the published alpha lies inside each reproduced law's interval
    paper = fits[fits["in_paper"]]
    assert (
        (paper["alpha_low"] < paper["published_alpha"])
        & (paper["published_alpha"] < paper["alpha_high"])
    ).all()


def test_run_quiet_prints_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import clipscale.reproduce as reproduce

    # only the printing is under test: skip the slow steps
    monkeypatch.setattr(reproduce, "figures", lambda out, df=None, n_resamples=0: [])
    monkeypatch.setattr(reproduce, "beyond_paper", lambda df=None: pd.DataFrame({"task": []}))
    result = run(tmp_path, quiet=True)
    assert capsys.readouterr().out == ""
    assert (tmp_path / "fits.csv").exists()
    assert len(result["files"]) == 4


def test_run_bad_out_dir(tmp_path: Path) -> None:
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory")
    with pytest.raises(DataError, match="cannot create the output directory"):
        run(blocker / "sub", quiet=True)
