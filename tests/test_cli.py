"""The ``clipscale`` command: subcommands, exit codes and error messages."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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

    def fake_run(out_dir: str, *, quiet: bool = False) -> dict:
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
