"""Start search of one fit: the form's start grid, solved by variable projection.

The grid and its projection live with the forms (:func:`clipscale.forms._base.grid_starts`),
so that :meth:`Form.guess` needs nothing above them; the bootstrap's grid check builds the same
grid (:func:`clipscale.forms._base.start_grid`).
"""

from __future__ import annotations

import numpy as np

from ..forms._base import grid_starts as _form_grid_starts
from .problem import Problem

__all__ = ["grid_starts"]


def grid_starts(problem: Problem, n_starts: int) -> list[np.ndarray]:
    """Variable projection over the nonlinear grid; the best ``n_starts`` full parameter vectors."""
    return _form_grid_starts(
        problem.form, problem.loss, problem.x, problem.y, problem.w,
        problem.lo, problem.hi, problem.fixed, n_starts,
    )  # fmt: skip
