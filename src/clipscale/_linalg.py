"""Numpy-only kernels of the solver, batched over a leading axis.

* one bounded linear least squares: :func:`face_solve` (from Gram matrices) and
  :func:`bounded_lstsq` (from design matrices, through :func:`face_solve`);
* one family of small solves and inverses: :func:`solve_small` (closed forms for k <= 3,
  LAPACK beyond), :func:`solve_scaled` (unit-diagonal scaling and a ridge) and
  :func:`inverse_scaled` / :func:`inverse_factored` (cofactors where well conditioned,
  ``pinv`` elsewhere), built on :func:`adjugate` and :func:`unit_diagonal`;
* Gram and ``J'v`` products: :func:`gram`, :func:`scaled_gram` (factored, overflow-safe),
  :func:`jt`, :func:`jv`, :func:`quad`.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = [
    "adjugate",
    "bounded_lstsq",
    "face_solve",
    "gram",
    "inverse_factored",
    "inverse_scaled",
    "jt",
    "jv",
    "quad",
    "scaled_gram",
    "solve_scaled",
    "solve_small",
    "unit_columns",
    "unit_diagonal",
]


def bounded_lstsq(
    B: np.ndarray, T: np.ndarray, lb: np.ndarray, ub: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Solve ``min_c ||T_g - B_g c||^2`` subject to ``lb <= c <= ub`` for every ``g`` at once.

    The columns are normalised by their largest magnitude, the Gram matrices and projections
    formed, and :func:`face_solve` finds the best feasible face of the box exactly (with
    pseudo-inverse solves: a column without weight gets coefficient 0).

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
    gram_n = np.einsum("gni,gnj->gij", Bn, Bn)
    proj = np.einsum("gni,gn->gi", Bn, T)
    tt = np.einsum("gn,gn->g", T, T)
    coef, gain = face_solve(gram_n, proj, lb[None, :] * scale, ub[None, :] * scale, ridge=None)
    ssr = np.where(np.isfinite(gain), np.maximum(tt - gain, 0.0), np.inf)
    ssr = np.where(np.isfinite(ssr), ssr, np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        return coef / scale, ssr


def face_solve(
    gram: np.ndarray,
    proj: np.ndarray,
    lb: np.ndarray,
    ub: np.ndarray,
    *,
    ridge: float | None = 1e-13,
) -> tuple[np.ndarray, np.ndarray]:
    """Bounded least squares from Gram matrices: the best feasible face of the box.

    The optimum of a box-constrained convex quadratic is the unconstrained optimum on one face
    of the box (some coefficients held at a bound, the others free). The unconstrained optimum
    is kept where it is feasible; only the other rows enumerate the faces (3**k of them), so
    the answer is exact, not iterative.

    Parameters
    ----------
    gram : ndarray, shape (M, k, k)
    proj : ndarray, shape (M, k)
    lb, ub : ndarray, shape (k,) or (M, k)
        Bounds; infinite bounds are allowed.
    ridge : float or None
        Ridge of the unit-diagonal solves (:func:`solve_scaled`); ``None`` for the
        pseudo-inverse (:func:`inverse_scaled`).

    Returns
    -------
    coef : ndarray, shape (M, k)
    gain : ndarray, shape (M,)
        The decrease ``2 c.proj - c' gram c`` (``-inf`` where no face is feasible).
    """
    M, k = proj.shape
    lb, ub = np.broadcast_to(lb, (M, k)), np.broadcast_to(ub, (M, k))
    coef = _sub_solve(gram, proj, ridge)
    tol = 1e-10 * (1.0 + np.abs(coef))
    ok = np.all((coef >= lb - tol) & (coef <= ub + tol), axis=1)
    coef = np.clip(coef, lb, ub)
    best = np.where(ok, _gain(coef, gram, proj), -np.inf)
    rows = np.flatnonzero(~ok)
    if rows.size == 0:
        return coef, best
    g_rows, p_rows, lb_r, ub_r = gram[rows], proj[rows], lb[rows], ub[rows]
    c_rows, b_rows = coef[rows], best[rows]
    finite_lb, finite_ub = np.isfinite(lb_r).all(axis=0), np.isfinite(ub_r).all(axis=0)
    for combo in itertools.product((0, 1, 2), repeat=k):
        held = [j for j, s in enumerate(combo) if s]
        if not held or any(not (finite_lb if combo[j] == 1 else finite_ub)[j] for j in held):
            continue
        c = np.zeros((rows.size, k))
        for j in held:
            c[:, j] = lb_r[:, j] if combo[j] == 1 else ub_r[:, j]
        free = [j for j, s in enumerate(combo) if s == 0]
        feasible = np.ones(rows.size, bool)
        if free:
            rhs = p_rows[:, free] - np.einsum("mij,mj->mi", g_rows[:, free][:, :, held], c[:, held])
            cf = _sub_solve(g_rows[:, free][:, :, free], rhs, ridge)
            tol = 1e-10 * (1.0 + np.abs(cf))
            feasible = np.all((cf >= lb_r[:, free] - tol) & (cf <= ub_r[:, free] + tol), axis=1)
            c[:, free] = np.clip(cf, lb_r[:, free], ub_r[:, free])
        gain = np.where(feasible, _gain(c, g_rows, p_rows), -np.inf)
        better = gain > b_rows
        b_rows = np.where(better, gain, b_rows)
        c_rows[better] = c[better]
    coef[rows], best[rows] = c_rows, b_rows
    return coef, best


def _sub_solve(A: np.ndarray, b: np.ndarray, ridge: float | None) -> np.ndarray:
    if ridge is not None:
        return solve_scaled(A, b, ridge)
    with np.errstate(all="ignore"):
        z = np.einsum("mij,mj->mi", inverse_scaled(A), b)
    return np.where(np.isfinite(z), z, 0.0)


def _gain(c: np.ndarray, gram: np.ndarray, proj: np.ndarray) -> np.ndarray:
    gain = 2 * np.einsum("mi,mi->m", c, proj) - quad(c, gram)
    return np.where(np.isfinite(gain), gain, -np.inf)


# --------------------------------------------------------------------------- small systems
def solve_small(A: np.ndarray, b: np.ndarray) -> np.ndarray:
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
    """Solve the ``(m, k, k)`` symmetric systems with unit-diagonal scaling and a small ridge.

    ``(D^-1 A D^-1 + ridge I) z' = D^-1 rhs``, ``z = D^-1 z'`` with ``D`` the square roots of the
    diagonal; closed forms (:func:`solve_small`) for k <= 3, written out for k <= 2 (the hot
    loops of the batched solver). Non-finite solutions (a singular or non-finite system) are 0.
    """
    k = A.shape[1]
    with np.errstate(all="ignore"):  # a resample with a non-finite Gram matrix gets a 0 step
        if k == 1:
            a = np.abs(A[:, 0, 0])
            d2 = np.where(a > 0, a, 1.0)
            z = rhs / (A[:, 0, :1] / d2[:, None] + ridge) / d2[:, None]
        elif k == 2:
            d = np.sqrt(np.abs(np.diagonal(A, axis1=1, axis2=2)))
            d = np.where(d > 0, d, 1.0)
            d0, d1 = d[:, 0], d[:, 1]
            p, q = A[:, 0, 0] / (d0 * d0) + ridge, A[:, 1, 1] / (d1 * d1) + ridge
            c, e = A[:, 0, 1] / (d0 * d1), A[:, 1, 0] / (d0 * d1)
            u0, u1 = rhs[:, 0] / d0, rhs[:, 1] / d1
            det = p * q - c * e
            z = np.empty_like(rhs, dtype=float)
            z[:, 0] = (q * u0 - c * u1) / det / d0
            z[:, 1] = (p * u1 - e * u0) / det / d1
        else:
            d = np.sqrt(np.abs(np.diagonal(A, axis1=1, axis2=2)))
            d = np.where(d > 0, d, 1.0)
            An = A / (d[:, :, None] * d[:, None, :]) + ridge * np.eye(k)
            z = solve_small(An, rhs / d) / d
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


def unit_diagonal(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric ``(m, k, k)`` matrices as ``d_i U_ij d_j`` with ``U`` of unit diagonal.

    Returns ``(U, d)``, ``d = sqrt|diag A|`` (1 where the diagonal is 0).
    """
    d = np.sqrt(np.abs(np.diagonal(A, axis1=1, axis2=2)))
    d = np.where(d > 0, d, 1.0)
    with np.errstate(all="ignore"):
        return A / (d[:, :, None] * d[:, None, :]), d


