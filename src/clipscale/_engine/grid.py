"""Start search: the grid over nonlinear parameters, solved by variable projection."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from .. import _linalg as la
from .problem import Problem

_MAX_GRID = 20000
_CHUNK = 4_000_000  # grid points x data points evaluated at once


def grid_starts(problem: Problem, n_starts: int) -> list[np.ndarray]:
    """Variable projection over the nonlinear grid; the best ``n_starts`` full parameter vectors."""
    form, names = problem.form, problem.names
    nonlin = form.nonlinear
    raw = form.nonlinear_grid(problem.x, problem.y)
    axes = []
    for p in nonlin if not getattr(form, "paired_grid", False) else ():
        i = names.index(p)
        if p in problem.fixed:
            axes.append(np.array([problem.fixed[p]]))
            continue
        vals = np.asarray(raw[p], dtype=float)
        inside = vals[(vals >= problem.lo[i]) & (vals <= problem.hi[i])]
        if inside.size == 0:
            lo_i, hi_i = problem.lo[i], problem.hi[i]
            mid = (
                (lo_i + hi_i) / 2
                if np.isfinite(lo_i + hi_i)
                else (
                    lo_i + 1.0 if np.isfinite(lo_i) else (hi_i - 1.0 if np.isfinite(hi_i) else 0.0)
                )
            )
            inside = np.clip(vals, lo_i, hi_i) if vals.size else np.array([mid])
            inside = np.unique(inside)
        axes.append(inside)
    grid = np.array(list(itertools.product(*axes))) if axes else np.zeros((1, 0))
    if getattr(form, "paired_grid", False):
        # the form lists whole candidate points (row j of every array), not axes of a product
        grid = _paired_points(problem, raw)
    if grid.shape[0] > _MAX_GRID:
        grid = grid[np.linspace(0, grid.shape[0] - 1, _MAX_GRID).astype(int)]

    lin = list(form.linear)
    free_lin = [p for p in lin if p not in problem.fixed]
    lin_lo = np.array([problem.lo[names.index(p)] for p in free_lin])
    lin_hi = np.array([problem.hi[names.index(p)] for p in free_lin])
    # first-order weights: t(y) - t(yhat) ~ t'(y) (y - yhat)
    omega = problem.w * problem.loss.dtransform(problem.y) ** 2
    sw = np.sqrt(omega)
    n = problem.x.shape[0]
    chunk = max(1, _CHUNK // max(n * max(len(lin), 1), 1))
    thetas, values = [], []
    for start in range(0, grid.shape[0], chunk):
        g = grid[start : start + chunk]
        if not lin:  # nothing to project: score the grid points as they are
            theta, val = _score_points(problem, g)
            thetas.append(theta)
            values.append(val)
            continue
        nl = {p: g[:, j] for j, p in enumerate(nonlin)}
        with np.errstate(all="ignore"):
            B = form.basis(nl, problem.x)  # (G, n, k)
        target = np.broadcast_to(problem.y, (g.shape[0], n)).copy()
        for j, p in enumerate(lin):
            if p in problem.fixed:
                target -= problem.fixed[p] * B[:, :, j]
        cols = [lin.index(p) for p in free_lin]
        Bf = B[:, :, cols] * sw[None, :, None]
        ok = np.all(np.isfinite(Bf), axis=(1, 2)) & np.all(np.isfinite(target), axis=1)
        Bf = np.where(np.isfinite(Bf), Bf, 0.0)
        tw = np.where(np.isfinite(target), target, 0.0) * sw
        coef, _ = la.bounded_lstsq(Bf, tw, lin_lo, lin_hi)
        theta = np.empty((g.shape[0], len(names)))
        for j, p in enumerate(nonlin):
            theta[:, names.index(p)] = g[:, j]
        for p in lin:
            theta[:, names.index(p)] = (
                problem.fixed[p] if p in problem.fixed else coef[:, free_lin.index(p)]
            )
        for p, v in problem.fixed.items():
            theta[:, names.index(p)] = v
        yhat = np.einsum("gnk,gk->gn", B, theta[:, [names.index(p) for p in lin]])
        with np.errstate(all="ignore"):
            r = problem.ty[None, :] - problem.loss.transform(yhat)
            val = np.sum(problem.w * problem.loss.rho(r), axis=1)
        val = np.where(ok & np.isfinite(val), val, np.inf)
        thetas.append(theta)
        values.append(val)
    theta_all = np.concatenate(thetas)
    val_all = np.concatenate(values)
    order = np.argsort(val_all, kind="stable")
    order = order[np.isfinite(val_all[order])]
    shape = tuple(len(a) for a in axes)
    if axes and int(np.prod(shape)) == val_all.size and order.size:
        # polish one start per basin: the grid's local minima, best first
        local = _local_minima(val_all.reshape(shape)).ravel()
        order = order[local[order]]
    return [theta_all[i] for i in order[:n_starts]]


def _paired_points(problem: Problem, raw: Mapping[str, Any]) -> np.ndarray:
    """Candidate points ``(G, len(nonlinear))`` of a form with ``paired_grid = True``.

    Fixed parameters take their value; points are clipped into the bounds; non-finite rows go.
    """
    names, nonlin = problem.names, problem.form.nonlinear
    cols = []
    for p in nonlin:
        i = names.index(p)
        v = np.asarray(raw[p], dtype=float) if p not in problem.fixed else problem.fixed[p]
        cols.append(np.clip(v, problem.lo[i], problem.hi[i]))
    pts = np.column_stack(np.broadcast_arrays(*cols)) if cols else np.zeros((1, 0))
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    return np.unique(pts, axis=0) if pts.size else np.zeros((1, len(nonlin)))


def _score_points(problem: Problem, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Full parameter vectors and loss values of grid points of a form without linear params."""
    names, nonlin = problem.names, problem.form.nonlinear
    theta = np.empty((g.shape[0], len(names)))
    for j, p in enumerate(nonlin):
        theta[:, names.index(p)] = g[:, j]
    for p, v in problem.fixed.items():
        theta[:, names.index(p)] = v
    pars = {p: theta[:, [i]] for i, p in enumerate(names)}
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if problem.loss.log_space:
            t_hat = problem.form.log_predict(pars, problem.x)
        else:
            t_hat = problem.loss.transform(problem.form.predict(pars, problem.x))
        r = problem.ty[None, :] - t_hat
        val = np.sum(problem.w * problem.loss.rho(r), axis=1)
    return theta, np.where(np.isfinite(val), val, np.inf)


def _local_minima(values: np.ndarray) -> np.ndarray:
    """Boolean mask of grid points no worse than any neighbour along every axis."""
    mask = np.isfinite(values)
    for axis in range(values.ndim):
        pad = [(0, 0)] * values.ndim
        pad[axis] = (1, 1)
        padded = np.pad(values, pad, constant_values=np.inf)
        lower = np.take(padded, range(0, values.shape[axis]), axis=axis)
        upper = np.take(padded, range(2, values.shape[axis] + 2), axis=axis)
        mask &= (values <= lower) & (values <= upper)
    return mask
