"""clipscale: scaling laws for CLIP (and any other) training runs.

Fit pure, saturating, shifted and broken power laws without starting values, get standard
errors and diagnostics, and reproduce published scaling-law fits.

>>> from clipscale import fit_power_law
"""

from . import datasets, forms
from ._version import __version__
from .allocation import compute_optimal
from .backtest import BacktestResult, backtest
from .bootstrap import BootstrapResult
from .data import read_runs
from .exceptions import (
    BoundWarning,
    ClipscaleError,
    ClipscaleWarning,
    DataError,
    ExtrapolationWarning,
    FitError,
    IdentifiabilityWarning,
)
from .fitting import fit, fit_power_law
from .frontier import frontier
from .groups import fit_many
from .losses import available_losses, get_loss
from .results import FitResult

__all__ = [
    "__version__",
    "forms",
    "datasets",
    "frontier",
    "fit",
    "fit_power_law",
    "fit_many",
    "compute_optimal",
    "FitResult",
    "BootstrapResult",
    "backtest",
    "BacktestResult",
    "read_runs",
    "get_loss",
    "available_losses",
    "ClipscaleError",
    "DataError",
    "FitError",
    "ClipscaleWarning",
    "BoundWarning",
    "IdentifiabilityWarning",
    "ExtrapolationWarning",
]
