"""The README's examples run as written.

Every ```python block of README.md is executed in order, in one namespace (as a reader pasting
them into one session would), with clipscale's warnings turned into errors: the tour promises
calls that are well identified, so a warning there is a broken README. The ```bash examples
outside the Quick start (``clipscale fit ...`` / ``clipscale predict ...``) are run through
:func:`clipscale.cli.main` in a scratch directory holding the files they name.
"""

from __future__ import annotations

import re
import shlex
import shutil
import warnings
from pathlib import Path

import matplotlib

from clipscale import ClipscaleWarning
from clipscale.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def _blocks(language: str) -> list[tuple[int, str, str]]:
    """``(first line, section heading, code)`` of every fenced block in ``language``."""
    text = README.read_text(encoding="utf-8")
    out = []
    for m in _FENCE.finditer(text):
        if m.group(1) != language:
            continue
        headings = re.findall(r"^##+ (.+)$", text[: m.start()], re.MULTILINE)
        line = text.count("\n", 0, m.start(2)) + 1
        out.append((line, headings[-1] if headings else "", m.group(2)))
    return out


def _cli_commands() -> list[tuple[int, list[str]]]:
    """The ``clipscale ...`` lines of the bash blocks, Quick start excepted, split by shlex."""
    commands = []
    for first, heading, code in _blocks("bash"):
        if heading.strip().lower() == "quick start":
            continue
        for offset, line in enumerate(code.splitlines()):
            words = shlex.split(line, comments=True)
            if words and words[0] == "clipscale":
                commands.append((first + offset, words[1:]))
    return commands


def test_the_readme_has_a_tour_and_a_shell_example():
    assert len(_blocks("python")) >= 3
    subcommands = [argv[0] for _, argv in _cli_commands()]
    assert "fit" in subcommands and "predict" in subcommands


def test_python_blocks_run_top_to_bottom_without_warnings(tmp_path, monkeypatch):
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)  # blocks may write files (figures)
    namespace: dict[str, object] = {"__name__": "__readme__"}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", ClipscaleWarning)
            for line, _, code in _blocks("python"):
                # padded so that a traceback names the README's own line numbers
                source = "\n" * (line - 1) + code
                exec(compile(source, str(README), "exec"), namespace)
    finally:
        plt.close("all")


def test_shell_examples_run_from_the_repository_root(tmp_path, monkeypatch, capsys):
    commands = _cli_commands()
    # the scratch directory stands for the repository root: copy in the files the lines name
    for _, argv in commands:
        for word in argv:
            if (ROOT / word).is_file():
                (tmp_path / word).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(ROOT / word, tmp_path / word)
    monkeypatch.chdir(tmp_path)
    for line, argv in commands:
        code = main(argv)
        out, err = capsys.readouterr()
        where = f"README.md line {line}: clipscale {shlex.join(argv)}"
        assert code == 0, f"{where} exited {code}: {err}"
        assert "notes:" not in out, f"{where} printed diagnostics:\n{out}"
        if argv[0] == "fit":
            folder = Path(argv[argv.index("--out") + 1] if "--out" in argv else "clipscale-fit")
            for name in ("fit.json", "fit.png"):
                assert (folder / name).is_file(), f"{where} wrote no {folder / name}"
            if "--bootstrap" in argv:
                assert (folder / "bootstrap.json").is_file(), where
        elif argv[0] == "predict":
            rows = out.strip().splitlines()
            assert rows[0].startswith("x,estimate"), f"{where} printed {out!r}"
            assert len(rows) > 1, where
