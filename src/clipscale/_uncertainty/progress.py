"""The progress bar, behind one helper: tqdm is optional and imported only when a bar shows.

``progress_bar(total, show=...)`` returns a context manager with ``update(n)``:

- ``show=False``, or ``show=None`` (the default) when stderr is not a terminal or the ``CI``
  environment variable is set: a no-op bar, and tqdm is never imported;
- tqdm not installed: the same no-op bar;
- in a Jupyter kernel with ``ipywidgets``: tqdm's widget bar; without ``ipywidgets``: tqdm's
  plain text bar (``tqdm.auto`` would warn ``IProgress not found`` there).
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import TracebackType
from typing import Any

__all__ = ["NoBar", "progress_bar", "should_show"]


class NoBar:
    """A progress bar that shows nothing."""

    def __enter__(self) -> NoBar:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def update(self, n: float = 1) -> None:
        """Do nothing."""


def should_show(show: bool | None) -> bool:
    """``show``, or for ``None``: stderr is a terminal and this is not a CI run."""
    if show is not None:
        return bool(show)
    return not os.environ.get("CI") and _isatty()


def _isatty() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stderr
        return False


def _in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython is never imported here to find out)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = getattr(ipython, "get_ipython", lambda: None)()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _tqdm_class() -> Any:
    """The tqdm bar class that fits this session, or None without tqdm."""
    if importlib.util.find_spec("tqdm") is None:
        return None
    if _in_notebook() and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm


def progress_bar(total: int, *, show: bool | None = None, desc: str = "", unit: str = "it") -> Any:
    """A context-managed bar counting to ``total`` (a :class:`NoBar` when nothing shows).

    An explicit ``show=True`` draws at once; the default draws only after a second, so quick
    runs stay silent.
    """
    if not should_show(show):
        return NoBar()
    bar = _tqdm_class()
    if bar is None:
        return NoBar()
    return bar(total=total, delay=0 if show else 1.0, desc=desc, unit=unit)
