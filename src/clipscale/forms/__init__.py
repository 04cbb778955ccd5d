"""Registry of scaling-law functional forms.

``get(name)`` returns a form instance, ``available()`` lists the names. A new form is one new
class in this package plus one line in ``_REGISTRY``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..exceptions import DataError
from ._base import Form
from .broken import BrokenPowerLaw
from .chinchilla import Chinchilla
from .data_constrained import DataConstrained
from .kaplan import Kaplan
from .power import PowerLaw
from .revisiting import M1, M2, M3, M4
from .saturating import SaturatingPowerLaw
from .shifted import ShiftedPowerLaw

__all__ = [
    "Form",
    "PowerLaw",
    "SaturatingPowerLaw",
    "ShiftedPowerLaw",
    "BrokenPowerLaw",
    "Chinchilla",
    "Kaplan",
    "DataConstrained",
    "M1",
    "M2",
    "M3",
    "M4",
    "get",
    "available",
    "from_spec",
    "register",
]

_REGISTRY: dict[str, Callable[..., Form]] = {
    "power": PowerLaw,
    "saturating": SaturatingPowerLaw,
    "shifted": ShiftedPowerLaw,
    "broken": BrokenPowerLaw,
    "chinchilla": Chinchilla,
    "kaplan": Kaplan,
    "data_constrained": DataConstrained,
    "m1": M1,
    "m2": M2,
    "m3": M3,
    "m4": M4,
}


def available() -> list[str]:
    """Names of the registered forms, sorted."""
    return sorted(_REGISTRY)


def get(name: str | Form, **options: Any) -> Form:
    """Return the form registered as ``name`` (options such as ``n_breaks`` pass through).

    A :class:`Form` instance is returned unchanged.
    """
    if isinstance(name, Form):
        if options:
            raise DataError("options can only be given with a form name, not a form instance")
        return name
    if not isinstance(name, str) or name not in _REGISTRY:
        raise DataError(
            f"unknown form {name!r}; available forms: {', '.join(available())} "
            "(or pass a clipscale.forms.Form instance)"
        )
    return _REGISTRY[name](**options)


def from_spec(spec: Mapping[str, Any]) -> Form:
    """Rebuild a form from :meth:`Form.spec` output."""
    options = {k: v for k, v in spec.items() if k != "name"}
    return get(str(spec["name"]), **options)


def register(name: str, factory: Callable[..., Form]) -> None:
    """Register a user-defined form under ``name`` (replacing none of the built-ins)."""
    if name in _REGISTRY:
        raise DataError(f"a form named {name!r} is already registered")
    _REGISTRY[name] = factory
