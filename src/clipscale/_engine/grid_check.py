"""The grid check: variable projection of the start grid for every resample's weights."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _linalg as la
from ..forms._base import start_grid

if TYPE_CHECKING:
    from .batch import Batch

__all__ = ["grid_check"]

_RIDGE = 1e-13  # of the unconstrained solves, relative to the unit-scaled Gram matrix
# k = 2: the determinant floor that clips the columns' weighted correlation to 1 - _RIDGE
_DET_FLOOR = 1.0 - (1.0 - _RIDGE) ** 2
# floats in the largest array of a block of resamples in the screen: under 128 KiB, glibc's
# default threshold for mapping fresh memory
_BLOCK = 16_000


def _grid(batch: Batch, y: np.ndarray) -> np.ndarray:
    """Points of the fit's start grid (:func:`~clipscale.forms._base.start_grid`), ``(G, q)``."""
    return start_grid(batch.form, batch.x, y, batch.lo, batch.hi, batch.fixed)[0]


def _points(batch: Batch, grid: np.ndarray) -> np.ndarray:
    """Full parameter vectors of grid points (linear parameters 0 unless fixed), ``(G, p)``."""
    names = batch.names
    theta = np.zeros((grid.shape[0], len(names)))
    for j, p in enumerate(batch.form.nonlinear):
        theta[:, names.index(p)] = grid[:, j]
    for p, v in batch.fixed.items():
        theta[:, names.index(p)] = v
    return theta


def _shared(y: np.ndarray) -> bool:
    """Whether every row of the ``(m, n)`` targets is the same array (a broadcast row)."""
    return y.shape[0] == 1 or y.strides[0] == 0


def _slope2(batch: Batch, y: np.ndarray) -> np.ndarray | None:
    """``t'(y)**2`` like ``y`` (evaluated once for targets shared by every resample), or
    ``None`` where it is 1 (``ls``)."""
    with np.errstate(all="ignore"):
        dt2 = batch.loss.dtransform(y[:1] if _shared(y) else y) ** 2
    return None if (dt2 == 1.0).all() else np.broadcast_to(dt2, y.shape)


def _weights(w: np.ndarray, dt2: np.ndarray | None = None) -> np.ndarray:
    """First-order weights ``w t'(y)**2``, 0 where not finite (``w`` where ``dt2`` is None)."""
    with np.errstate(all="ignore"):
        om = w if dt2 is None else w * dt2
    return om if np.isfinite(om).all() else np.where(np.isfinite(om), om, 0.0)


def _design(batch: Batch, grid: np.ndarray):
    """Free basis columns ``(G, n, k)`` and fixed linear terms ``(G, n)`` of the grid points.

    Non-finite entries are 0; also returns which grid points had none ``(G,)``, and the largest
    magnitude of each free column ``(G, k)`` (1 for a zero column), which the columns are
    divided by: the Gram entries are then of the order of the weights whatever the scale of
    the columns, far from under- or overflow when multiplied.
    """
    form, n = batch.form, batch.n
    lin = list(form.linear)
    with np.errstate(all="ignore"):
        basis = form.basis({p: grid[:, j] for j, p in enumerate(form.nonlinear)}, batch.x)
    offset = np.zeros((grid.shape[0], n))
    for j, p in enumerate(lin):
        if p in batch.fixed:
            offset = offset + batch.fixed[p] * basis[:, :, j]
    ok = np.isfinite(basis)
    finite = ok.all(axis=(1, 2)) & np.isfinite(offset).all(axis=1)
    free = [lin.index(p) for p in lin if p not in batch.fixed]
    bf = np.where(ok, basis, 0.0)[:, :, free]
    scale = np.max(np.abs(bf), axis=1)
    scale[scale == 0] = 1.0
    return bf / scale[:, None, :], np.where(np.isfinite(offset), offset, 0.0), finite, scale


def _stack(patterns: list[np.ndarray]) -> tuple[np.ndarray, list[slice]]:
    """The ``(G, n)`` patterns as rows of one matrix, and the rows of each.

    A pattern whose rows are all equal (it does not depend on the grid point: a constant
    column, shared targets) takes one row, so its product with the weights has shape ``(1, m)``
    and broadcasts against the ``(G, m)`` ones.
    """
    rows = [p[:1] if (p == p[:1]).all() else p for p in patterns]
    ends = np.cumsum([r.shape[0] for r in rows])
    return np.concatenate(rows), [slice(e - r.shape[0], e) for e, r in zip(ends, rows, strict=True)]


