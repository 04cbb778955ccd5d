"""The grid check: variable projection of the start grid for every resample's weights."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np

from ._lm import _face_solve, _solve_scaled

if TYPE_CHECKING:
    from ._batched import Batch

__all__ = ["grid_check"]


def _grid(batch: Batch, y: np.ndarray) -> np.ndarray:
    """Points of the nonlinear start grid (in bounds, fixed ones at their value), ``(G, q)``.

    A form with ``paired_grid = True`` lists whole points (row j of every array); otherwise the
    grid is the product of the per-parameter arrays.
    """
    form, names = batch.form, batch.names
    raw = form.nonlinear_grid(batch.x, y)
    cols = []
    for p in form.nonlinear:
        i = names.index(p)
        vals = np.atleast_1d(np.asarray(batch.fixed.get(p, raw[p]), dtype=float))
        inside = vals[(vals >= batch.lo[i]) & (vals <= batch.hi[i])]
        if getattr(form, "paired_grid", False) or inside.size == 0:
            inside = np.clip(vals, batch.lo[i], batch.hi[i])
        cols.append(inside)
    if not cols:
        return np.zeros((1, 0))
    if getattr(form, "paired_grid", False):
        grid = np.column_stack(np.broadcast_arrays(*cols))
        grid = np.unique(grid[np.all(np.isfinite(grid), axis=1)], axis=0)
    else:
        grid = np.array(list(itertools.product(*[np.unique(c) for c in cols])))
    if grid.shape[0] > 5000:
        grid = grid[np.linspace(0, grid.shape[0] - 1, 5000).astype(int)]
    return grid


def _points(batch: Batch, grid: np.ndarray) -> np.ndarray:
    """Full parameter vectors of grid points (linear parameters 0 unless fixed), ``(G, p)``."""
    names = batch.names
    theta = np.zeros((grid.shape[0], len(names)))
    for j, p in enumerate(batch.form.nonlinear):
        theta[:, names.index(p)] = grid[:, j]
    for p, v in batch.fixed.items():
        theta[:, names.index(p)] = v
    return theta


def _projected(batch, grid, y, w, bound, n_best):  # noqa: ANN001, ANN202
    """Variable projection of every grid point for every resample; the ``n_best`` best.

    Ranks grid points by the first-order weighted residual sum of squares ``ssr`` (weights
    ``w t'(y)**2``, exact for ``ls``) with the free linear parameters solved exactly (bounded).
    The unconstrained solution's ``ssr`` is a lower bound of the bounded one, so grid points
    whose lower bound exceeds ``bound`` (the resample's current loss, with slack for
    transformed losses) cannot beat it and skip the bounded solve. Returns full parameter
    vectors ``(m, n_best, p)`` and whether each is a candidate, or ``None`` for a form without
    free linear parameters.
    """
    form, names = batch.form, batch.names
    G, m, n = grid.shape[0], w.shape[0], batch.n
    lin = list(form.linear)
    free_lin = [p for p in lin if p not in batch.fixed]
    if not free_lin:
        return None
    with np.errstate(all="ignore"):
        basis = form.basis({p: grid[:, j] for j, p in enumerate(form.nonlinear)}, batch.x)
        om = w * batch.loss.dtransform(y) ** 2
    om = np.where(np.isfinite(om), om, 0.0)
    offset = np.zeros((G, n))
    for j, p in enumerate(lin):
        if p in batch.fixed:
            offset = offset + batch.fixed[p] * basis[:, :, j]
    finite = np.all(np.isfinite(basis), axis=(1, 2)) & np.all(np.isfinite(offset), axis=1)
    bf = np.where(np.isfinite(basis), basis, 0.0)[:, :, [lin.index(p) for p in free_lin]]
    offset = np.where(np.isfinite(offset), offset, 0.0)
    k = len(free_lin)
    # Gram matrices and projections of all grid points by matrix products over the data axis
    # (k = 2: only the three distinct entries, as (m, G) arrays)
    upper = [(i, j) for i in range(k) for j in range(i, k)] if k == 2 else None
    if upper is not None:
        prods = np.concatenate([bf[:, :, i] * bf[:, :, j] for i, j in upper], axis=0)
        entries = om @ prods.T  # (m, 3G)
        gram_of = [entries[:, e * G : (e + 1) * G] for e in range(3)]  # a, c, d
    else:
        gram = (om @ np.einsum("gni,gnj->ngij", bf, bf).reshape(n, -1)).reshape(m * G, k, k)
    proj = (om * y) @ bf.transpose(2, 0, 1).reshape(k * G, n).T  # (m, kG): column i*G + g
    if np.any(offset):
        proj = proj - om @ (offset[None, :, :] * bf.transpose(2, 0, 1)).reshape(k * G, n).T
    # ||t - offset||^2 for every (resample, grid point)
    base = np.broadcast_to(np.sum(om * y * y, axis=1)[:, None], (m, G))
    if np.any(offset):
        base = base - 2 * (om * y) @ offset.T + om @ (offset**2).T
    proj_of = [proj[:, i * G : (i + 1) * G] for i in range(k)]
    if upper is not None:
        free_ssr = base - _free_gain2(*gram_of, *proj_of)
    else:
        proj_flat = np.stack(proj_of, axis=-1).reshape(m * G, k)
        free_ssr = base - _free_gain(gram, proj_flat).reshape(m, G)
    slack = 1.0 if batch.loss.name == "ls" else 1.5
    cand = finite[None, :] & (free_ssr < slack * bound[:, None] + 1e-300)
    rows = np.flatnonzero(cand.ravel())
    ri, gi = np.divmod(rows, G)
    if upper is not None:
        a_, c_, d_ = (e[ri, gi] for e in gram_of)
        gram_rows = np.stack([np.stack([a_, c_], -1), np.stack([c_, d_], -1)], 1)
    else:
        gram_rows = gram[rows]
    proj_rows = np.stack([pi[ri, gi] for pi in proj_of], axis=-1)
    lin_idx = [names.index(p) for p in free_lin]
    coef, gain = _face_solve(gram_rows, proj_rows, batch.lo[lin_idx], batch.hi[lin_idx])
    # only resamples with a candidate are ranked (usually few: most resamples' LM solution
    # already beats every grid point's unconstrained lower bound)
    some = np.flatnonzero(cand.any(axis=1))
    nb = min(n_best, G)
    theta = np.zeros((m, nb, len(names)))
    ok = np.zeros((m, nb), bool)
    if some.size == 0:
        return theta, ok
    ssr = np.full(m * G, np.inf)
    ssr[rows] = base.ravel()[rows] - gain
    ssr = ssr.reshape(m, G)[some]
    top = np.argsort(ssr, axis=1)[:, :nb]
    th_some = _points(batch, grid)[top]  # (len(some), nb, p)
    full = np.zeros((m * G, k))
    full[rows] = coef
    full = full.reshape(m, G, k)[some]
    th_some[:, :, lin_idx] = np.take_along_axis(full, top[:, :, None], axis=1)
    theta[some] = th_some
    ok[some] = np.isfinite(np.take_along_axis(ssr, top, axis=1))
    return theta, ok


def _free_gain(gram: np.ndarray, proj: np.ndarray) -> np.ndarray:
    """``proj' gram^-1 proj``: the decrease of the unconstrained linear least squares.

    Closed form in the correlation of the two columns for k = 2 (the common case).
    """
    if gram.shape[1] != 2:
        return np.einsum("mi,mi->m", _solve_scaled(gram, proj, 1e-13), proj)
    return _free_gain2(gram[:, 0, 0], gram[:, 0, 1], gram[:, 1, 1], proj[:, 0], proj[:, 1])


def _free_gain2(a, c, d, p0, p1):  # noqa: ANN001, ANN202
    """:func:`_free_gain` for k = 2 from the Gram entries ``a, c, d`` and projections."""
    proj = (p0, p1)
    with np.errstate(all="ignore"):
        u, v = proj[0] / np.sqrt(a), proj[1] / np.sqrt(d)
        rho = np.clip(c / np.sqrt(a * d), -1 + 1e-13, 1 - 1e-13)
        gain = (u * u + v * v - 2 * rho * u * v) / (1 - rho * rho)
    return np.where(np.isfinite(gain), gain, np.inf)


def grid_check(
    batch: Batch,
    ty: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    bound: np.ndarray | None = None,
    *,
    n_best: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Best start-grid point of every resample: (theta ``(m, p)``, exact loss ``(m,)``).

    Linear parameters are solved by weighted bounded least squares with first-order weights
    ``w * t'(y)**2`` (exact for ``ls``); the ``n_best`` grid points with the smallest projected
    residual of each resample are then scored on the exact loss. Grid points that cannot beat
    ``bound`` (per resample) are skipped; a resample with no candidate gets loss ``inf``.
    Forms without free linear parameters are scored on the exact loss at every grid point.
    """
    grid = _grid(batch, np.asarray(y[0]))
    m, G = w.shape[0], grid.shape[0]
    bound = np.full(m, np.inf) if bound is None else np.where(np.isfinite(bound), bound, np.inf)
    chunk = max(1, 2_000_000 // max(G * batch.n, 1))
    thetas, values = [], []
    for s in range(0, m, chunk):
        sl = slice(s, s + chunk)
        mc = w[sl].shape[0]
        out = _projected(batch, grid, y[sl], w[sl], bound[sl], n_best)
        if out is None:  # nothing to project: score every grid point exactly
            theta = np.broadcast_to(_points(batch, grid), (mc, G, len(batch.names)))
            cand = np.ones((mc, G), bool)
        else:
            theta, cand = out
        nb = theta.shape[1]
        vals = np.full((mc, nb), np.inf)
        some = np.flatnonzero(cand.any(axis=1))  # resamples without a candidate keep inf
        if some.size:
            flat = theta[some].reshape(some.size * nb, -1)
            v = batch.value(
                flat, np.repeat(ty[sl][some], nb, axis=0), np.repeat(w[sl][some], nb, axis=0)
            )
            vals[some] = np.where(cand[some], v.reshape(some.size, nb), np.inf)
        pick = np.argmin(vals, axis=1)
        thetas.append(theta[np.arange(mc), pick])
        values.append(vals[np.arange(mc), pick])
    return np.concatenate(thetas), np.concatenate(values)
