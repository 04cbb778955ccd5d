"""The declarative base class every functional form derives from."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np

__all__ = ["Form", "exponent_grid", "log_range"]

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

    def guess(self, x: Any, y: Any) -> dict[str, float]:
        """A data-driven initial guess: the best start-grid point with its linear parameters
        solved exactly (see :func:`clipscale.fitting.initial_guess`)."""
        from ..fitting import initial_guess

        return initial_guess(self, x, y)

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
