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


def small_solve(A: np.ndarray, b: np.ndarray) -> np.ndarray:
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


def solve_scaled(A: np.ndarray, rhs: np.ndarray, ridge: float = 1e-12) -> np.ndarray:
    """Solve the ``(m, k, k)`` symmetric systems with unit-diagonal scaling and a small ridge."""
    d = np.sqrt(np.abs(np.diagonal(A, axis1=1, axis2=2)))
    d = np.where(d > 0, d, 1.0)
    with np.errstate(all="ignore"):  # a resample with a non-finite Gram matrix gets a 0 step
        An = A / (d[:, :, None] * d[:, None, :]) + ridge * np.eye(A.shape[1])
        z = small_solve(An, rhs / d) / d
    return np.where(np.isfinite(z), z, 0.0)


def gram(dr: np.ndarray, om: np.ndarray) -> np.ndarray:
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


def jt(dr: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``J' v`` for every row: ``(m, n, k)`` and ``(m, n)`` -> ``(m, k)``, column by column
    (a 3-index einsum is several times slower)."""
    out = np.empty((max(dr.shape[0], v.shape[0]), dr.shape[2]))
    for i in range(dr.shape[2]):
        out[:, i] = np.einsum("mn,mn->m", dr[..., i], v)
    return out


def jv(dr: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``J v`` for every row: ``(m, n, k)`` and ``(m, k)`` -> ``(m, n)``."""
    out = dr[..., 0] * v[:, :1]
    for i in range(1, dr.shape[2]):
        out += dr[..., i] * v[:, i : i + 1]
    return out


def quad(v: np.ndarray, A: np.ndarray) -> np.ndarray:
    """``v' A v`` for every row."""
    return np.einsum("mi,mi->m", v, np.einsum("mij,mj->mi", A, v))


def face_solve(gram, proj, lb, ub):  # noqa: ANN001, ANN202
    """Bounded least squares from Gram matrices: the best feasible face of the box.

    ``gram``: ``(M, k, k)``, ``proj``: ``(M, k)``; returns coefficients ``(M, k)`` and the
    decrease ``2 c.proj - c' gram c`` they achieve (``-inf`` where no face is feasible). The
    unconstrained optimum is kept where it is feasible (a convex problem); only the other rows
    enumerate the faces where some coefficients sit at a bound.
    """
    M, k = proj.shape
    coef = solve_scaled(gram, proj, ridge=1e-13)
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
            cf = solve_scaled(g_rows[:, free][:, :, free], rhs, ridge=1e-13)
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
    gain = 2 * np.einsum("mi,mi->m", c, proj) - quad(c, gram)
    return np.where(np.isfinite(gain), gain, -np.inf)


def pinv_scaled(A: np.ndarray) -> np.ndarray:
    """``pinv`` of unit-diagonal ``(m, k, k)`` matrices: the cofactor inverse (k <= 3) where a
    matrix is well conditioned (there both agree to round-off), LAPACK's pinv elsewhere."""
    k = A.shape[1]
    if k == 0 or k > 3:
        return np.linalg.pinv(A)
    inv, det = adjugate(A)
    with np.errstate(all="ignore"):
        inv /= det[:, None, None]
    good = np.isfinite(inv).all(axis=(1, 2)) & (np.abs(det) > 1e-6)
    if not good.all():
        bad = np.flatnonzero(~good)
        inv[bad] = np.linalg.pinv(A[bad])
    return inv


def adjugate(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Adjugate and determinant of symmetric ``(m, k, k)`` matrices, k <= 3 (cofactors)."""
    k = A.shape[1]
    adj = np.empty_like(A)
    if k == 1:
        adj[:] = 1.0
        return adj, A[:, 0, 0].copy()
    if k == 2:
        a, b, d = A[:, 0, 0], A[:, 0, 1], A[:, 1, 1]
        adj[:, 0, 0], adj[:, 1, 1] = d, a
        adj[:, 0, 1] = adj[:, 1, 0] = -b
        return adj, a * d - b * b
    a, b, c, d, e, f = A[:, 0, 0], A[:, 0, 1], A[:, 0, 2], A[:, 1, 1], A[:, 1, 2], A[:, 2, 2]
    adj[:, 0, 0], adj[:, 1, 1], adj[:, 2, 2] = d * f - e * e, a * f - c * c, a * d - b * b
    adj[:, 0, 1] = adj[:, 1, 0] = c * e - b * f
    adj[:, 0, 2] = adj[:, 2, 0] = b * e - c * d
    adj[:, 1, 2] = adj[:, 2, 1] = b * c - a * e
    return adj, a * adj[:, 0, 0] + b * adj[:, 0, 1] + c * adj[:, 0, 2]


def unit_columns(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a`` with each column divided by its largest magnitude, and those magnitudes.

    Basis columns such as ``x**-alpha`` at x = 1e20 are ~1e-26 next to a column of ones; lstsq's
    relative cutoff treats such a column as zero (dropping its parameter) unless it is normalised.
    """
    scale = np.max(np.abs(a), axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return a / scale, scale
