"""Resampling schemes: each turns a fit into weight vectors (or targets) over the same inputs."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import _intervals as iv
from ._engine.batch import Batch, Solution
from ._engine.solve import solve
from .exceptions import DataError

if TYPE_CHECKING:
    from .results import FitResult

__all__ = ["Scheme", "residual_pool", "solve_all", "validate"]

METHODS = ("pairs", "cluster", "residual", "wild", "bayesian")


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
    """Draws resamples (weights, targets, multiplicities) and the jackknife weight vectors."""

    def __init__(self, result: FitResult, batch: Batch, method: str, codes: Any) -> None:
        self.result, self.batch, self.method, self.codes = result, batch, method, codes
        self.w = np.asarray(result.weights, float)
        self.pos = self.w > 0
        n_groups = 0 if codes is None else int(codes.max()) + 1
        self.n_units = n_groups if method == "cluster" else int(self.pos.sum())

    def draw(self, gen: np.random.Generator, B: int):  # noqa: ANN201
        n, w, pos = self.batch.n, self.w, self.pos
        mult = np.zeros((B, n))
        y = np.asarray(self.result.y, float)
        if self.method == "pairs":
            mult[:, pos] = _counts(gen, int(pos.sum()), B)
        elif self.method == "bayesian":
            mult[:, pos] = gen.dirichlet(np.ones(pos.sum()), size=B) * pos.sum()
        elif self.method == "cluster":
            g = self.n_units
            mult = _counts(gen, g, B)[:, self.codes]
        else:
            mult[:] = 1.0
            y = self._new_targets(gen, B)
        return mult * w, y, mult

    def _new_targets(self, gen: np.random.Generator, B: int) -> np.ndarray:
        fitted, e, centred = residual_pool(self.result, self.batch)
        pos, n = self.pos, self.batch.n
        sw = np.sqrt(np.where(pos, self.w, 1.0))
        if self.method == "residual":
            pool = centred[pos]
            noise = pool[gen.integers(0, pool.size, size=(B, n))]
        else:  # wild, Rademacher multipliers
            noise = e * gen.choice(np.array([-1.0, 1.0]), size=(B, n))
        _, inverse = iv.space(self.result.loss)
        with np.errstate(all="ignore"):
            y_new = inverse(fitted + noise / sw)
        return np.where(pos, y_new, np.asarray(self.result.y))

    def jackknife_weights(self) -> np.ndarray:
        """Leave-one-out (one point, or one group for ``cluster``) weight vectors."""
        if self.method == "cluster":
            units = self.codes
        else:
            units = np.where(self.pos, np.arange(len(self.w)), -1)
        labels = np.unique(units[units >= 0])
        if labels.size > 2000:
            return np.zeros((0, self.batch.n))
        return np.where(units[None, :] == labels[:, None], 0.0, self.w[None, :])


def _counts(gen: np.random.Generator, n: int, B: int) -> np.ndarray:
    """Multiplicities of ``B`` resamples of ``n`` units drawn with replacement, ``(B, n)``.

    Row ``b`` counts the draws ``gen.integers(0, n, size=(B, n))[b]`` (multinomial counts with
    equal probabilities, about ten times faster than ``gen.multinomial``).
    """
    draws = gen.integers(0, n, size=(B, n)) + n * np.arange(B)[:, None]
    return np.bincount(draws.ravel(), minlength=B * n).reshape(B, n).astype(float)


def solve_all(batch: Batch, theta_hat, y, w, progress, shown=None):  # noqa: ANN001, ANN202
    """Solve in one batch, or in chunks behind a progress bar on a terminal.

    The bar counts the first ``shown`` rows (the resamples; default all), ticking in
    proportion over the rest (leave-one-out fits that ride along).
    """
    from tqdm.auto import tqdm

    B = w.shape[0]
    shown = B if shown is None else shown
    show = bool(progress) or (progress is None and sys.stderr.isatty())
    size = B if not show else max(50, -(-B // 20))
    parts = []
    y = np.broadcast_to(y, w.shape)
    with tqdm(
        total=shown, disable=not show, delay=0 if progress else 1.0, desc="bootstrap", unit="fit"
    ) as bar:
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


def validate(result, n_resamples, method, groups, level, interval, rng, default):  # noqa: ANN001, ANN202
    """Check the arguments of ``bootstrap``; returns them normalised, and the group codes."""
    if not isinstance(n_resamples, int | np.integer) or isinstance(n_resamples, bool):
        raise DataError(f"n_resamples must be a whole number, got {n_resamples!r}")
    if n_resamples < 2:
        raise DataError(f"n_resamples must be at least 2 (1000 is typical), got {n_resamples}")
    if method not in METHODS:
        raise DataError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    level = iv.check_level(level)
    interval = default[method] if interval is None else iv.check_interval(interval)
    if isinstance(rng, np.random.Generator):
        gen = rng
    elif rng is None or (isinstance(rng, int | np.integer) and not isinstance(rng, bool)):
        gen = np.random.default_rng(rng)
    else:
        raise DataError(f"rng must be an int seed or a numpy.random.Generator, got {rng!r}")
    codes = None
    if method == "cluster":
        if groups is None:
            raise DataError("method='cluster' needs groups=: one label per point (e.g. run id)")
        labels = np.asarray(groups)
        if labels.shape != (result.n,):
            raise DataError(
                f"groups must have one label per fitted point ({result.n}), got shape "
                f"{labels.shape}"
            )
        codes = pd.factorize(pd.Series(labels, dtype=object))[0]
        if codes.max() + 1 < 2:
            raise DataError("method='cluster' needs at least 2 distinct groups")
    elif groups is not None:
        raise DataError(f"groups= is only used by method='cluster', not method={method!r}")
    invertible = ("ls", "log_ls", "huber_log", "msle1p")
    if method in ("residual", "wild") and result.loss not in invertible:
        raise DataError(
            f"method={method!r} cannot invert the transform of loss {result.loss!r}; "
            "use method='pairs'"
        )
    return method, level, interval, gen, codes