def _moments(y: np.ndarray, bf: np.ndarray, offset: np.ndarray) -> list[tuple]:
    """How to compute the weighted Gram entries, projections and ``||y - offset||^2``.

    Each is a sum over the data axis, for every (grid point, resample) a matrix product
    ``pattern @ left.T`` with the first-order weights ``om``: Gram entry ``(i, j)`` is
    ``(b_i b_j) @ om.T``; for targets ``y`` shared by every resample the projections and the
    squared norm are ``((y - offset) b_i) @ om.T`` and ``(y - offset)**2 @ om.T``, all in one
    product. Targets that differ per resample expand ``y - offset`` into terms in ``om``,
    ``om y`` and ``om y**2`` (a second product, ``left = [om, om y, om y**2]``). Returns
    ``(patterns, rows of each entry, expanded)`` per product, for :func:`_entries`.
    """
    k = bf.shape[2]
    cols = [bf[:, :, i] for i in range(k)]
    gram = [cols[i] * cols[j] for i in range(k) for j in range(i, k)]
    if _shared(y):
        t = y[0] - offset
        return [(*_stack(gram + [t * c for c in cols] + [t * t]), False)]
    zero, one = np.zeros_like(offset), np.ones_like(offset)
    # per entry: the multipliers of om, om y and om y**2
    terms = [(-offset * c, c, zero) for c in cols] + [(offset * offset, -2 * offset, one)]
    return [(*_stack(gram), False), (*_stack([np.hstack(term) for term in terms]), True)]


