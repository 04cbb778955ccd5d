"""Resampling schemes: each turns a fit into weight vectors (or targets) over the same inputs.

The loop lives in :class:`Scheme` (draw, leave-one-out weights, unit count); each method is a
small subclass that declares what it does: the multiplicities of a resample
(:meth:`Scheme.multiplicities`), new targets where it redraws them (:meth:`Scheme.targets`),
the units it resamples and leaves out, whether its spread shrinks by ``(n - p) / n`` and its
default interval type. A new scheme is one subclass and one line in :data:`SCHEMES`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from .._bands import loss_of, space
from .._engine.batch import Batch, Solution
from .._engine.solve import solve
from ..exceptions import DataError
from . import intervals as iv
from .progress import NoBar, progress_bar

if TYPE_CHECKING:
    from ..results import FitResult

__all__ = [
    "METHODS",
    "SCHEMES",
    "Scheme",
    "counts",
    "residual_pool",
    "solve_all",
    "validate",
]


def counts(gen: np.random.Generator, n: int, B: int) -> np.ndarray:
    """Multiplicities of ``B`` resamples of ``n`` units drawn with replacement, ``(B, n)``.

    Row ``b`` counts the draws ``gen.integers(0, n, size=(B, n))[b]`` (multinomial counts with
    equal probabilities, about ten times faster than ``gen.multinomial``).
    """
    draws = gen.integers(0, n, size=(B, n)) + n * np.arange(B)[:, None]
    return np.bincount(draws.ravel(), minlength=B * n).reshape(B, n).astype(float)


def residual_pool(result: FitResult, batch: Batch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fitted values on the loss's scale, and leverage-corrected residuals (raw and centred).

    ``e_i = sqrt(w_i) r_i / sqrt(1 - h_i)`` with ``h`` the leverages of the weighted Jacobian
    (Davison & Hinkley's modified residuals); zero for points of zero weight.
    """
    theta = np.array([[result.params[p] for p in batch.names]])
    fitted = batch.transformed(theta)[0]
    w = np.asarray(result.weights)
    pos = w > 0
    with np.errstate(all="ignore"):
        r = np.where(pos, batch.loss.transform(np.asarray(result.y)) - fitted, 0.0)
    sw = np.sqrt(w)
    jac = sw[:, None] * batch.residual_jacobian(theta)[0]
    lev = np.einsum("ni,in->n", jac, np.linalg.pinv(jac)) if jac.shape[1] else np.zeros(batch.n)
    e = np.where(pos, sw * r / np.sqrt(1 - np.clip(lev, 0.0, 0.99)), 0.0)
    centred = np.where(pos, e - e[pos].mean(), 0.0)
    return fitted, e, centred


