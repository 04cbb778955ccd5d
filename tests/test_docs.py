"""The documentation builds, and its formulas are typeset by the vendored KaTeX.

``pymdownx.arithmatex`` (generic mode) only wraps each formula's LaTeX in an ``arithmatex``
element; a script has to typeset it. These tests build the site with the environment's
``mkdocs`` (``mkdocs build --strict``) and check that every page with a formula loads the
renderer from files inside the site (the docs are read offline too), and that no LaTeX is left
outside the elements the renderer handles.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
RENDERER = (
    "javascripts/katex/katex.min.js",
    "javascripts/katex/auto-render.min.js",
    "javascripts/katex-init.js",
)
STYLES = ("javascripts/katex/katex.min.css",)
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
_SKIP = {"script", "style", "code", "pre", "textarea"}


def _mkdocs() -> str:
    here = Path(sys.executable).parent / "mkdocs"
    found = str(here) if here.is_file() else shutil.which("mkdocs")
    if found is None:
        pytest.skip("mkdocs is not installed (pip install -e '.[dev]' installs it)")
    return found


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [_mkdocs(), "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


class _Page(HTMLParser):
    """Scripts, stylesheets, arithmatex elements and the text shown outside them and code."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self.n_math = 0
        self.text: list[str] = []
        self._stack: list[tuple[str, bool]] = []  # (tag, skipped)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.scripts.append(a["src"] or "")
        if tag == "link" and a.get("rel") == "stylesheet":
            self.styles.append(a.get("href") or "")
        math = "arithmatex" in (a.get("class") or "").split()
        self.n_math += math
        if tag in _VOID:
            return
        skipped = math or tag in _SKIP or (bool(self._stack) and self._stack[-1][1])
        self._stack.append((tag, skipped))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                del self._stack[i:]
                return

    def handle_data(self, data: str) -> None:
        if not (self._stack and self._stack[-1][1]):
            self.text.append(data)


def _pages(site: Path) -> dict[Path, _Page]:
    pages = {}
    for path in sorted(site.rglob("*.html")):
        page = _Page()
        page.feed(path.read_text(encoding="utf-8"))
        page.close()
        pages[path] = page
    return pages


def _local(page: Path, site: Path, url: str) -> Path | None:
    """The file a relative URL of ``page`` points to, or None for a URL off the site."""
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return None
    return (page.parent / parts.path).resolve()


def test_every_page_with_a_formula_loads_the_renderer(site: Path) -> None:
    pages = _pages(site)
    with_math = [p for p, page in pages.items() if page.n_math]
    # the forms and peer-law pages are written in formulas: a build without any is broken
    assert site / "forms" / "saturating" / "index.html" in with_math
    assert len(with_math) >= 5
    for path in with_math:
        page = pages[path]
        name = path.relative_to(site)
        loaded = {_local(path, site, s) for s in page.scripts} - {None}
        styled = {_local(path, site, s) for s in page.styles} - {None}
        for needed, have in [(RENDERER, loaded), (STYLES, styled)]:
            for rel in needed:
                target = (site / rel).resolve()
                assert target in have, f"{name} does not load {rel}"
                assert target.is_file(), f"{rel} is missing from the built site"
        # the renderer runs after KaTeX and its auto-render extension
        order = [_local(path, site, s) for s in page.scripts]
        assert [order.index((site / r).resolve()) for r in RENDERER] == sorted(
            order.index((site / r).resolve()) for r in RENDERER
        ), f"{name} loads the KaTeX scripts out of order"


def test_the_renderer_is_vendored_complete(site: Path) -> None:
    init = (site / "javascripts" / "katex-init.js").read_text(encoding="utf-8")
    assert ".arithmatex" in init and "renderMathInElement" in init
    katex = site / "javascripts" / "katex"
    assert "MIT" in (katex / "LICENSE").read_text(encoding="utf-8")
    css = (katex / "katex.min.css").read_text(encoding="utf-8")
    fonts = re.findall(r"url\(([^)]+)\)", css)
    assert fonts, "katex.min.css references no fonts"
    missing = sorted({f for f in fonts if not (katex / f.strip("'\"")).is_file()})
    assert not missing, f"katex.min.css references fonts that are not vendored: {missing}"
    size = sum(f.stat().st_size for f in katex.rglob("*") if f.is_file())
    assert size < 1_500_000, f"the vendored KaTeX takes {size} bytes"


def test_no_raw_latex_outside_formulas(site: Path) -> None:
    raw = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]")
    problems = []
    for path, page in _pages(site).items():
        text = "".join(page.text)
        for m in raw.finditer(text):
            context = text[max(0, m.start() - 40) : m.end() + 40].replace("\n", " ")
            problems.append(f"{path.relative_to(site)}: ...{context}...")
        if "\u3003" in text:  # a ditto mark: most fonts have no glyph for it
            problems.append(f"{path.relative_to(site)}: ditto mark")
    assert not problems, "LaTeX left untypeset or missing glyphs:\n" + "\n".join(problems)
