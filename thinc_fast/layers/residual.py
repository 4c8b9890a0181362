"""residual: ``Y = X + layer(X)``."""

from typing import Any, Callable, Tuple

from .._builtins import builtin
from ..model import Model
from ..util import check_input2f


@builtin("layers", "residual.v1")
def residual(layer: Model) -> Model:
    """Add the input to the output of `layer` (which must keep the width)."""
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
    X = check_input2f(model, X, dim=None)
    Y_inner, backprop_layer = model.layers[0](X, is_train)
    if Y_inner.shape != X.shape:
        raise ValueError(f"residual: layer {model.layers[0].name!r} maps shape {X.shape} to "
                         f"{Y_inner.shape}; a residual connection needs the same shape")
    Y = X + Y_inner

    def backprop(dY: Any) -> Any:
        return backprop_layer(dY) + dY

    return Y, backprop
