"""tuplify: give each child layer the same input and return their outputs as a tuple."""

from typing import Any, Callable, Optional, Tuple

from .._builtins import builtin
from ..model import Model


@builtin("layers", "tuplify.v1")
def tuplify(layer1: Model, layer2: Model, *layers: Model) -> Model:
    """``tuplify(f, g)(X) == (f(X), g(X))``; ``dX`` is the sum of the layers' ``dX``.

    As in Thinc: at least two layers (fewer is a TypeError), and nested calls
    are kept as they are (``a & b & c`` is ``tuplify(tuplify(a, b), c)``).
    """
    all_layers = [layer1, layer2, *layers]
    for i, layer in enumerate(all_layers):
        if not isinstance(layer, Model):
            raise TypeError(f"tuplify: argument {i} is a {type(layer).__name__}, not a Model")
    names = ", ".join(layer.name for layer in all_layers)
    return Model(f"tuple({names})", forward, init=init, layers=all_layers, dims={"nI": None})


def forward(model: Model, X: Any, is_train: bool) -> Tuple[Tuple, Callable]:
    outputs = [layer(X, is_train) for layer in model.layers]

    def backprop(dYs: Tuple) -> Any:
        if len(dYs) != len(outputs):
            raise ValueError(f"backprop of model {model.name!r}: expected {len(outputs)} "
                             f"gradients, got {len(dYs)}")
        dXs = [bp(dY) for (_, bp), dY in zip(outputs, dYs)]
        dX = dXs[0] + dXs[1]  # a new array: never write into a child's gradient
        for d_part in dXs[2:]:
            dX += d_part
        return dX

    return tuple(Y for Y, _ in outputs), backprop


def init(model: Model, X: Any = None, Y: Optional[Tuple] = None) -> None:
    """Each layer sees the sample `X`; layer ``i`` whose ``nO`` is unset sees ``Y[i]``."""
    for i, layer in enumerate(model.layers):
        if Y is not None and layer.has_dim("nO") is None:
            layer.initialize(X=X, Y=Y[i])
        else:
            layer.initialize(X=X)
    if model.layers[0].has_dim("nI"):
        model.set_dim("nI", model.layers[0].get_dim("nI"), force=True)
