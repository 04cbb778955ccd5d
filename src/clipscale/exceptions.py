"""Exception and warning types raised by clipscale.

Every error a user can trigger with bad input is a :class:`DataError`, which is also a
:class:`ValueError`, so ``except ValueError`` keeps working in code that predates clipscale.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ClipscaleError",
    "DataError",
    "FitError",
    "ClipscaleWarning",
    "BoundWarning",
    "IdentifiabilityWarning",
    "ExtrapolationWarning",
]


class ClipscaleError(Exception):
    """Base class of every error raised by clipscale."""


class DataError(ClipscaleError, ValueError):
    """Input data or arguments are unusable; the message names the column, rows and the fix."""


class FitError(ClipscaleError, RuntimeError):
    """A fit could not converge.

    Attributes
    ----------
    partial : FitResult or None
        The best result found before the fitter gave up, when there is one.
    """

    def __init__(self, message: str, partial: Any = None) -> None:
        super().__init__(message)
        self.partial = partial


class ClipscaleWarning(UserWarning):
    """Base class of clipscale's warnings; each one is also recorded in ``result.notes``."""


class BoundWarning(ClipscaleWarning):
    """A fitted parameter sits at one of its bounds."""


class IdentifiabilityWarning(ClipscaleWarning):
    """A parameter is weakly identified by the data (huge or undefined standard error)."""


class ExtrapolationWarning(ClipscaleWarning):
    """A prediction is far outside the range of the fitted data."""
