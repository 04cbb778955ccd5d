"""Batched Levenberg–Marquardt: one iteration advances every resample (see ``_batched``)."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ._batched import Batch

__all__ = ["levenberg_marquardt"]

_FTOL = 1e-11  # Newton decrement relative to the loss at which a resample has converged
_MAX_ITER = 100


def _small_solve(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``(M, k, k)`` systems; closed forms for k <= 3 (much faster than LAPACK calls)."""
    k = A.shape[1]
    if k == 1:
        return b / A[:, 0]
    if k == 2:
        a, c, d = A[:, 0, 0], A[:, 0, 1], A[:, 1, 1]
        e = A[:, 1, 0]
        det = a * d - c * e
        return (
            np.stack([d * b[:, 0] - c * b[:, 1], a * b[:, 1] - e * b[:, 0]], axis=1) / det[:, None]
        )
    if k == 3:
        return _solve3(A, b)
    try:
        return np.linalg.solve(A, b[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return np.einsum("mij,mj->mi", np.linalg.pinv(A), b)


def _solve3(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cramer's rule for ``(M, 3, 3)`` systems."""
    (a, b_, c), (d, e, f), (g, h, i) = ((A[:, r, 0], A[:, r, 1], A[:, r, 2]) for r in range(3))
    c00, c01, c02 = e * i - f * h, f * g - d * i, d * h - e * g
    c10, c11, c12 = c * h - b_ * i, a * i - c * g, b_ * g - a * h
    c20, c21, c22 = b_ * f - c * e, c * d - a * f, a * e - b_ * d
    det = a * c00 + b_ * c01 + c * c02
    r0, r1, r2 = b[:, 0], b[:, 1], b[:, 2]
    x = np.stack(
        [
            c00 * r0 + c10 * r1 + c20 * r2,
            c01 * r0 + c11 * r1 + c21 * r2,
            c02 * r0 + c12 * r1 + c22 * r2,
        ],
        axis=1,
    )
    return x / det[:, None]


def _solve_scaled(A: np.ndarray, rhs: np.ndarray, ridge: float = 1e-12) -> np.ndarray:
    """Solve the ``(m, k, k)`` symmetric systems with unit-diagonal scaling and a small ridge."""
    d = np.sqrt(np.abs(np.diagonal(A, axis1=1, axis2=2)))
    d = np.where(d > 0, d, 1.0)
    with np.errstate(all="ignore"):  # a resample with a non-finite Gram matrix gets a 0 step
        An = A / (d[:, :, None] * d[:, None, :]) + ridge * np.eye(A.shape[1])
        z = _small_solve(An, rhs / d) / d
    return np.where(np.isfinite(z), z, 0.0)


def _gram(dr: np.ndarray, om: np.ndarray) -> np.ndarray:
    """``sum_n om[m, n] dr[m, n, i] dr[m, n, j]``, shape ``(m, k, k)``.

    Entry by entry for k <= 4 (one pass over ``(m, n)`` arrays each, no ``(m, n, k)``
    temporary), batched matmul beyond (3-operand einsum is slow).
    """
    m, _, k = dr.shape
    if k > 4:
        return np.matmul((dr * om[..., None]).transpose(0, 2, 1), dr)
    out = np.empty((max(m, om.shape[0]), k, k))
    for i in range(k):
        wi = om * dr[..., i]
        for j in range(i, k):
            out[:, i, j] = out[:, j, i] = np.einsum("mn,mn->m", wi, dr[..., j])
    return out


def _jt(dr: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``J' v`` for every row: ``(m, n, k)`` and ``(m, n)`` -> ``(m, k)``, column by column
    (a 3-index einsum is several times slower)."""
    out = np.empty((max(dr.shape[0], v.shape[0]), dr.shape[2]))
    for i in range(dr.shape[2]):
        out[:, i] = np.einsum("mn,mn->m", dr[..., i], v)
    return out


def _jv(dr: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``J v`` for every row: ``(m, n, k)`` and ``(m, k)`` -> ``(m, n)``."""
    out = dr[..., 0] * v[:, :1]
    for i in range(1, dr.shape[2]):
        out += dr[..., i] * v[:, i : i + 1]
    return out


def _quad(v: np.ndarray, A: np.ndarray) -> np.ndarray:
    """``v' A v`` for every row."""
    return np.einsum("mi,mi->m", v, np.einsum("mij,mj->mi", A, v))


def _normal_equations(batch: Batch, theta: np.ndarray, r: np.ndarray, w: np.ndarray) -> tuple:
    """IRLS normal matrix, half-gradient, (robust losses) the exact-curvature matrix, the
    residual Jacobian and the IRLS weights.

    In the units of ``sum(om * r**2)`` with ``om = w rho'(r) / (2r)``: the gradient of the loss
    is ``2 g`` and the Gauss–Newton step solves ``jtj step = -g``.
    """
    dr = batch.residual_jacobian(theta)
    om = batch.irls(r, w)
    rr = np.where(np.isfinite(r), r, 0.0)
    jtj = _gram(dr, om)
    g = _jt(dr, om * rr)
    exact = None
    if not batch.loss.is_least_squares:
        h = 1e-7 * np.maximum(np.abs(rr), batch.loss.delta or 1.0)
        curv = (batch.loss.drho(rr + h) - batch.loss.drho(rr - h)) / (4.0 * h)
        exact = _gram(dr, np.where(om > 0, w * curv, 0.0))
    return jtj, g, exact, dr, om


def _freeze(
    g: np.ndarray, th: np.ndarray, lo: np.ndarray, hi: np.ndarray, step: np.ndarray | None
) -> np.ndarray:
    """Parameters at a bound that the descent direction (or ``step``) pushes out of the box."""
    span = np.maximum(np.abs(th), 1.0) * 1e-12
    down, up = (g > 0, g < 0) if step is None else (step < 0, step > 0)
    return ((th <= lo + span) & down) | ((th >= hi - span) & up)


def _pin(A: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Replace the rows and columns of frozen parameters by the identity."""
    keep = ~out
    return A * keep[:, :, None] * keep[:, None, :] + out[:, :, None] * np.eye(A.shape[1])


class _LM:
    """State of the batched Levenberg–Marquardt iteration (one row per resample)."""

    def __init__(self, batch: Batch, theta0: np.ndarray, ty: np.ndarray, w: np.ndarray):
        self.batch, self.ty, self.w = batch, ty, w
        self.free = batch.free_idx
        self.lo, self.hi = batch.lo[self.free], batch.hi[self.free]
        m = theta0.shape[0]
        self.theta = theta0.copy()
        self.theta[:, self.free] = np.clip(self.theta[:, self.free], self.lo, self.hi)
        self.r = ty - batch.transformed(self.theta)
        self.val = batch._value_of(self.r, w)
        self.lam, self.nu = np.full(m, 1e-3), np.full(m, 2.0)
        self.dscale = np.zeros((m, self.free.size))
        self.converged = np.zeros(m, bool)

    def _trial(self, act: np.ndarray, th: np.ndarray, step: np.ndarray):  # noqa: ANN202
        trial = th.copy()
        trial[:, self.free] = np.clip(th[:, self.free] + step, self.lo, self.hi)
        r_new = self.ty[act] - self.batch.transformed(trial)
        return trial, r_new, self.batch._value_of(r_new, self.w[act])

    def _acceleration(self, act, th, v, dr, om, jtj, lam):  # noqa: ANN001, ANN202
        """Geodesic acceleration (Transtrum & Sethna): the second-order correction of step ``v``
        from the residuals' directional second derivative along it (one extra evaluation)."""
        h = 0.1
        probe = th.copy()
        probe[:, self.free] = th[:, self.free] + h * v
        r_h = self.ty[act] - self.batch.transformed(probe)
        rvv = (2.0 / h) * ((r_h - self.r[act]) / h - _jv(dr, v))
        rvv = np.where(np.isfinite(rvv), rvv, 0.0)
        damp = np.einsum("mi,ij->mij", lam[:, None] * self.dscale_act, np.eye(v.shape[1]))
        a = _solve_scaled(jtj + damp, -_jt(dr, om * rvv))
        # keep the correction only where it is small next to the step (Transtrum's test)
        ok = np.linalg.norm(a, axis=1) <= 1.5 * np.linalg.norm(v, axis=1)
        return np.where(ok[:, None], a, 0.0)

    def _steps(self, th, jtj0, g0, exact, lam):  # noqa: ANN001, ANN202
        """Candidate steps (damping ``lam`` and ``lam * 1e-3``, and for robust losses the exact
        curvature) and the undamped Gauss–Newton step, with out-pushing bound parameters frozen.
        """
        k = self.free.size
        eye = np.eye(k)
        damp = np.einsum("mi,ij->mij", lam[:, None] * self.dscale_act, eye)
        out = _freeze(g0, th[:, self.free], self.lo, self.hi, None)
        for _ in range(2):  # then also freeze bound parameters the step would push outward
            g, jtj = np.where(out, 0.0, g0), _pin(jtj0, out)
            mats = [jtj + damp, jtj + 1e-3 * damp, jtj]
            if exact is not None:
                mats.append(_pin(exact, out) + damp)
            steps = _solve_scaled(np.concatenate(mats), -np.tile(g, (len(mats), 1)))
            steps = steps.reshape(len(mats), th.shape[0], k)
            more = _freeze(g0, th[:, self.free], self.lo, self.hi, steps[0]) & ~out
            if not more.any():
                break
            out = out | more
        return g, jtj, steps, out

    def step(self, act: np.ndarray) -> np.ndarray:
        """One iteration on the resamples ``act``; returns those still running.

        Two damped steps are tried at once (the current ``lambda`` and one a thousand times
        smaller, so a resample whose Gauss–Newton step is good takes it at once) and the better
        trial point is kept; then Nielsen's update of ``lambda`` from the gain ratio.
        """
        th, va = self.theta[act], self.val[act]
        jtj0, g0, exact, dr, om = _normal_equations(self.batch, th, self.r[act], self.w[act])
        self.dscale[act] = np.maximum(self.dscale[act], np.diagonal(jtj0, axis1=1, axis2=2))
        self.dscale_act = self.dscale[act]
        g, jtj, steps, frozen = self._steps(th, jtj0, g0, exact, self.lam[act])
        decrement = -np.einsum("mi,mi->m", g, steps[2])
        done = ~(decrement > _FTOL * va + 1e-300)
        trial, r_new, v_new = self._trial(act, th, steps[0])
        lam = self.lam[act].copy()
        for j in [1] + ([3] if exact is not None else []):
            step = steps[j]
            if j == 1:
                accel = self._acceleration(act, th, step, dr, om, jtj, lam * 1e-3)
                step = step + 0.5 * np.where(frozen, 0.0, accel)
            t2, r2, v2 = self._trial(act, th, step)
            # the less damped step whenever it descends: in a narrow curved valley it lands
            # nearer the optimum even when the damped step lowers the loss more right now
            pick = (v2 < va) if j == 1 else (v2 < v_new)
            trial[pick], r_new[pick], v_new[pick] = t2[pick], r2[pick], v2[pick]
            if j == 1:
                lam[pick] *= 1e-3
        dx = trial[:, self.free] - th[:, self.free]
        predicted = -(2 * np.einsum("mi,mi->m", g, dx) + _quad(dx, jtj))
        with np.errstate(invalid="ignore"):  # inf - inf for a resample with no finite loss
            gain = (va - v_new) / np.where(predicted > 0, predicted, np.inf)
        accept = (v_new < va) & ~done
        idx = act[accept]
        self.theta[idx], self.r[idx], self.val[idx] = trial[accept], r_new[accept], v_new[accept]
        self.lam[idx] = np.maximum(
            lam[accept] * np.maximum(1 / 3, 1 - (2 * gain[accept] - 1) ** 3), 1e-15
        )
        self.nu[idx] = 2.0
        rej = act[~accept & ~done]
        self.lam[rej] *= self.nu[rej]
        self.nu[rej] *= 2.0
        small = (np.abs(dx) <= 1e-15 * (np.abs(th[:, self.free]) + 1e-300)).all(axis=1)
        # scipy's ftol test: a good step (gain > 1/4) that barely lowers the loss
        small |= (va - v_new <= 1e-12 * va) & (gain > 0.25)
        # a rejected step when the remaining predicted decrease is at round-off level
        stop = done | (accept & small) | (~accept & (decrement <= 1e-9 * va))
        self.converged[act[stop]] = True
        return act[~stop & (self.lam[act] <= 1e16)]


def _project_linear(
    batch: Batch, theta: np.ndarray, y: np.ndarray, ty: np.ndarray, w: np.ndarray
) -> np.ndarray:
    """Re-solve the free linear parameters of every row for its own weights (variable projection).

    Weighted bounded least squares with first-order weights ``w t'(y)**2`` (exact for ``ls``);
    a row keeps its old values where that does not lower its loss: a start adapted to each
    resample's weights before the first LM step.
    """
    form, names = batch.form, batch.names
    lin = [p for p in form.linear if p not in batch.fixed]
    if not lin or not form.nonlinear:
        return theta
    m = theta.shape[0]
    with np.errstate(all="ignore"):
        nl = {p: theta[:, names.index(p)] for p in form.nonlinear}
        basis = form.basis(nl, batch.x)  # (m, n, kl)
        y = np.broadcast_to(y, (m, batch.n))
        om = w * batch.loss.dtransform(y) ** 2
    cols = [list(form.linear).index(p) for p in lin]
    target = y.copy()
    for j, p in enumerate(form.linear):
        if p in batch.fixed:
            target = target - batch.fixed[p] * basis[:, :, j]
    bf = basis[:, :, cols]
    if not (np.all(np.isfinite(bf)) and np.all(np.isfinite(om * target))):
        return theta
    idx = [names.index(p) for p in lin]
    proj = _jt(bf, om * target)
    coef, _ = _face_solve(_gram(bf, om), proj, batch.lo[idx], batch.hi[idx])
    out = theta.copy()
    out[:, idx] = coef
    better = batch.value(out, ty, w) < batch.value(theta, ty, w)
    return np.where(better[:, None], out, theta)


def levenberg_marquardt(
    batch: Batch,
    theta0: np.ndarray,
    ty: np.ndarray,
    w: np.ndarray,
    *,
    max_iter: int | None = None,
    y: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Minimise every resample's loss from ``theta0``; returns (theta, value, converged, iters).

    ``theta0``: ``(m, p)`` full parameter vectors (fixed ones at their values); ``ty``: ``(m, n)``
    transformed targets; ``w``: ``(m, n)`` weights. A resample also counts as converged when
    ten iterations lowered its loss by less than ``1e-9`` of itself (a flat valley).
    """
    if y is not None:  # data units known: start from the projected linear parameters
        theta0 = _project_linear(batch, theta0, y, ty, w)
    lm = _LM(batch, theta0, ty, w)
    if max_iter is None:  # IRLS converges linearly: robust losses get more iterations
        max_iter = _MAX_ITER if batch.loss.is_least_squares else 4 * _MAX_ITER
    if batch.free_idx.size == 0:
        return lm.theta, lm.val, np.ones(theta0.shape[0], bool), 0
    active = np.flatnonzero(np.isfinite(lm.val))
    checkpoint = lm.val.copy()
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007
        if it % 10 == 0:
            flat = checkpoint[active] - lm.val[active] <= 1e-9 * lm.val[active]
            lm.converged[active[flat]] = True
            active = active[~flat]
            checkpoint[active] = lm.val[active]
        if active.size == 0:
            break
        active = lm.step(active)
    return lm.theta, lm.val, lm.converged, it


def _face_solve(gram, proj, lb, ub):  # noqa: ANN001, ANN202
    """Bounded least squares from Gram matrices: the best feasible face of the box.

    ``gram``: ``(M, k, k)``, ``proj``: ``(M, k)``; returns coefficients ``(M, k)`` and the
    decrease ``2 c.proj - c' gram c`` they achieve (``-inf`` where no face is feasible). The
    unconstrained optimum is kept where it is feasible (a convex problem); only the other rows
    enumerate the faces where some coefficients sit at a bound.
    """
    M, k = proj.shape
    coef = _solve_scaled(gram, proj, ridge=1e-13)
    tol = 1e-10 * (1.0 + np.abs(coef))
    ok = np.all((coef >= lb - tol) & (coef <= ub + tol), axis=1)
    coef = np.clip(coef, lb, ub)
    best = np.where(ok, _gain(coef, gram, proj), -np.inf)
    rows = np.flatnonzero(~ok)
    if rows.size == 0:
        return coef, best
    g_rows, p_rows = gram[rows], proj[rows]
    c_rows, b_rows = coef[rows], best[rows]
    for combo in itertools.product((0, 1, 2), repeat=k):
        held = [j for j, s in enumerate(combo) if s]
        if not held or any(not np.isfinite((lb if combo[j] == 1 else ub)[j]) for j in held):
            continue
        c = np.zeros((rows.size, k))
        for j in held:
            c[:, j] = lb[j] if combo[j] == 1 else ub[j]
        free = [j for j, s in enumerate(combo) if s == 0]
        feasible = np.ones(rows.size, bool)
        if free:
            rhs = p_rows[:, free] - np.einsum("mij,mj->mi", g_rows[:, free][:, :, held], c[:, held])
            cf = _solve_scaled(g_rows[:, free][:, :, free], rhs, ridge=1e-13)
            tol = 1e-10 * (1.0 + np.abs(cf))
            feasible = np.all((cf >= lb[free] - tol) & (cf <= ub[free] + tol), axis=1)
            c[:, free] = np.clip(cf, lb[free], ub[free])
        gain = np.where(feasible, _gain(c, g_rows, p_rows), -np.inf)
        better = gain > b_rows
        b_rows = np.where(better, gain, b_rows)
        c_rows[better] = c[better]
    coef[rows], best[rows] = c_rows, b_rows
    return coef, best


def _gain(c: np.ndarray, gram: np.ndarray, proj: np.ndarray) -> np.ndarray:
    gain = 2 * np.einsum("mi,mi->m", c, proj) - _quad(c, gram)
    return np.where(np.isfinite(gain), gain, -np.inf)
