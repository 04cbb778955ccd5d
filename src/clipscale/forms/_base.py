"""The declarative base class every functional form derives from."""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .. import _linalg as la
from ..data import as_inputs, check_xy
from ..exceptions import FitError

if TYPE_CHECKING:
    from ..losses import Loss

__all__ = [
    "MAX_GRID",
    "Form",
    "exponent_grid",
    "grid_starts",
    "log_range",
    "project_grid",
    "start_grid",
    "validate_data",
]

#: most points of a start grid (a larger grid is thinned evenly)
MAX_GRID = 20000
_CHUNK = 4_000_000  # grid points x data points evaluated at once

Bounds = dict[str, tuple[float, float]]


class Form:
    """A scaling-law functional form.

    A form is declarative: it names its parameters, says which of them enter linearly once the
    others are fixed (so the fitter can solve them exactly), gives default bounds, a grid of
    candidate values for the nonlinear parameters derived from the data, a numerically stable
    evaluation and an analytic Jacobian.

    Subclasses set :attr:`name`, :attr:`param_names`, :attr:`linear` and implement
    :meth:`predict`, :meth:`jacobian`, :meth:`basis` and :meth:`nonlinear_grid`.

    Attributes
    ----------
    name : str
        Registry name.
    param_names : tuple of str
        All parameters, in the order used by :meth:`jacobian`.
    linear : tuple of str
        Parameters that enter linearly: ``y = sum_k linear_k * basis_k(nonlinear, x)``.
    inputs : tuple of str
        Names of the inputs; one input means ``x`` is a 1-D array.
    formula : str
        The formula in plain text.
    """

    name: ClassVar[str] = ""
    formula: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    inputs: ClassVar[tuple[str, ...]] = ("x",)
    #: grid points :func:`clipscale.fit` polishes by default (more for rugged forms)
    n_starts: ClassVar[int] = 4
    #: True when :meth:`nonlinear_grid` lists whole candidate points (row j of every array)
    #: rather than axes of a product grid
    paired_grid: ClassVar[bool] = False

    param_names: tuple[str, ...] = ()
    linear: tuple[str, ...] = ()

    # ----------------------------------------------------------------- declaration
    @property
    def nonlinear(self) -> tuple[str, ...]:
        """Parameters that are not linear (exponents, breaks, shifts)."""
        return tuple(p for p in self.param_names if p not in self.linear)

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    def default_bounds(self) -> Bounds:
        """Bounds ``{name: (low, high)}`` used unless the caller overrides them."""
        return {p: (-np.inf, np.inf) for p in self.param_names}

    def spec(self) -> dict[str, Any]:
        """JSON-able description that :func:`clipscale.forms.from_spec` rebuilds the form from."""
        return {"name": self.name}

    # ----------------------------------------------------------------- evaluation
    def predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        """Evaluate the form at ``x`` with parameters ``p``.

        Every evaluation method broadcasts: a parameter may be a scalar or an array of shape
        ``(B, 1)`` (B parameter vectors at once, as the batched bootstrap solver uses), giving
        predictions of shape ``(n,)`` or ``(B, n)``.
        """
        raise NotImplementedError

    def log_predict(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        """``log(predict(p, x))``; forms override it where a log-space expression is exact."""
        yhat = self.predict(p, x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(yhat > 0, np.log(np.where(yhat > 0, yhat, 1.0)), -np.inf)

    def jacobian(self, p: Mapping[str, float], x: np.ndarray) -> np.ndarray:
        """``d predict / d param``, shape ``(..., n, n_params)`` in :attr:`param_names` order."""
        raise NotImplementedError

    # ----------------------------------------------------------------- start search
    def basis(self, nl: Mapping[str, np.ndarray], x: np.ndarray) -> np.ndarray:
        """Columns multiplying the linear parameters, shape ``(G, n, len(linear))``.

        ``nl`` maps each nonlinear parameter to an array of ``G`` candidate values.
        """
        raise NotImplementedError

    def basis_slope(
        self, nl: Mapping[str, np.ndarray], coef: np.ndarray, x: np.ndarray, basis: np.ndarray
    ) -> np.ndarray | None:
        """``d/d theta sum_k coef_k basis_k`` for a form with one nonlinear parameter ``theta``.

        ``nl`` holds ``G`` values of ``theta``, ``coef`` the linear parameters ``(G, k)`` and
        ``basis`` is :meth:`basis` at ``nl`` (so the slope can reuse its powers); returns
        shape ``(G, n)``. Optional: the default ``None`` makes the batched solver take the
        derivative from :meth:`jacobian` instead (correct, only slower).
        """
        return None

    def nonlinear_grid(self, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """Candidate values of each nonlinear parameter, derived from the data."""
        raise NotImplementedError

    def closed_form(
        self, x: np.ndarray, y: np.ndarray, w: np.ndarray, loss: Any
    ) -> np.ndarray | None:
        """The exact optimum of ``loss`` without bounds or fixed parameters, where the form has
        one (parameters in :attr:`param_names` order); ``None`` (the default) otherwise.

        :func:`clipscale.fit` uses it when nothing is fixed and it lies within the bounds.
        """
        return None

    def guess(self, x: Any, y: Any, *, loss: str | Loss = "log_ls") -> dict[str, float]:
        """A data-driven initial guess: the best point of the fitter's start grid, unpolished.

        Every nonlinear parameter is taken from :meth:`nonlinear_grid` and every linear one
        solved exactly for it (bounded weighted least squares), scored on ``loss``.
        """
        from ..losses import get_loss

        loss_obj = get_loss(loss)
        x_arr, y_arr, w = validate_data(
            self, x, y, y_greater_than=loss_obj.y_greater_than, min_points=self.n_params
        )
        bounds = self.default_bounds()
        lo = np.array([bounds[p][0] for p in self.param_names], dtype=float)
        hi = np.array([bounds[p][1] for p in self.param_names], dtype=float)
        starts = grid_starts(self, loss_obj, x_arr, y_arr, w, lo, hi, {}, 1)
        if not starts:
            raise FitError(f"no grid point of form {self.name!r} gives a finite loss on this data")
        return {p: float(v) for p, v in zip(self.param_names, starts[0], strict=True)}

    def __repr__(self) -> str:
        extra = {k: v for k, v in self.spec().items() if k != "name"}
        args = ", ".join(f"{k}={v!r}" for k, v in extra.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Form) and self.spec() == other.spec()

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.spec().items())))

    # ----------------------------------------------------------------- reporting hooks
    def equation(
        self,
        p: Mapping[str, float],
        *,
        x: str = "C",
        y: str = "E",
        digits: int = 5,
        y_scale: float = 0.0,
    ) -> str:
        """The law with parameter values ``p`` as text for a figure's legend.

        Forms with a compact formula return a matplotlib mathtext string (``$E = ...$``);
        the default is the form's name and its values (at most 4 significant digits), three
        to a line.

        Parameters
        ----------
        p : mapping
            Parameter values.
        x, y : str, default "C", "E"
            Symbols of the input and output.
        digits : int, default 5
            Significant digits of the values.
        y_scale : float, default 0
            Largest ``|y|`` of the data; a floor below ``1e-9 * y_scale`` shows as 0.
        """
        values = [f"{k} = {v:.{min(digits, 4)}g}" for k, v in p.items()]
        lines = [", ".join(values[i : i + 3]) for i in range(0, len(values), 3)]
        return "\n".join([f"{self.name}:", *lines])

    def optimal_allocation(self, p: Mapping[str, Any], budget: np.ndarray) -> np.ndarray | None:
        """Closed-form compute-optimal model size ``N*`` minimising the law along ``N D = budget``.

        Parameters may be scalars or arrays (e.g. shape ``(B, 1)`` for B parameter draws) and
        broadcast against ``budget``; NaN where the law has no interior optimum. The default
        ``None`` says the form has no closed form: :func:`clipscale.compute_optimal` then
        searches numerically.
        """
        return None


