"""clone: a chain of `n` independent copies of a layer; noop: the identity."""

from typing import Any, Callable, Tuple

from .._builtins import builtin
from ..model import Model
from .chain import chain


@builtin("layers", "clone.v1")
def clone(orig: Model, n: int) -> Model:
    """``chain(orig, orig.copy(), ...)`` with `n` layers in all (``n == 0``: identity)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"clone: n must be a non-negative int, got {n!r}")
    if n == 0:
        return noop()
    if n == 1:
        return orig
    return chain(orig, *(orig.copy() for _ in range(n - 1)))


@builtin("layers", "noop.v1")
def noop(*layers: Model) -> Model:
    """The identity layer; any `layers` given are kept as (unused) children,
    as in Thinc."""
    for i, layer in enumerate(layers):
        if not isinstance(layer, Model):
            raise TypeError(f"noop: argument {i} is a {type(layer).__name__}, not a Model")
    return Model("noop", _identity, layers=list(layers))


def _identity(model: Model, X: Any, is_train: bool) -> Tuple[Any, Callable]:
    return X, lambda dY: dY
