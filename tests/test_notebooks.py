"""Every notebook in examples/ runs top to bottom on the bundled data, and is saved clean.

The notebooks run in a kernel of the interpreter running the tests: a ``python3`` kernelspec
pointing at ``sys.executable`` is written into a temporary directory placed first on
``JUPYTER_PATH``, so a fresh virtual environment with ``ipykernel`` needs nothing installed
by hand, and a system-wide ``python3`` kernel of another interpreter is never picked.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
kernelspec = pytest.importorskip("ipykernel.kernelspec")

import clipscale  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
SRC = Path(clipscale.__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def kernel_env(tmp_path_factory: pytest.TempPathFactory):
    """JUPYTER_PATH with a python3 kernel of this interpreter; PYTHONPATH finds clipscale."""
    root = tmp_path_factory.mktemp("jupyter")
    kernelspec.write_kernel_spec(path=str(root / "kernels" / "python3"))
    saved = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "PYTHONPATH", "MPLBACKEND")}
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(root), saved["JUPYTER_PATH"]]))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), saved["PYTHONPATH"]]))
    os.environ.pop("MPLBACKEND", None)  # the kernel's inline backend draws the figures
    yield root
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def test_the_examples_are_there() -> None:
    names = {p.name for p in NOTEBOOKS}
    assert {
        "quickstart.ipynb",
        "fit_your_csv.ipynb",
        "compare_forms.ipynb",
        "reproduce_cherti2023.ipynb",
    } <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_saved_without_outputs(path: Path) -> None:
    book = json.loads(path.read_text(encoding="utf-8"))
    for cell in book["cells"]:
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [] and cell.get("execution_count") is None, path.name
    assert book["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path, kernel_env: Path) -> None:
    book = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        book,
        kernel_name="python3",
        timeout=180,
        resources={"metadata": {"path": str(EXAMPLES)}},  # cells run in examples/
    )
    start = time.perf_counter()
    client.execute()  # raises CellExecutionError, with the cell and traceback, on any error
    seconds = time.perf_counter() - start
    code = [c for c in book.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    errors = [o for c in code for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert seconds < 120, f"{path.name} took {seconds:.0f} s; keep examples quick"
    if path.stem in ("quickstart", "fit_your_csv", "compare_forms"):
        images = [o for c in code for o in c.outputs if "image/png" in o.get("data", {})]
        assert images, f"{path.name} draws no figure"