def log_range(x: np.ndarray) -> float:
    """Width of the data in natural-log units, ``log(max x / min x)`` (at least 1e-3)."""
    lx = np.log(x[x > 0]) if np.any(x > 0) else np.zeros(1)
    return max(float(lx.max() - lx.min()), 1e-3)


def exponent_grid(x: np.ndarray, *, signed: bool = False, n: int = 32) -> np.ndarray:
    """Exponents spread so that ``alpha * log-range`` covers 0.01 ... 60 (scale-free grid)."""
    kappa = np.geomspace(0.01, 60.0, n)
    grid = kappa / log_range(x)
    if signed:
        grid = np.concatenate([-grid[::-1], [0.0], grid])
    return grid


def mathtext_number(value: float, digits: int = 4) -> str:
    """A number for mathtext: ``digits`` significant digits, powers of ten written out."""
    text = f"{value:.{digits}g}"
    if "e" in text:
        mantissa, exponent = text.split("e")
        return rf"{mantissa}\times10^{{{int(exponent)}}}"
    return text


# --------------------------------------------------------------------------- start search
def validate_data(
    form: Form,
    x: Any,
    y: Any,
    *,
    weights: Any = None,
    y_greater_than: float | None = None,
    min_points: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The inputs ``x`` (1-D, or ``(n, d)`` for several inputs), ``y`` and weights of a fit of
    ``form``, validated (each input column checked with :func:`clipscale.data.check_xy`)."""
    x_arr = as_inputs(x, form.inputs, form_name=form.name)
    columns = [x_arr] if x_arr.ndim == 1 else list(x_arr.T)
    for name, col in zip(form.inputs, columns, strict=True):
        _, y_arr, w = check_xy(
            col,
            y,
            weights=weights,
            x_name="x" if x_arr.ndim == 1 else f"x[{name!r}]",
            positive_x=True,
            y_greater_than=y_greater_than,
            min_points=max(min_points, 1),
            min_distinct_x=2,
        )
    return x_arr, y_arr, w


def start_grid(
    form: Form,
    x: np.ndarray,
    y: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    fixed: Mapping[str, float],
) -> tuple[np.ndarray, tuple[int, ...] | None]:
    """Points of the nonlinear start grid, ``(G, len(form.nonlinear))``, and its shape.

    The one grid both the point fit and the bootstrap's grid check search. Each nonlinear
    parameter takes the values of :meth:`Form.nonlinear_grid` within its bounds (a fixed one
    its value); where none is within, the values clipped into the bounds (the bounds' midpoint,
    or one unit inside a half-open bound, without values). The grid is the product of these
    axes (the last varying fastest), or for a form with :attr:`Form.paired_grid` the listed
    points themselves; a grid of more than :data:`MAX_GRID` points is thinned evenly. The
    shape is that of the product, ``None`` for listed or thinned points.
    """
    names, nonlin = form.param_names, form.nonlinear
    raw = form.nonlinear_grid(x, y)
    if form.paired_grid:
        grid, shape = _paired_points(form, raw, lo, hi, fixed), None
    else:
        axes = [_axis(raw, p, names.index(p), lo, hi, fixed) for p in nonlin]
        grid = np.array(list(itertools.product(*axes))) if axes else np.zeros((1, 0))
        shape = tuple(len(a) for a in axes) if axes else None
    if grid.shape[0] > MAX_GRID:
        grid, shape = grid[np.linspace(0, grid.shape[0] - 1, MAX_GRID).astype(int)], None
    return grid, shape


def _axis(raw: Mapping[str, Any], p: str, i: int, lo: np.ndarray, hi: np.ndarray,
          fixed: Mapping[str, float]) -> np.ndarray:  # fmt: skip
    """The grid values of parameter ``p`` (index ``i``) within its bounds."""
    if p in fixed:
        return np.array([fixed[p]])
    vals = np.asarray(raw[p], dtype=float)
    inside = vals[(vals >= lo[i]) & (vals <= hi[i])]
    if inside.size:
        return inside
    if vals.size:
        return np.unique(np.clip(vals, lo[i], hi[i]))
    lo_i, hi_i = lo[i], hi[i]
    if np.isfinite(lo_i + hi_i):
        return np.array([(lo_i + hi_i) / 2])
    return np.array(
        [lo_i + 1.0 if np.isfinite(lo_i) else (hi_i - 1.0 if np.isfinite(hi_i) else 0.0)]
    )


def _paired_points(form: Form, raw: Mapping[str, Any], lo: np.ndarray, hi: np.ndarray,
                   fixed: Mapping[str, float]) -> np.ndarray:  # fmt: skip
    """Listed candidate points of a form with ``paired_grid = True``: fixed parameters take
    their value, points are clipped into the bounds, non-finite rows go."""
    names, nonlin = form.param_names, form.nonlinear
    cols = []
    for p in nonlin:
        i = names.index(p)
        v = np.asarray(raw[p], dtype=float) if p not in fixed else fixed[p]
        cols.append(np.clip(v, lo[i], hi[i]))
    pts = np.column_stack(np.broadcast_arrays(*cols)) if cols else np.zeros((1, 0))
    pts = pts[np.all(np.isfinite(pts), axis=1)]
    return np.unique(pts, axis=0) if pts.size else np.zeros((1, len(nonlin)))


def project_grid(form: Form, loss: Loss, x: np.ndarray, y: np.ndarray, w: np.ndarray,
                 lo: np.ndarray, hi: np.ndarray, fixed: Mapping[str, float],
                 grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Variable projection of every grid point: full parameter vectors ``(G, p)`` with the free
    linear parameters solved by bounded least squares (first-order weights ``w t'(y)**2``,
    ``t(y) - t(yhat) ~ t'(y) (y - yhat)``), and their exact loss ``sum w rho`` (``inf`` where
    not finite). A form without linear parameters is scored at its grid points as they are."""
    names, nonlin, lin = form.param_names, form.nonlinear, list(form.linear)
    free_lin = [p for p in lin if p not in fixed]
    lin_lo = np.array([lo[names.index(p)] for p in free_lin])
    lin_hi = np.array([hi[names.index(p)] for p in free_lin])
    sw = np.sqrt(w * loss.dtransform(y) ** 2)
    ty = loss.transform(y)
    n = x.shape[0]
    chunk = max(1, _CHUNK // max(n * max(len(lin), 1), 1))
    thetas, values = [], []
    for start in range(0, grid.shape[0], chunk):
        g = grid[start : start + chunk]
        theta = np.empty((g.shape[0], len(names)))
        for j, p in enumerate(nonlin):
            theta[:, names.index(p)] = g[:, j]
        for p, v in fixed.items():
            theta[:, names.index(p)] = v
        if not lin:  # nothing to project: score the grid points as they are
            pars = {p: theta[:, [i]] for i, p in enumerate(names)}
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                val = np.sum(w * loss.rho(ty[None, :] - loss.predict_transformed(form, pars, x)), 1)
            thetas.append(theta)
            values.append(np.where(np.isfinite(val), val, np.inf))
            continue
        with np.errstate(all="ignore"):
            B = form.basis({p: g[:, j] for j, p in enumerate(nonlin)}, x)  # (G, n, k)
        target = np.broadcast_to(y, (g.shape[0], n)).copy()
        for j, p in enumerate(lin):
            if p in fixed:
                target -= fixed[p] * B[:, :, j]
        Bf = B[:, :, [lin.index(p) for p in free_lin]] * sw[None, :, None]
        ok = np.all(np.isfinite(Bf), axis=(1, 2)) & np.all(np.isfinite(target), axis=1)
        Bf = np.where(np.isfinite(Bf), Bf, 0.0)
        tw = np.where(np.isfinite(target), target, 0.0) * sw
        coef, _ = la.bounded_lstsq(Bf, tw, lin_lo, lin_hi)
        for j, p in enumerate(free_lin):
            theta[:, names.index(p)] = coef[:, j]
        yhat = np.einsum("gnk,gk->gn", B, theta[:, [names.index(p) for p in lin]])
        with np.errstate(all="ignore"):
            val = np.sum(w * loss.rho(ty[None, :] - loss.transform(yhat)), axis=1)
        thetas.append(theta)
        values.append(np.where(ok & np.isfinite(val), val, np.inf))
    return np.concatenate(thetas), np.concatenate(values)


def grid_starts(form: Form, loss: Loss, x: np.ndarray, y: np.ndarray, w: np.ndarray,
                lo: np.ndarray, hi: np.ndarray, fixed: Mapping[str, float],
                n_starts: int) -> list[np.ndarray]:  # fmt: skip
    """The best ``n_starts`` points of the projected start grid (full parameter vectors), one
    per basin: the grid's local minima, best first; the best one is :meth:`Form.guess`."""
    grid, shape = start_grid(form, x, y, lo, hi, fixed)
    theta, val = project_grid(form, loss, x, y, w, lo, hi, fixed, grid)
    order = np.argsort(val, kind="stable")
    order = order[np.isfinite(val[order])]
    if shape is not None and order.size:
        order = order[_local_minima(val.reshape(shape)).ravel()[order]]
    return [theta[i] for i in order[:n_starts]]


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