class Scheme:
    """Draws resamples (weights, targets, multiplicities) and the jackknife weight vectors.

    Subclasses set the class attributes and override :meth:`multiplicities` (resamples that
    reweight points) or :meth:`targets` (resamples that redraw ``y``).
    """

    #: registry name (the ``method=`` of :func:`clipscale.bootstrap.bootstrap`)
    name: ClassVar[str] = ""
    #: interval type the coverage study measured closest to nominal (docs/uncertainty.md)
    default_interval: ClassVar[str] = "percentile"
    #: the spread of the draws shrinks by ``(n - p) / n`` (the ``expanded`` interval undoes it)
    shrinks: ClassVar[bool] = False
    #: resamples and leaves out whole groups (needs ``groups=``) rather than points
    by_group: ClassVar[bool] = False
    #: redraws the targets, so the loss's transform must be invertible
    new_targets: ClassVar[bool] = False

    def __init__(self, result: FitResult, batch: Batch, codes: np.ndarray | None = None) -> None:
        self.result, self.batch, self.codes = result, batch, codes
        self.w = np.asarray(result.weights, float)
        self.pos = self.w > 0
        self.n_units = int(self.units().max()) + 1 if self.by_group else int(self.pos.sum())

    def units(self) -> np.ndarray:
        """Unit label of every point (-1: never resampled nor left out)."""
        return np.where(self.pos, np.arange(len(self.w)), -1)

    def multiplicities(self, gen: np.random.Generator, B: int) -> np.ndarray:
        """``(B, n)`` multiplicities of the points; the default keeps every point once."""
        return np.ones((B, self.batch.n))

    def targets(self, gen: np.random.Generator, B: int) -> np.ndarray:
        """Targets: ``(n,)`` shared by all resamples, or ``(B, n)``; the default keeps ``y``."""
        return np.asarray(self.result.y, float)

    def draw(self, gen: np.random.Generator, B: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Weights ``(B, n)``, targets (``(n,)`` or ``(B, n)``) and multiplicities ``(B, n)``."""
        mult = self.multiplicities(gen, B)
        y = self.targets(gen, B)
        return mult * self.w, y, mult

    def jackknife_weights(self) -> np.ndarray:
        """Leave-one-out (one unit: a point, or a group) weight vectors, ``(J, n)``."""
        units = self.units()
        labels = np.unique(units[units >= 0])
        if labels.size > 2000:
            return np.zeros((0, self.batch.n))
        return np.where(units[None, :] == labels[:, None], 0.0, self.w[None, :])


class Pairs(Scheme):
    """Resample points with replacement: multinomial counts as weights."""

    name, default_interval, shrinks = "pairs", "studentized", True

    def multiplicities(self, gen: np.random.Generator, B: int) -> np.ndarray:
        mult = np.zeros((B, self.batch.n))
        mult[:, self.pos] = counts(gen, int(self.pos.sum()), B)
        return mult


class Bayesian(Scheme):
    """Rubin's Bayesian bootstrap: Dirichlet(1, ..., 1) weights, scaled to sum to n."""

    name, default_interval, shrinks = "bayesian", "expanded", True

    def multiplicities(self, gen: np.random.Generator, B: int) -> np.ndarray:
        mult = np.zeros((B, self.batch.n))
        m = self.pos.sum()
        mult[:, self.pos] = gen.dirichlet(np.ones(m), size=B) * m
        return mult


class Cluster(Scheme):
    """Resample whole groups with replacement; every point of a group gets its count."""

    name, default_interval, shrinks, by_group = "cluster", "percentile", True, True

    def units(self) -> np.ndarray:
        return np.asarray(self.codes)

    def multiplicities(self, gen: np.random.Generator, B: int) -> np.ndarray:
        return counts(gen, self.n_units, B)[:, self.codes]


class Residual(Scheme):
    """Fitted values plus leverage-corrected residuals drawn with replacement (loss's scale)."""

    name, default_interval, new_targets = "residual", "studentized", True

    def noise(self, gen: np.random.Generator, B: int, e: np.ndarray, centred: np.ndarray) -> Any:
        """``(B, n)`` noise on the loss's scale, from the raw and centred residuals."""
        pool = centred[self.pos]
        return pool[gen.integers(0, pool.size, size=(B, self.batch.n))]

    def targets(self, gen: np.random.Generator, B: int) -> np.ndarray:
        fitted, e, centred = residual_pool(self.result, self.batch)
        sw = np.sqrt(np.where(self.pos, self.w, 1.0))
        noise = self.noise(gen, B, e, centred)
        _, inverse = space(self.batch.loss)
        with np.errstate(all="ignore"):
            y_new = inverse(fitted + noise / sw)
        return np.where(self.pos, y_new, np.asarray(self.result.y))


class Wild(Residual):
    """Each residual keeps its point and flips its sign at random (Rademacher multipliers)."""

    name = "wild"

    def noise(self, gen: np.random.Generator, B: int, e: np.ndarray, centred: np.ndarray) -> Any:
        return e * gen.choice(np.array([-1.0, 1.0]), size=(B, self.batch.n))


#: every resampling scheme by name, in the order the docs list them
SCHEMES: dict[str, type[Scheme]] = {
    cls.name: cls for cls in (Pairs, Cluster, Residual, Wild, Bayesian)
}
METHODS = tuple(SCHEMES)


def solve_all(
    batch: Batch,
    theta_hat: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    progress: bool | None,
    shown: int | None = None,
) -> Solution:
    """Solve in one batch, or in chunks behind a progress bar on a terminal.

    The bar counts the first ``shown`` rows (the resamples; default all), ticking in
    proportion over the rest (leave-one-out fits that ride along).
    """
    B = w.shape[0]
    shown = B if shown is None else shown
    parts = []
    y = np.broadcast_to(y, w.shape)
    with progress_bar(shown, show=progress, desc="bootstrap", unit="fit") as bar:
        size = B if isinstance(bar, NoBar) else max(50, -(-B // 20))
        for s in range(0, B, size):
            parts.append(solve(batch, theta_hat, y[s : s + size], w[s : s + size]))
            bar.update(round(min(s + size, B) * shown / B) - round(s * shown / B))
    if len(parts) == 1:
        return parts[0]
    return Solution(
        np.concatenate([p.theta for p in parts]),
        np.concatenate([p.value for p in parts]),
        np.concatenate([p.status for p in parts]),
        max(p.iterations for p in parts),
        None if any(p.normal is None for p in parts) else np.concatenate([p.normal for p in parts]),
    )


def validate(
    result: FitResult,
    n_resamples: Any,
    method: Any,
    groups: Any,
    level: Any,
    interval: Any,
    rng: Any,
) -> tuple[type[Scheme], float, str, np.random.Generator, np.ndarray | None]:
    """Check the arguments of ``bootstrap``: the scheme class, level, interval type, generator
    and group codes (``None`` unless the scheme resamples groups)."""
    if not isinstance(n_resamples, int | np.integer) or isinstance(n_resamples, bool):
        raise DataError(f"n_resamples must be a whole number, got {n_resamples!r}")
    if n_resamples < 2:
        raise DataError(f"n_resamples must be at least 2 (1000 is typical), got {n_resamples}")
    if not isinstance(method, str) or method not in SCHEMES:
        raise DataError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    scheme = SCHEMES[method]
    level = iv.check_level(level)
    interval = scheme.default_interval if interval is None else iv.check_interval(interval)
    if isinstance(rng, np.random.Generator):
        gen = rng
    elif rng is None or (isinstance(rng, int | np.integer) and not isinstance(rng, bool)):
        gen = np.random.default_rng(rng)
    else:
        raise DataError(f"rng must be an int seed or a numpy.random.Generator, got {rng!r}")
    codes = _group_codes(result, method, groups) if scheme.by_group else None
    if not scheme.by_group and groups is not None:
        raise DataError(f"groups= is only used by method='cluster', not method={method!r}")
    loss = loss_of(result)
    if scheme.new_targets and not (loss.is_least_squares or loss.log_space):
        raise DataError(
            f"method={method!r} cannot invert the transform of loss {result.loss!r}; "
            "use method='pairs'"
        )
    return scheme, level, interval, gen, codes


def _group_codes(result: FitResult, method: str, groups: Any) -> np.ndarray:
    if groups is None:
        raise DataError(f"method={method!r} needs groups=: one label per point (e.g. run id)")
    labels = np.asarray(groups)
    if labels.shape != (result.n,):
        raise DataError(
            f"groups must have one label per fitted point ({result.n}), got shape {labels.shape}"
        )
    codes = pd.factorize(pd.Series(labels, dtype=object))[0]
    if codes.max() + 1 < 2:
        raise DataError(f"method={method!r} needs at least 2 distinct groups")
    return codes
