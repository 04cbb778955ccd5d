"""The ``clipscale`` command: subcommands, exit codes and error messages."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import clipscale
from clipscale import DataError
from clipscale.cli import build_parser, main

SRC = Path(clipscale.__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH", "")]))
    env["MPLBACKEND"] = "Agg"
    return env


def test_reproduce_writes_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["reproduce", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "5.8581" in captured.out and "0.8744" in captured.out
    for name in ("fits.csv", "predictions.csv", "prediction_mae.csv", "beyond_paper.csv"):
        assert (out / name).stat().st_size > 0
    assert len(list(out.glob("fig_*.png"))) == 5
    fits = pd.read_csv(out / "fits.csv")
    assert fits["in_paper"].sum() == 8


def test_reproduce_quiet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = {}

    def fake_run(out_dir: str, *, quiet: bool = False, n_resamples: int = 1000) -> dict:
        seen.update(out=out_dir, quiet=quiet)
        return {}

    monkeypatch.setattr("clipscale.reproduce.run", fake_run)
    assert main(["reproduce", "-q", "--out", str(tmp_path)]) == 0
    assert seen == {"out": str(tmp_path), "quiet": True}
    assert main(["reproduce"]) == 0
    assert seen == {"out": "clipscale-reproduce", "quiet": False}
    assert capsys.readouterr().out == ""


def test_bad_out_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    code = main(["reproduce", "--out", str(blocker / "sub")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n")
    assert err.startswith("clipscale: error: cannot create the output directory")
    assert "Traceback" not in err


def test_clipscale_error_exit_code(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(out_dir: str, *, quiet: bool = False) -> dict:
        raise DataError("something is wrong\nwith two lines")

    monkeypatch.setattr("clipscale.reproduce.run", boom)
    assert main(["reproduce"]) == 2
    assert capsys.readouterr().err == "clipscale: error: something is wrong with two lines\n"


def test_os_error_exit_code(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(out_dir: str, *, quiet: bool = False) -> dict:
        raise PermissionError(13, "Permission denied", "/x")

    monkeypatch.setattr("clipscale.reproduce.run", boom)
    assert main(["reproduce"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Permission denied" in err


def test_help_and_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "reproduce" in out and "usage: clipscale" in out
    assert main(["reproduce", "--help"]) == 0
    assert "--out DIR" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert clipscale.__version__ in capsys.readouterr().out
    assert main(["no-such-command"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main([]) == 2
    assert "usage: clipscale" in capsys.readouterr().err


def test_parser_lists_subcommands() -> None:
    parser = build_parser()
    args = parser.parse_args(["reproduce", "--out", "x"])
    assert args.command == "reproduce" and args.out == "x" and callable(args.func)


def test_python_m_clipscale_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "clipscale", "--help"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "usage: clipscale" in done.stdout and "reproduce" in done.stdout


def test_python_m_clipscale_error_has_no_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    done = subprocess.run(
        [sys.executable, "-m", "clipscale", "reproduce", "--out", str(blocker / "sub")],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "Traceback" not in done.stderr


# --------------------------------------------------------------------------- clipscale fit
def _runs_csv(path: Path, n: int = 12, groups: tuple[str, ...] = ()) -> Path:
    compute = np.geomspace(1e9, 1e13, n)
    metric = (0.15 + 40.0 * compute**-0.2) * np.exp(0.02 * np.sin(np.arange(n)))
    table = pd.DataFrame({"gmacs": compute, "err": metric, "note": ["run"] * n})
    if groups:
        parts = []
        for i, g in enumerate(groups):
            part = table.copy()
            part["err"] = part["err"] * (1 + 0.1 * i)
            part["data"] = g
            parts.append(part)
        table = pd.concat(parts, ignore_index=True)
    table.to_csv(path, index=False)
    return path


def _png(path: Path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_fit_writes_json_and_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = _runs_csv(tmp_path / "runs.csv")
    out = tmp_path / "out"
    code = main(
        ["fit", str(runs), "--x", "gmacs", "--y", "err", "--form", "saturating", "--out", str(out)]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.err == ""
    assert "clipscale fit: saturating" in captured.out and "alpha" in captured.out
    result = clipscale.FitResult.from_json((out / "fit.json").read_text())
    table = pd.read_csv(runs)
    expected = clipscale.fit("saturating", table["gmacs"], table["err"], warn=False)
    assert result.params == pytest.approx(dict(expected.params))
    assert result.summary() in captured.out
    assert _png(out / "fit.png")
    assert sorted(p.name for p in out.iterdir()) == ["fit.json", "fit.png"]


def test_fit_frontier_loss_and_extrapolation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = _runs_csv(tmp_path / "runs.csv", n=30)
    out = tmp_path / "o"
    args = ["fit", str(runs), "--x", "gmacs", "--y", "err", "--frontier", "bins", "--bins", "4"]
    args += ["--loss", "ls", "--extrapolate-to", "1e15", "--out", str(out), "-q"]
    assert main(args) == 0
    assert capsys.readouterr().out == ""
    result = clipscale.FitResult.from_json((out / "fit.json").read_text())
    assert result.n == 4 and result.loss == "ls" and result.form.name == "power"


def test_fit_group_by(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = _runs_csv(tmp_path / "runs.csv", groups=("LAION 2B", "wit"))
    out = tmp_path / "g"
    args = ["fit", str(runs), "--x", "gmacs", "--y", "err", "--group-by", "data"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "== data = LAION 2B" in printed and "== data = wit" in printed
    fits = pd.read_csv(out / "fits.csv")
    assert fits["data"].tolist() == ["LAION 2B", "wit"]
    assert {"beta", "beta_stderr", "alpha", "alpha_stderr", "loss_value", "n"} <= set(fits)
    assert fits["n"].tolist() == [12, 12]
    one = clipscale.FitResult.from_json((out / "fit_LAION_2B.json").read_text())
    assert one.params["alpha"] == pytest.approx(fits["alpha"].iloc[0])
    assert (out / "fit_wit.json").is_file() and _png(out / "fit.png")


def test_fit_group_error_names_the_group(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = _runs_csv(tmp_path / "runs.csv", groups=("a", "b"))
    table = pd.read_csv(runs)
    table = table.drop(index=table.index[(table["data"] == "b")][2:])
    table.to_csv(runs, index=False)
    args = ["fit", str(runs), "--x", "gmacs", "--y", "err", "--form", "shifted"]
    assert main([*args, "--group-by", "data", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "group 'b' of --group-by data" in err and "at least 4" in err


def test_fit_joint_form(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if "chinchilla" not in clipscale.forms.available():
        pytest.skip("the chinchilla form is not registered")
    rng = np.random.default_rng(0)
    n, d = 10 ** rng.uniform(7, 9, 30), 10 ** rng.uniform(9, 11, 30)
    loss = (1.7 + 400 / n**0.34 + 410 / d**0.28) * np.exp(rng.normal(0, 0.005, 30))
    pd.DataFrame({"N": n, "D": d, "loss": loss}).to_csv(tmp_path / "j.csv", index=False)
    out = tmp_path / "j"
    args = ["fit", str(tmp_path / "j.csv"), "--x", "N,D", "--y", "loss", "--form", "chinchilla"]
    assert main([*args, "--out", str(out), "-q"]) == 0, capsys.readouterr().err
    result = clipscale.FitResult.from_json((out / "fit.json").read_text())
    assert result.params["alpha"] == pytest.approx(0.34, abs=0.05)
    assert _png(out / "fit.png")
    assert (
        main(
            ["predict", str(out / "fit.json"), "--x", "params=1e9,1e10", "--x", "samples=1e11,1e12"]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("params,samples,estimate") and len(lines) == 3


def test_fit_bootstrap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    runs = _runs_csv(tmp_path / "runs.csv")
    out = tmp_path / "o"
    args = ["fit", str(runs), "--x", "gmacs", "--y", "err", "--bootstrap", "50", "--seed", "7"]
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    boot = clipscale.BootstrapResult.from_json((out / "bootstrap.json").read_text())
    fit = clipscale.FitResult.from_json((out / "fit.json").read_text())
    again = fit.bootstrap(50, rng=7)  # the same resamples as the command's --seed
    np.testing.assert_array_equal(boot.theta, again.theta)
    assert boot.n_resamples == 50 and "50 resamples" in printed
    assert _png(out / "fit.png")


# --------------------------------------------------------------------------- clipscale predict
@pytest.fixture
def saved_fit(tmp_path: Path) -> Path:
    runs = _runs_csv(tmp_path / "runs.csv")
    assert main(["fit", str(runs), "--x", "gmacs", "--y", "err", "--out", str(tmp_path), "-q"]) == 0
    return tmp_path / "fit.json"


def test_predict(saved_fit: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(saved_fit), "--x", "1e12, 1e13", "--x", "1e14"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(table.columns[:2]) == ["x", "estimate"]  # then intervals, where available
    result = clipscale.FitResult.from_json(saved_fit.read_text())
    np.testing.assert_allclose(table["x"], [1e12, 1e13, 1e14])
    np.testing.assert_allclose(
        table["estimate"], result.form.predict(result.params, table["x"].to_numpy()), rtol=1e-5
    )


def test_predict_with_intervals(
    saved_fit: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = clipscale.FitResult.predict

    def predict(self, x, confidence_level=None):
        mid = plain(self, x)
        if confidence_level is None:
            return mid
        half = 0.1 * confidence_level * mid
        return pd.DataFrame({"estimate": mid, "lower": mid - half, "upper": mid + half})

    monkeypatch.setattr(clipscale.FitResult, "predict", predict)
    assert main(["predict", str(saved_fit), "--x", "1e12", "--confidence-level", "0.5"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert list(table.columns) == ["x", "estimate", "lower", "upper"]
    assert table["upper"].iloc[0] - table["estimate"].iloc[0] == pytest.approx(
        0.05 * table["estimate"].iloc[0], rel=1e-4
    )


# --------------------------------------------------------------------------- hostile input
_HOSTILE = {
    "missing file": (None, [], "file not found"),
    "empty file": ("", [], "is empty"),
    "header only": ("gmacs,err\n", [], "no rows"),
    "binary file": (b"\x89PNG\x00\x00\x01\x02", [], "binary"),
    "missing column": ("gmacs,error\n1,2\n", [], "column 'err' given by --y is not in"),
    "text in numbers": ("gmacs,err\n1e9,0.5\n1e10,abc\n1e11,0.3\n", [], "non-numeric"),
    "NaN": ("gmacs,err\n1e9,0.5\n1e10,\n1e11,0.3\n", [], "--drop-missing"),
    "inf": ("gmacs,err\n1e9,0.5\ninf,0.4\n1e11,0.3\n", [], "infinite values on lines [3]"),
    "negative compute": ("gmacs,err\n1e9,0.5\n-1e10,0.4\n1e11,0.3\n", [], "positive"),
    "zero error, log loss": ("gmacs,err\n1e9,0.5\n1e10,0\n1e11,0.3\n", [], "greater than 0"),
    "too few rows": ("gmacs,err\n1e9,0.5\n1e10,0.4\n", ["--form", "shifted"], "at least 4"),
    "one distinct x": ("gmacs,err\n1e9,0.5\n1e9,0.4\n", [], "distinct"),
    "unknown form": ("gmacs,err\n1,2\n", ["--form", "powerlaw"], "unknown form 'powerlaw'"),
    "unknown loss": ("gmacs,err\n1,2\n", ["--loss", "mse"], "unknown loss 'mse'"),
    "bad frontier": ("gmacs,err\n1,2\n", ["--frontier", "best"], "invalid choice"),
    "missing --x": ("gmacs,err\n1,2\n", ["--drop-x"], "required: --x"),
    "bad extrapolation": ("gmacs,err\n1,2\n", ["--extrapolate-to", "-5"], "positive number"),
}


@pytest.mark.parametrize("case", list(_HOSTILE))
def test_fit_hostile_input(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    content, extra, expected = _HOSTILE[case]
    path = tmp_path / "runs.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    args = ["fit", str(path), "--x", "gmacs", "--y", "err", *extra, "--out", str(tmp_path / "o")]
    if "--drop-x" in extra:
        args = [a for a in args if a not in ("--x", "gmacs", "--drop-x")]
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("clipscale")
    assert "error:" in err and expected in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--x", "abc"], "'abc' is not a number"),
        (["--x", "-1"], "positive"),
        (["--x", ""], "at least one number"),
        (["--x", "samples=1"], "one input"),
        (["--x", "1", "--confidence-level", "2"], "between 0 and 1"),
    ],
)
def test_predict_hostile_values(
    saved_fit: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    assert main(["predict", str(saved_fit), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "file not found"),
        (b"\xff\xfe\x00binary", "not a text JSON file"),
        ("gmacs,err\n1,2\n", "not a clipscale FitResult JSON document"),
        ('{"schema": "clipscale.FitResult/1"}', "missing or bad field"),
    ],
)
def test_predict_hostile_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content, expected: str
) -> None:
    path = tmp_path / "fit.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    assert main(["predict", str(path), "--x", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err and "clipscale fit" in err


def test_drop_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "runs.csv"
    path.write_text("gmacs,err\n1e9,0.5\n1e10,\n1e11,0.3\ninf,0.2\n1e12,0.25\n")
    assert (
        main(
            [
                "fit",
                str(path),
                "--x",
                "gmacs",
                "--y",
                "err",
                "--drop-missing",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "dropped 2 of 5 rows" in out
    assert clipscale.FitResult.from_json((tmp_path / "fit.json").read_text()).n == 3


def test_internal_error_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr("clipscale.cli.fit._fit_one", broken)
    runs = _runs_csv(tmp_path / "runs.csv")
    args = ["fit", str(runs), "--x", "gmacs", "--y", "err", "--out", str(tmp_path / "o")]
    assert main(args) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: RuntimeError: boom second line" in err
    monkeypatch.setenv("CLIPSCALE_DEBUG", "1")
    with pytest.raises(RuntimeError):
        main(args)


def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for command, text in (
        ("fit", "--group-by COLUMN"),
        ("predict", "--confidence-level LEVEL"),
        ("reproduce", "--out DIR"),
    ):
        assert main([command, "--help"]) == 0
        out = capsys.readouterr().out
        assert f"usage: clipscale {command}" in out and text in out
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(c in out for c in ("fit", "predict", "reproduce"))


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "required" in err and "clipscale fit --help" in err


def test_hostile_input_end_to_end_has_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "runs.csv"
    path.write_bytes(b"\x00\x01binary")
    done = subprocess.run(
        [sys.executable, "-m", "clipscale", "fit", str(path), "--x", "a", "--y", "b"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "binary" in done.stderr
    assert "Traceback" not in done.stderr


def test_fit_and_predict_with_the_real_bootstrap(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not hasattr(clipscale.FitResult, "bootstrap"):
        pytest.skip("this clipscale has no FitResult.bootstrap")
    runs = _runs_csv(tmp_path / "runs.csv")
    out = tmp_path / "b"
    args = ["fit", str(runs), "--x", "gmacs", "--y", "err", "--form", "saturating"]
    assert main([*args, "--bootstrap", "200", "--out", str(out)]) == 0
    assert "200 resamples" in capsys.readouterr().out
    boot = clipscale.BootstrapResult.from_json((out / "bootstrap.json").read_text())
    assert boot.n_resamples == 200
    assert main(["predict", str(out / "bootstrap.json"), "--x", "1e12,1e14"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert {"x", "estimate", "lower", "upper"} <= set(table.columns)
    assert (table["lower"] < table["estimate"]).all() and (table["estimate"] < table["upper"]).all()
