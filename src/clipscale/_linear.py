"""Bounded linear least squares for many design matrices at once (variable projection)."""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["bounded_lstsq"]


def bounded_lstsq(
    B: np.ndarray, T: np.ndarray, lb: np.ndarray, ub: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``min_c ||T_g - B_g c||^2`` subject to ``lb <= c <= ub`` for every ``g`` at once.

    The optimum of a box-constrained convex quadratic is the unconstrained optimum on one face
    of the box (some coefficients held at a bound, the others free). All faces are enumerated
    (3**k of them for k coefficients, k is 1 to 3 here) and the best feasible solution kept,
    so the answer is exact, not iterative.

    Parameters
    ----------
    B : ndarray, shape (G, n, k)
        Design matrices (already multiplied by the square-root weights).
    T : ndarray, shape (G, n)
        Targets (already weighted).
    lb, ub : ndarray, shape (k,)
        Bounds of the coefficients; infinite bounds are allowed.

    Returns
    -------
    coef : ndarray, shape (G, k)
    ssr : ndarray, shape (G,)
        Residual sum of squares at ``coef`` (``inf`` where no face is feasible).
    """
    G, _, k = B.shape
    if k == 0:
        return np.zeros((G, 0)), np.einsum("gn,gn->g", T, T)
    # Normalise columns by their largest magnitude so the normal equations stay well scaled.
    scale = np.max(np.abs(B), axis=1)
    scale = np.where(scale > 0, scale, 1.0)
    Bn = B / scale[:, None, :]
    lbn, ubn = lb[None, :] * scale, ub[None, :] * scale
    gram = np.einsum("gni,gnj->gij", Bn, Bn)
    proj = np.einsum("gni,gn->gi", Bn, T)
    tt = np.einsum("gn,gn->g", T, T)

    best = np.full(G, np.inf)
    coef = np.zeros((G, k))
    states = [(0, 1, 2) for _ in range(k)]
    for combo in itertools.product(*states):
        if any(s == 1 and not np.isfinite(lb[j]) for j, s in enumerate(combo)):
            continue
        if any(s == 2 and not np.isfinite(ub[j]) for j, s in enumerate(combo)):
            continue
        c = np.zeros((G, k))
        for j, s in enumerate(combo):
            if s == 1:
                c[:, j] = lbn[:, j]
            elif s == 2:
                c[:, j] = ubn[:, j]
        free = [j for j, s in enumerate(combo) if s == 0]
        if free:
            held = [j for j in range(k) if j not in free]
            rhs = proj[:, free] - np.einsum("gij,gj->gi", gram[:, free][:, :, held], c[:, held])
            sub = gram[:, free][:, :, free]
            c[:, free] = np.einsum("gij,gj->gi", np.linalg.pinv(sub), rhs)
            tol = 1e-10 * (1.0 + np.abs(c[:, free]))
            ok = np.all((c[:, free] >= lbn[:, free] - tol) & (c[:, free] <= ubn[:, free] + tol), 1)
            c[:, free] = np.clip(c[:, free], lbn[:, free], ubn[:, free])
        else:
            ok = np.ones(G, dtype=bool)
        # ||T - Bn c||^2 = tt - 2 c.proj + c' gram c
        ssr = tt - 2 * np.einsum("gi,gi->g", c, proj) + np.einsum("gi,gij,gj->g", c, gram, c)
        ssr = np.where(ok & np.isfinite(ssr), np.maximum(ssr, 0.0), np.inf)
        better = ssr < best
        best = np.where(better, ssr, best)
        coef[better] = c[better]
    with np.errstate(over="ignore", invalid="ignore"):
        return coef / scale, best
