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

from ._lm import _solve_scaled

if TYPE_CHECKING:
    from ._batched import Batch

__all__ = ["applies", "varpro"]

_MAX_ITER = 30
_TOL_STEP = 1e-7  # the same, for the decrement of a step just taken
_TOL = 1e-12  # Gauss–Newton decrement relative to the loss at convergence


def applies(batch: Batch) -> bool:
    """Least squares, free linear and nonlinear parameters, nothing fixed."""
    form = batch.form
    return (
        batch.loss.name == "ls"
        and not batch.fixed
        and bool(form.linear)
        and bool(form.nonlinear)
        and batch.x.ndim == 1
    )


def _inverse(A: np.ndarray) -> np.ndarray:
    """Inverses of ``(m, k, k)`` symmetric matrices, with unit-diagonal scaling."""
    d = np.sqrt(np.abs(np.diagonal(A, axis1=1, axis2=2)))
    d = np.where(d > 0, d, 1.0)
    outer = d[:, :, None] * d[:, None, :]
    An = A / outer
    if A.shape[1] == 2:
        a, c, e = An[:, 0, 0], An[:, 0, 1], An[:, 1, 1]
        det = a * e - c * c
        inv = np.empty_like(An)
        inv[:, 0, 0], inv[:, 0, 1], inv[:, 1, 0], inv[:, 1, 1] = e, -c, -c, a
        inv /= det[:, None, None]
    else:
        inv = np.linalg.pinv(An)
    return inv / outer


class _State:
    def __init__(self, batch: Batch, y: np.ndarray, w: np.ndarray) -> None:
        form, names = batch.form, batch.names
        self.batch, self.y, self.w = batch, y, w
        self.nl_idx = [names.index(p) for p in form.nonlinear]
        self.lin_idx = [names.index(p) for p in form.linear]

    def evaluate(self, rows: np.ndarray, nl: np.ndarray):  # noqa: ANN201
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
            coef = _solve_scaled(gram, (w * y) @ b1, 1e-15)
            r = y - coef @ b1.T
            basis = np.broadcast_to(b1, (nl.shape[0], *b1.shape)).copy()
        else:
            basis = form.basis({p: nl[:, j] for j, p in enumerate(form.nonlinear)}, x)
            bwt = (basis * w[..., None]).transpose(0, 2, 1)
            gram = np.matmul(bwt, basis)
            coef = _solve_scaled(gram, np.matmul(bwt, y[..., None])[..., 0], 1e-15)
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
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Solve every resample from ``theta0``'s nonlinear parameters.

    Returns (theta ``(m, p)``, loss ``(m,)``, handled ``(m,)``, iterations); rows not handled
    must be solved by another method.
    """
    st = _State(batch, y, w)
    m = w.shape[0]
    q = len(st.nl_idx)
    lo_nl, hi_nl = batch.lo[st.nl_idx], batch.hi[st.nl_idx]
    with np.errstate(all="ignore"):
        nl = np.broadcast_to(np.asarray(theta0, float)[..., st.nl_idx], (m, q)).copy()
        rows = np.arange(m)
        basis, coef, r, val, gram = st.evaluate(rows, nl)
        lam = np.zeros(m)
        conv = np.zeros(m, bool)
        g_prev, nl_prev, have_prev = np.zeros((m, q)), np.zeros((m, q)), np.zeros(m, bool)
        active = np.flatnonzero(np.isfinite(val))
        it = 0
        for it in range(1, _MAX_ITER + 1):  # noqa: B007
            if active.size == 0:
                break
            a = active
            th = st.theta(nl[a], coef[a])
            jn = batch.form.jacobian(batch.params(th), batch.x)[..., st.nl_idx]  # (ma, n, q)
            wa = w[a]
            jw = jn * wa[..., None]
            if q == 1:
                j0 = jw[..., 0]
                cross = np.matmul(j0[:, None, :], basis[a])  # J' W B, (ma, 1, kl)
                jwj = np.einsum("mn,mn->m", j0, jn[..., 0])[:, None, None]
                g = np.einsum("mn,mn->m", j0, r[a])[:, None]  # J' W r: -1/2 the gradient
            else:
                jwt = jw.transpose(0, 2, 1)
                cross, jwj = jwt @ basis[a], jwt @ jn
                g = np.einsum("mni,mn->mi", jw, r[a])
            if q == 1:  # Kaufman's reduced Gauss–Newton matrix J' W (I - P_B) J
                sol = _solve_scaled(gram[a], cross[:, 0, :], 1e-15)
                hess = jwj - np.einsum("mi,mi->m", cross[:, 0, :], sol)[:, None, None]
            else:
                hess = jwj - np.matmul(cross, _inverse(gram[a]) @ cross.transpose(0, 2, 1))
            if q == 1:  # secant curvature along the last accepted step: superlinear, where
                # Kaufman's Gauss–Newton matrix alone converges only linearly
                sec = (g_prev[a] - g) / (nl[a] - nl_prev[a])
                use = np.isfinite(sec) & (sec > 0) & have_prev[a][:, None]
                hess = np.where(use[:, :, None], sec[:, :, None], hess)
                secant = use[:, 0]
            else:
                secant = np.zeros(a.size, bool)
            diag = np.diagonal(hess, axis1=1, axis2=2)
            damped = hess + lam[a, None, None] * diag[:, :, None] * np.eye(q)
            step = _solve_scaled(damped, g, 1e-15)
            decrement = np.einsum("mi,mi->m", g, step)
            done = ~(decrement > _TOL * val[a]) | (
                np.abs(step) <= 1e-13 * (np.abs(nl[a]) + 1e-300)
            ).all(axis=1)
            undamped = lam[a] == 0
            done &= undamped
            trial = nl[a] + step
            inside = np.all((trial > lo_nl) & (trial < hi_nl), axis=1)
            b2, c2, r2, v2, gr2 = st.evaluate(a, trial)
            accept = inside & (v2 <= val[a])
            acc = a[accept]
            g_prev[acc], nl_prev[acc], have_prev[acc] = g[accept], nl[acc], True
            if acc.size == m:  # every row moved: take the trial arrays as they are
                nl, basis, coef, r, val, gram = trial, b2, c2, r2, v2, gr2
            else:
                nl[acc], basis[acc], coef[acc], r[acc], val[acc], gram[acc] = (
                    trial[accept],
                    b2[accept],
                    c2[accept],
                    r2[accept],
                    v2[accept],
                    gr2[accept],
                )
            lam[acc] = 0.0
            rej = a[~accept]
            lam[rej] = np.maximum(lam[rej] * 10.0, 1e-3)
            # an accepted secant step whose predicted decrease was already tiny leaves a gap far
            # below _TOL (superlinear convergence): no need for another iteration to see it
            done |= accept & undamped & secant & (decrement <= _TOL_STEP * val[a])
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
    return theta, val, handled, it