def scaled_gram(dr: np.ndarray, om: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`gram` of ``dr`` (``(m, n, k)``) in the factored form of :func:`unit_diagonal`.

    The columns are divided by their largest magnitude before the products are summed, so
    the factors stay finite where ``J' W J`` itself would overflow (a Jacobian column ~1e200
    where a fit drives a scale parameter to ~1e-200).
    """
    big = np.max(np.abs(dr), axis=1)
    big = np.where(big > 0, big, 1.0)
    with np.errstate(all="ignore"):
        unit, d = unit_diagonal(gram(dr / big[:, None, :], om))
    return unit, big * d


def inverse_factored(U: np.ndarray, d: np.ndarray, *, det_floor: float = 1e-6) -> np.ndarray:
    """Pseudo-inverses of ``d_i U_ij d_j`` from the factors of :func:`unit_diagonal`.

    For k <= 3 the cofactor inverse of ``U`` where it is well conditioned (determinant above
    ``det_floor``; there it agrees with LAPACK's ``pinv`` to round-off), ``np.linalg.pinv``
    elsewhere and for larger k. The result is divided by ``d`` on each side in turn, so that it
    neither over- nor underflows where ``d_i d_j`` would, and symmetrised.
    """
    k = U.shape[1]
    with np.errstate(all="ignore"):
        if k == 0 or k > 3:
            inv = np.linalg.pinv(U)
        else:
            inv, det = adjugate(U)
            inv /= det[:, None, None]
            good = np.isfinite(inv).all(axis=(1, 2)) & (np.abs(det) > det_floor)
            if not good.all():
                bad = np.flatnonzero(~good)
                inv[bad] = np.linalg.pinv(U[bad])
        inv = inv / d[:, :, None] / d[:, None, :]
        return (inv + inv.transpose(0, 2, 1)) / 2


def inverse_scaled(A: np.ndarray, *, det_floor: float = 1e-6) -> np.ndarray:
    """Pseudo-inverses of symmetric ``(m, k, k)`` matrices, with unit-diagonal scaling
    (:func:`inverse_factored` of :func:`unit_diagonal`)."""
    return inverse_factored(*unit_diagonal(A), det_floor=det_floor)


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
