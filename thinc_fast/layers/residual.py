"""residual: ``Y = X + layer(X)``."""

from typing import Any, Callable, Tuple

from .._builtins import builtin
from ..model import Model
from ..types import Padded, Ragged
from ._util import check_input2f


@builtin("layers", "residual.v1")
def residual(layer: Model) -> Model:
    """Add the input to the output of `layer` (which must keep the shape).
    X may be an array, a Ragged, a Padded or a list of arrays; the output and
    the gradient are of the same kind (the gradient of X is
    ``dY + layer's dX``)."""
    if not isinstance(layer, Model):
        raise TypeError(f"residual expects a Model, got {type(layer).__name__}")
    dims = {"nO": layer.maybe_get_dim("nO"), "nI": layer.maybe_get_dim("nI")}
    return Model(f"residual({layer.name})", forward, init=init, dims=dims, layers=[layer])


def init(model: Model, X: Any = None, Y: Any = None) -> None:
    layer = model.layers[0]
    if layer.has_dim("nO") is None:
        layer.initialize(X=X, Y=Y)
    else:
        layer.initialize(X=X)
    for dim in ("nO", "nI"):
        if layer.has_dim(dim):
            model.set_dim(dim, layer.get_dim(dim), force=True)


def forward(model: Model, X: Any, is_train: bool) -> Tuple[Any, Callable]:
    if not isinstance(X, (Ragged, Padded, list, tuple)):
        X = check_input2f(model, X, dim=None)
    Y_inner, backprop_layer = model.layers[0](X, is_train)
    Y = _add(model, X, Y_inner, "output")

    def backprop(dY: Any) -> Any:
        return _add(model, dY, backprop_layer(dY), "gradient")

    return Y, backprop


def _add(model: Model, a: Any, b: Any, what: str) -> Any:
    """``a + b`` for two values of one kind (arrays, Ragged, Padded, lists)."""
    if isinstance(a, Ragged):
        b = _same_kind(model, a, b, what)
        _same_shape(model, a.dataXd, b.dataXd, what)
        return Ragged(a.dataXd + b.dataXd, a.lengths)
    if isinstance(a, Padded):
        b = _same_kind(model, a, b, what)
        _same_shape(model, a.data, b.data, what)
        return Padded(a.data + b.data, b.size_at_t, b.lengths, b.indices)
    if isinstance(a, (list, tuple)):
        b = _same_kind(model, a, b, what)
        if len(a) != len(b):
            raise ValueError(f"residual: layer {model.layers[0].name!r} maps {len(a)} items to "
                             f"{len(b)}; a residual connection needs as many")
        for a_i, b_i in zip(a, b):
            _same_shape(model, a_i, b_i, what)
        return type(a)(a_i + b_i for a_i, b_i in zip(a, b))
    _same_shape(model, a, b, what)
    return a + b


def _same_kind(model: Model, a: Any, b: Any, what: str) -> Any:
    if not isinstance(b, (list, tuple) if isinstance(a, (list, tuple)) else type(a)):
        raise TypeError(f"residual: layer {model.layers[0].name!r} gives a "
                        f"{type(b).__name__} {what} for a {type(a).__name__}")
    return b


def _same_shape(model: Model, a: Any, b: Any, what: str) -> None:
    if getattr(a, "shape", None) != getattr(b, "shape", None):
        raise ValueError(f"residual: layer {model.layers[0].name!r} maps shape "
                         f"{getattr(a, 'shape', None)} to {getattr(b, 'shape', None)} "
                         f"({what}); a residual connection needs the same shape")