def _entries(moments: list[tuple], om: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """The Gram entries (``(i, j)`` for ``i <= j`` in order), the projections and the squared
    norm for the resamples (rows) of weights ``om`` and targets ``y``, each a C-contiguous
    ``(G, m)`` or ``(1, m)`` array."""
    entries = []
    for patterns, rows, expanded in moments:
        prod = patterns @ (np.hstack([om, om * y, om * y * y]) if expanded else om).T
        entries += [prod[r] for r in rows]
    return entries


def _free_gain(gram: dict, proj: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """``proj' gram^-1 proj``: the decrease of the unconstrained linear least squares, ``shape``.

    Closed forms for k = 1 and k = 2 (the common case), a batched solve with unit-diagonal
    scaling and a small ridge beyond. k = 2 eliminates the first column: ``p0**2 / a +
    q**2 / s`` with ``q = p1 - c p0 / a`` and the Schur complement ``s = d - c**2 / a =
    d (1 - rho**2)``, floored at ``_DET_FLOOR * d`` for nearly collinear columns (their
    correlation ``rho`` clipped to ``1 - _RIDGE``); computed in place, with ``inf`` where it
    is NaN (a column without weight). Call under ``np.errstate(all="ignore")``.
    """
    k = len(proj)
    if k == 1:
        a, p = gram[0, 0], proj[0]
        z = np.broadcast_to(p / (a * (1.0 + _RIDGE)), shape)
        return np.where(np.isfinite(z), z, 0.0) * p
    if k == 2:
        (a, c, d), (p0, p1) = (gram[0, 0], gram[0, 1], gram[1, 1]), proj
        r = np.divide(c, a, out=np.empty(shape))
        q = np.multiply(r, p0, out=np.empty(shape))
        np.subtract(p1, q, out=q)
        np.multiply(q, q, out=q)
        s = np.subtract(d, np.multiply(r, c, out=r), out=r)
        np.maximum(s, np.multiply(d, _DET_FLOOR, out=np.empty(shape)), out=s)
        gain = np.divide(q, s, out=q)
        gain += p0 * p0 / a
        return np.fmin(gain, np.inf, out=gain)  # both terms are >= 0 or NaN
    A = np.empty((*shape, k, k))
    for (i, j), e in gram.items():
        A[:, :, i, j] = A[:, :, j, i] = e
    b = np.empty((*shape, k))
    for i, p in enumerate(proj):
        b[:, :, i] = p
    A, b = A.reshape(-1, k, k), b.reshape(-1, k)
    return np.einsum("mi,mi->m", la.solve_scaled(A, b, _RIDGE), b).reshape(shape)


def _screen(batch, grid, y, w, bound):
    """The (grid point, resample) pairs whose unconstrained ``ssr`` is below the bound.

    Works through blocks of resamples, so that every array of a block stays small: in cache,
    and below the size from which the allocator maps fresh memory (whose page faults cost more
    than the arithmetic). Returns the grid point and the resample of each candidate ``(c,)``,
    its Gram matrix ``(c, k, k)``, projection ``(c, k)`` and squared norm ``(c,)``, in the
    parameters' own scale; or ``None`` without candidates.
    """
    (m, G), k = (w.shape[0], grid.shape[0]), sum(p not in batch.fixed for p in batch.form.linear)
    bf, offset, finite, scale = _design(batch, grid)
    moments, dt2, w = _moments(y, bf, offset), _slope2(batch, y), _weights(w)
    thr = (1.0 if batch.loss.is_plain_ls else 1.5) * bound + 1e-300
    step = max(16, _BLOCK // max(p.shape[0] for p, _, _ in moments))
    pairs = [(i, j) for i in range(k) for j in range(i, k)]
    all_finite = finite.all()
    found = []  # per block with candidates: their grid points, resamples and entries
    with np.errstate(all="ignore"):
        for s in range(0, m, step):
            rows = slice(s, min(s + step, m))
            shape = (G, rows.stop - s)
            om = w[rows] if dt2 is None else _weights(w[rows], dt2[rows])
            *entries, base = _entries(moments, om, y[rows])
            # base - gain < thr: the unconstrained ssr is below the bound
            gram = dict(zip(pairs, entries[: len(pairs)], strict=True))
            gain = _free_gain(gram, entries[len(pairs) :], shape)
            if not all_finite:
                gain[~finite] = -np.inf
            cand = np.greater(gain, base - thr[rows], out=np.empty(shape, bool))
            if not cand.any():
                continue
            at = np.flatnonzero(cand)
            gi, ri = np.divmod(at, shape[1])
            found.append([gi, ri + s] + [e.ravel()[at if len(e) > 1 else ri] for e in entries])
            found[-1].append(base.ravel()[at if len(base) > 1 else ri])
    if not found:
        return None
    gi, ri, *e_c, base_c = (np.concatenate(a) for a in zip(*found, strict=True))
    sc = scale[gi]
    gram_c = np.empty((gi.size, k, k))
    for (i, j), e in zip(pairs, e_c[: len(pairs)], strict=True):
        gram_c[:, i, j] = gram_c[:, j, i] = e * sc[:, i] * sc[:, j]
    proj_c = np.stack([e * sc[:, i] for i, e in enumerate(e_c[len(pairs) :])], axis=-1)
    return gi, ri, gram_c, proj_c, base_c


def _candidates(batch, grid, y, w, bound, n_best):
    """Variable projection of every grid point for every resample; the ``n_best`` best.

    Ranks grid points by the first-order weighted residual sum of squares ``ssr`` (weights
    ``w t'(y)**2``, exact for ``ls``) with the free linear parameters solved exactly (bounded).
    The unconstrained solution's ``ssr`` is a lower bound of the bounded one, so grid points
    whose lower bound exceeds ``bound`` (the resample's current loss, with slack for
    transformed losses) cannot beat it and skip the bounded solve; usually that is all of
    them for almost every resample (its current solution already beats the grid), and only
    the resamples with a candidate are ranked. Returns those resamples ``(r,)``, full
    parameter vectors of their best grid points ``(r, n_best, p)`` and which of those are
    candidates ``(r, n_best)``, or ``None`` for a form without free linear parameters.
    """
    names, G = batch.names, grid.shape[0]
    free_lin = [p for p in batch.form.linear if p not in batch.fixed]
    if not free_lin:
        return None
    found, nb, k = _screen(batch, grid, y, w, bound), min(n_best, G), len(free_lin)
    if found is None:
        return np.zeros(0, int), np.zeros((0, nb, len(names))), np.zeros((0, nb), bool)
    gi, ri, gram, proj, base = found
    lin_idx = [names.index(p) for p in free_lin]
    coef, gain = la.face_solve(gram, proj, batch.lo[lin_idx], batch.hi[lin_idx])
    has = np.zeros(w.shape[0], bool)
    has[ri] = True
    some = np.flatnonzero(has)
    at = (np.cumsum(has) - 1)[ri] * G + gi  # (resample with a candidate, grid point), flat
    ssr = np.full(some.size * G, np.inf)
    ssr[at] = base - gain
    ssr = ssr.reshape(some.size, G)
    full = np.zeros((some.size * G, k))
    full[at] = coef
    full = full.reshape(some.size, G, k)
    top = np.argsort(ssr, axis=1)[:, :nb]
    theta = _points(batch, grid)[top]
    theta[:, :, lin_idx] = np.take_along_axis(full, top[:, :, None], axis=1)
    return some, theta, np.isfinite(np.take_along_axis(ssr, top, axis=1))


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
    ``bound`` (per resample) are skipped; a resample with no candidate gets loss ``inf`` (and
    parameters 0). Forms without free linear parameters are scored on the exact loss at every
    grid point.
    """
    grid = _grid(batch, np.asarray(y[0]))
    (m, p), G = (w.shape[0], len(batch.names)), grid.shape[0]
    bound = np.full(m, np.inf) if bound is None else np.where(np.isfinite(bound), bound, np.inf)
    chunk = max(1, 2_000_000 // max(G * batch.n, 1))
    theta, value = np.zeros((m, p)), np.full(m, np.inf)
    for s in range(0, m, chunk):
        sl = slice(s, s + chunk)
        out = _candidates(batch, grid, y[sl], w[sl], bound[sl], n_best)
        if out is None:  # nothing to project: score every grid point exactly
            mc = w[sl].shape[0]
            out = np.arange(mc), np.broadcast_to(_points(batch, grid), (mc, G, p)), None
        some, th, cand = out
        if some.size == 0:
            continue
        rows, nb = some + s, th.shape[1]
        v = batch.value(
            th.reshape(-1, p), np.repeat(ty[rows], nb, axis=0), np.repeat(w[rows], nb, axis=0)
        ).reshape(-1, nb)
        if cand is not None:
            v = np.where(cand, v, np.inf)
        pick = np.argmin(v, axis=1)
        theta[rows] = th[np.arange(some.size), pick]
        value[rows] = v[np.arange(some.size), pick]
    return theta, value
