"""Batched Levenberg–Marquardt: one iteration advances every resample (see ``_engine.batch``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _linalg as la

if TYPE_CHECKING:
    from .batch import Batch

__all__ = ["levenberg_marquardt"]

_FTOL = 1e-11  # Newton decrement relative to the loss at which a resample has converged
_MAX_ITER = 100


def _normal_equations(batch: Batch, theta: np.ndarray, r: np.ndarray, w: np.ndarray) -> tuple:
    """IRLS normal matrix, half-gradient, (robust losses) the exact-curvature matrix, the
    residual Jacobian and the IRLS weights.

    In the units of ``sum(om * r**2)`` with ``om = w rho'(r) / (2r)``: the gradient of the loss
    is ``2 g`` and the Gauss–Newton step solves ``jtj step = -g``.
    """
    dr = batch.residual_jacobian(theta)
    om = batch.irls(r, w)
    rr = np.where(np.isfinite(r), r, 0.0)
    jtj = la.gram(dr, om)
    g = la.jt(dr, om * rr)
    exact = None
    if not batch.loss.is_least_squares:
        h = 1e-7 * np.maximum(np.abs(rr), batch.loss.delta or 1.0)
        curv = (batch.loss.drho(rr + h) - batch.loss.drho(rr - h)) / (4.0 * h)
        exact = la.gram(dr, np.where(om > 0, w * curv, 0.0))
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

    def _trial(self, act: np.ndarray, th: np.ndarray, step: np.ndarray):
        trial = th.copy()
        trial[:, self.free] = np.clip(th[:, self.free] + step, self.lo, self.hi)
        r_new = self.ty[act] - self.batch.transformed(trial)
        return trial, r_new, self.batch._value_of(r_new, self.w[act])

    def _acceleration(self, act, th, v, dr, om, jtj, lam):
        """Geodesic acceleration (Transtrum & Sethna): the second-order correction of step ``v``
        from the residuals' directional second derivative along it (one extra evaluation)."""
        h = 0.1
        probe = th.copy()
        probe[:, self.free] = th[:, self.free] + h * v
        r_h = self.ty[act] - self.batch.transformed(probe)
        rvv = (2.0 / h) * ((r_h - self.r[act]) / h - la.jv(dr, v))
        rvv = np.where(np.isfinite(rvv), rvv, 0.0)
        damp = np.einsum("mi,ij->mij", lam[:, None] * self.dscale_act, np.eye(v.shape[1]))
        a = la.solve_scaled(jtj + damp, -la.jt(dr, om * rvv))
        # keep the correction only where it is small next to the step (Transtrum's test)
        ok = np.linalg.norm(a, axis=1) <= 1.5 * np.linalg.norm(v, axis=1)
        return np.where(ok[:, None], a, 0.0)

    def _steps(self, th, jtj0, g0, exact, lam):
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
            steps = la.solve_scaled(np.concatenate(mats), -np.tile(g, (len(mats), 1)))
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
        predicted = -(2 * np.einsum("mi,mi->m", g, dx) + la.quad(dx, jtj))
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
    proj = la.jt(bf, om * target)
    coef, _ = la.face_solve(la.gram(bf, om), proj, batch.lo[idx], batch.hi[idx])
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
