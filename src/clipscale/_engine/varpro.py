"""Variable projection for least squares: Gauss–Newton over the nonlinear parameters only.

For loss ``ls`` the free linear parameters of every resample have a closed form (a weighted
``k x k`` solve) once the nonlinear ones are known, so the batched iteration runs over the
nonlinear parameters alone (Golub & Pereyra; Kaufman's approximation of the reduced
Jacobian), all resamples at once. A resample is *handled* here only when it converges with
every parameter strictly inside its bounds (the unconstrained optimum is then the bounded
one); the others are left to the general Levenberg–Marquardt iteration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _linalg as la

if TYPE_CHECKING:
    from .batch import Batch

__all__ = ["applies", "varpro"]

_MAX_ITER = 30
_TOL_STEP = 1e-7  # the same, for the decrement of a step just taken
_TOL = 1e-12  # Gauss–Newton decrement relative to the loss at convergence


def applies(batch: Batch) -> bool:
    """Least squares, free linear and nonlinear parameters, nothing fixed."""
    form = batch.form
    return (
        batch.loss.is_plain_ls
        and not batch.fixed
        and bool(form.linear)
        and bool(form.nonlinear)
        and batch.x.ndim == 1
    )


class _State:
    def __init__(self, batch: Batch, y: np.ndarray, w: np.ndarray) -> None:
        form, names = batch.form, batch.names
        self.batch, self.y, self.w = batch, y, w
        self.nl_idx = [names.index(p) for p in form.nonlinear]
        self.lin_idx = [names.index(p) for p in form.linear]

    def evaluate(self, rows: np.ndarray, nl: np.ndarray):
        """Basis, linear coefficients, residuals and loss at nonlinear values ``nl``."""
        form = self.batch.form
        y, w = self.y[rows], self.w[rows]
        x = self.batch.x
        if nl.shape[0] > 1 and np.all(nl == nl[:1]):  # one basis for all (the shared start)
            b1 = form.basis({p: nl[:1, j] for j, p in enumerate(form.nonlinear)}, x)[0]
            kl = b1.shape[1]
            gram = (w @ (b1[:, :, None] * b1[:, None, :]).reshape(x.shape[0], -1)).reshape(
                -1, kl, kl
            )
            coef = la.solve_scaled(gram, (w * y) @ b1, 1e-15)
            r = y - coef @ b1.T
            basis = np.broadcast_to(b1, (nl.shape[0], *b1.shape)).copy()
        else:
            basis = form.basis({p: nl[:, j] for j, p in enumerate(form.nonlinear)}, x)
            bwt = (basis * w[..., None]).transpose(0, 2, 1)
            gram = np.matmul(bwt, basis)
            coef = la.solve_scaled(gram, np.matmul(bwt, y[..., None])[..., 0], 1e-15)
            r = y - np.matmul(basis, coef[..., None])[..., 0]
        val = np.einsum("mn,mn->m", w, r * r)
        val = np.where(np.isfinite(val), val, np.inf)
        return basis, coef, r, val, gram

    def theta(self, nl: np.ndarray, coef: np.ndarray) -> np.ndarray:
        out = np.empty((nl.shape[0], len(self.batch.names)))
        out[:, self.nl_idx] = nl
        out[:, self.lin_idx] = coef
        return out


def varpro(
    batch: Batch, theta0: np.ndarray, y: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray | None]:
    """Solve every resample from ``theta0``'s nonlinear parameters.

    Returns (theta ``(m, p)``, loss ``(m,)``, handled ``(m,)``, iterations, ``J' W J`` at the
    handled rows' solutions ``(m, p, p)`` or ``None``); rows not handled must be solved by
    another method.
    """
    if len(batch.form.nonlinear) == 1:
        return _one(batch, theta0, y, w)
    st = _State(batch, y, w)  # two or more nonlinear parameters
    m = w.shape[0]
    q = len(st.nl_idx)
    lo_nl, hi_nl = batch.lo[st.nl_idx], batch.hi[st.nl_idx]
    with np.errstate(all="ignore"):
        nl = np.broadcast_to(np.asarray(theta0, float)[..., st.nl_idx], (m, q)).copy()
        basis, coef, r, val, gram = st.evaluate(np.arange(m), nl)
        lam = np.zeros(m)
        conv = np.zeros(m, bool)
        active = np.flatnonzero(np.isfinite(val))
        it = 0
        for it in range(1, _MAX_ITER + 1):  # noqa: B007
            if active.size == 0:
                break
            a = active
            th = st.theta(nl[a], coef[a])
            jn = batch.form.jacobian(batch.params(th), batch.x)[..., st.nl_idx]  # (ma, n, q)
            jw = jn * w[a][..., None]
            jwt = jw.transpose(0, 2, 1)
            cross, jwj = jwt @ basis[a], jwt @ jn
            g = np.einsum("mni,mn->mi", jw, r[a])  # J' W r: -1/2 the gradient
            # Kaufman's reduced Gauss–Newton matrix J' W (I - P_B) J
            hess = jwj - np.matmul(cross, la.inverse_scaled(gram[a]) @ cross.transpose(0, 2, 1))
            diag = np.diagonal(hess, axis1=1, axis2=2)
            damped = hess + lam[a, None, None] * diag[:, :, None] * np.eye(q)
            step = la.solve_scaled(damped, g, 1e-15)
            decrement = np.einsum("mi,mi->m", g, step)
            done = ~(decrement > _TOL * val[a]) | (
                np.abs(step) <= 1e-13 * (np.abs(nl[a]) + 1e-300)
            ).all(axis=1)
            done &= lam[a] == 0
            trial = nl[a] + step
            inside = np.all((trial > lo_nl) & (trial < hi_nl), axis=1)
            b2, c2, r2, v2, gr2 = st.evaluate(a, trial)
            accept = inside & (v2 <= val[a])
            nl, basis, coef, r, val, gram = _keep(
                (nl, basis, coef, r, val, gram), (trial, b2, c2, r2, v2, gr2), a, accept, lam
            )
            conv[a[done]] = True
            active = a[~done & (lam[a] <= 1e8)]
        theta = st.theta(nl, coef)
        lo, hi = batch.lo, batch.hi
        handled = (
            conv
            & np.isfinite(val)
            & np.all(np.isfinite(theta), axis=1)
            & np.all((theta > lo) & (theta < hi), axis=1)
        )
    return theta, val, handled, it, None


def _keep(state: tuple, trial: tuple, a: np.ndarray, accept: np.ndarray, lam: np.ndarray):
    """Rows ``a[accept]`` of the per-row arrays ``state`` take their ``trial`` values (every
    row moved: the trial arrays as they are); Levenberg damping is reset there and raised
    tenfold on the rejected rows."""
    acc = a[accept]
    if acc.size == state[0].shape[0]:
        state = trial
    else:
        for old, new in zip(state, trial, strict=True):
            old[acc] = new[accept]
    lam[acc] = 0.0
    rej = a[~accept]
    lam[rej] = np.maximum(lam[rej] * 10.0, 1e-3)
    return state


# --------------------------------------------------------------------------- one exponent
def _solve(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """The linear sub-problems' solves: unit-diagonal scaling, ridge 1e-15, 0 where singular."""
    return la.solve_scaled(gram, rhs, 1e-15)


def _profile(basis: np.ndarray, y: np.ndarray, w: np.ndarray):
    """Linear coefficients, residuals, loss and Gram matrices of bases ``(m, n, k)``.

    Column by column (``k`` is 1 to 3), so every product is one pass over ``(m, n)`` arrays.
    """
    m, _, k = basis.shape
    cols = [basis[..., i] for i in range(k)]
    gram = np.empty((m, k, k))
    proj = np.empty((m, k))
    for i in range(k):
        wc = w * cols[i]
        proj[:, i] = np.einsum("mn,mn->m", wc, y)
        for j in range(i, k):
            gram[:, i, j] = gram[:, j, i] = np.einsum("mn,mn->m", wc, cols[j])
    coef = _solve(gram, proj)
    r = y - coef[:, :1] * cols[0]
    for i in range(1, k):
        r -= coef[:, i : i + 1] * cols[i]
    val = np.einsum("mn,mn->m", w * r, r)
    return coef, r, np.where(np.isfinite(val), val, np.inf), gram


def _one(
    batch: Batch, theta0: np.ndarray, y: np.ndarray, w: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray]:
    """:func:`varpro` for forms with one nonlinear parameter (an exponent, mostly).

    The reduced problem is one-dimensional per resample: a Gauss–Newton step with Kaufman's
    curvature ``J' W (I - P_B) J``, then secant curvature along the last accepted step
    (superlinear), Levenberg damping where a step does not lower the loss. At a start shared
    by every resample (the point estimate) the first step comes from moments of the data.
    """
    form, names = batch.form, batch.names
    name = form.nonlinear[0]
    j_nl = names.index(name)
    lin_idx = [names.index(p) for p in form.linear]
    x = batch.x
    m, n = w.shape
    lo, hi = batch.lo[j_nl], batch.hi[j_nl]
    k = len(lin_idx)
    shared_y = y.strides[0] == 0 or bool(np.all(y == y[:1]))
    if shared_y:  # one target row for all: index views of it, never copies
        y = np.broadcast_to(y[0], (m, n))
    with np.errstate(all="ignore"):
        nl = np.broadcast_to(np.asarray(theta0, float).reshape(-1, len(names))[:, j_nl], (m,))
        nl = nl.copy()
        first = None
        if np.all(nl == nl[0]):  # a shared start: one basis for all
            b1 = form.basis({name: nl[:1]}, x)
            basis = np.broadcast_to(b1, (m, n, k))
            if shared_y:
                first = _shared_start(batch, nl[0], b1[0], y[0], w)
            if first is None:
                coef, r, val, gram = _profile(basis, y, w)
            else:
                coef, r, val, gram = first[:4]
            basis = basis.copy()
        else:
            basis = form.basis({name: nl}, x)
            coef, r, val, gram = _profile(basis, y, w)
        lam = np.zeros(m)
        conv = np.zeros(m, bool)
        g_prev, nl_prev = np.zeros(m), np.zeros(m)
        have_prev = np.zeros(m, bool)
        active = np.flatnonzero(np.isfinite(val))
        it = 0
        for it in range(1, _MAX_ITER + 1):  # noqa: B007
            if active.size == 0:
                break
            a = active
            if a.size == m:  # every row: no gathering copies
                ba, ca, wa, ya, ra, ga, nla, va = basis, coef, w, y, r, gram, nl, val
            else:
                ba, ca, wa, ra, ga = basis[a], coef[a], w[a], r[a], gram[a]
                nla, va = nl[a], val[a]
                ya = y[: a.size] if shared_y else y[a]
            if it == 1 and first is not None and a.size == m:
                g, cross, jwj = first[4:]
            else:
                g, cross, jwj = _derivatives(batch, nla, ca, ba, wa, ra, j_nl, lin_idx)
            hess = jwj - np.einsum("mi,mi->m", cross, _solve(ga, cross))
            # secant curvature along the last accepted step: superlinear, where Kaufman's
            # Gauss–Newton curvature alone converges only linearly
            sec = (g_prev[a] - g) / (nla - nl_prev[a])
            secant = np.isfinite(sec) & (sec > 0) & have_prev[a]
            hess = np.where(secant, sec, hess)
            lam_a = lam[a]
            step = g / (hess * (1.0 + lam_a))
            step = np.where(np.isfinite(step), step, 0.0)
            decrement = g * step
            undamped = lam_a == 0
            done = undamped & (
                ~(decrement > _TOL * va) | (np.abs(step) <= 1e-13 * (np.abs(nla) + 1e-300))
            )
            conv[a[done]] = True
            # only the rows still moving evaluate a trial step
            mv = np.flatnonzero(~done)
            if mv.size == 0:
                break
            if mv.size < a.size:
                a, step, nla, va, wa = a[mv], step[mv], nla[mv], va[mv], wa[mv]
                ya = y[: a.size] if shared_y else ya[mv]
                g, secant, undamped, decrement = g[mv], secant[mv], undamped[mv], decrement[mv]
            trial = nla + step
            inside = (trial > lo) & (trial < hi)
            b2 = form.basis({name: trial}, x)
            c2, r2, v2, gr2 = _profile(b2, ya, wa)
            accept = inside & (v2 <= va)
            acc = a[accept]
            g_prev[acc], have_prev[acc] = g[accept], True
            nl_prev[acc] = nla[accept]
            nl, basis, coef, r, val, gram = _keep(
                (nl, basis, coef, r, val, gram), (trial, b2, c2, r2, v2, gr2), a, accept, lam
            )
            # an accepted secant step whose predicted decrease was already tiny leaves a gap far
            # below _TOL (superlinear convergence): no need for another iteration to see it
            fin = accept & undamped & secant & (decrement <= _TOL_STEP * va)
            conv[a[fin]] = True
            active = a[~fin & (lam[a] <= 1e8)]
        theta = np.empty((m, len(names)))
        theta[:, j_nl] = nl
        theta[:, lin_idx] = coef
        handled = (
            conv
            & np.isfinite(val)
            & np.all(np.isfinite(theta), axis=1)
            & np.all((theta > batch.lo) & (theta < batch.hi), axis=1)
        )
    return theta, val, handled, it, _normal_matrix(batch, nl, coef, basis, gram, w, handled)


def _shared_start(batch, nl0, b1, y1, w):
    """Coefficients, residuals, loss, Gram matrices and the first step's derivatives at a
    start and targets shared by every row, from one product ``w @ F`` of the data's moments.

    ``J = sum_l c_l db_l`` (``db_l`` the derivative of basis column ``l``), so ``J' W r``,
    ``J' W B`` and ``J' W J`` are quadratic in each row's coefficients ``c``. ``None`` when the
    form gives no :meth:`~clipscale.forms.Form.basis_slope`.
    """
    form = batch.form
    n, k = b1.shape
    db = form.basis_slope(
        {form.nonlinear[0]: np.full(k, nl0)}, np.eye(k), batch.x, np.broadcast_to(b1, (k, n, k))
    )
    if db is None:
        return None
    pairs = [(i, j) for i in range(k) for j in range(i, k)]
    cols = [b1[:, i] * b1[:, j] for i, j in pairs]  # Gram
    cols += [b1[:, i] * y1 for i in range(k)]  # projections
    cols += [db[a] * b1[:, i] for a in range(k) for i in range(k)]  # J' W B
    cols += [db[a] * db[b] for a, b in pairs]  # J' W J
    cols += [db[a] * y1 for a in range(k)]  # J' W y
    mom = w @ np.stack(cols, axis=1)
    m, q = w.shape[0], len(pairs)
    gram = np.empty((m, k, k))
    for e, (i, j) in enumerate(pairs):
        gram[:, i, j] = gram[:, j, i] = mom[:, e]
    proj = mom[:, q : q + k]
    dbb = mom[:, q + k : q + k + k * k].reshape(m, k, k)  # [a, i]: sum w db_a b_i
    dbdb = np.empty((m, k, k))
    for e, (a, b) in enumerate(pairs):
        dbdb[:, a, b] = dbdb[:, b, a] = mom[:, q + k + k * k + e]
    dby = mom[:, q + k + k * k + q :]
    coef = _solve(gram, proj)
    r = y1 - coef @ b1.T
    val = np.einsum("mn,mn->m", w * r, r)
    val = np.where(np.isfinite(val), val, np.inf)
    cross = np.einsum("ma,mai->mi", coef, dbb)
    jwj = np.einsum("ma,mab,mb->m", coef, dbdb, coef)
    g = np.einsum("ma,ma->m", coef, dby) - np.einsum("mi,mi->m", cross, coef)
    return coef, r, val, gram, g, cross, jwj


def _normal_matrix(batch, nl, coef, basis, gram, w, rows):
    """``J' W J`` at the solutions of the ``rows`` (bool mask), in parameter order; NaN for the
    other rows. The linear block is the basis's Gram matrix the solver already holds."""
    names, form = batch.names, batch.form
    p, m = len(names), nl.shape[0]
    j_nl = names.index(form.nonlinear[0])
    lin = np.array([names.index(q) for q in form.linear])
    out = np.full((m, p, p), np.nan)
    idx = np.flatnonzero(rows)
    if idx.size == 0:
        return out
    every = idx.size == m
    b, c, wr = (basis, coef, w) if every else (basis[idx], coef[idx], w[idx])
    with np.errstate(all="ignore"):
        _, cross, jwj = _derivatives(
            batch, nl if every else nl[idx], c, b, wr, None, j_nl, list(lin)
        )
        block = np.empty((idx.size, p, p))
        block[:, lin[:, None], lin[None, :]] = gram if every else gram[idx]
        for i, li in enumerate(lin):
            block[:, li, j_nl] = block[:, j_nl, li] = cross[:, i]
        block[:, j_nl, j_nl] = jwj
    out[idx] = block
    return out


def _derivatives(batch, nl, coef, basis, w, r, j_nl, lin_idx):
    """``J' W r`` (``None`` without residuals ``r``), ``J' W B`` ``(m, k)`` and ``J' W J``
    for the exponent's column ``J`` of the Jacobian, one pass over ``(m, n)`` arrays each."""
    jn = _slope(batch, nl, coef, basis, j_nl, lin_idx)  # d yhat / d theta, (m, n)
    wj = w * jn
    g = None if r is None else np.einsum("mn,mn->m", wj, r)  # -1/2 the gradient
    cross = np.empty((nl.shape[0], basis.shape[2]))
    for i in range(basis.shape[2]):
        cross[:, i] = np.einsum("mn,mn->m", wj, basis[..., i])
    return g, cross, np.einsum("mn,mn->m", wj, jn)


def _slope(batch, nl, coef, basis, j_nl, lin_idx):
    """``d yhat / d theta`` at the nonlinear values ``nl`` and coefficients ``coef``, (m, n)."""
    form = batch.form
    out = form.basis_slope({form.nonlinear[0]: nl}, coef, batch.x, basis)
    if out is not None:
        return out
    theta = np.empty((nl.shape[0], len(batch.names)))
    theta[:, j_nl] = nl
    theta[:, lin_idx] = coef
    return batch.form.jacobian(batch.params(theta), batch.x)[..., j_nl]
