"""add: run layers on the same input and sum their outputs."""

from typing import Any, Callable, Dict, Optional, Tuple

from .._builtins import builtin
from ..model import Model
from ..util import get_width


@builtin("layers", "add.v1")
def add(layer1: Model, layer2: Model, *layers: Model) -> Model:
    """``add(f, g)(X) == f(X) + g(X)``; every layer gets ``dY`` and ``dX`` sums theirs.

    As in Thinc: at least two layers (fewer is a TypeError); when the first
    layer is itself an ``add``, the others are appended to it (so
    ``add(add(a, b), c)`` has three layers); the model has ``nI`` only if
    every layer has (or may have) one.
    """
    all_layers = [layer1, layer2, *layers]
    for i, layer in enumerate(all_layers):
        if not isinstance(layer, Model):
            raise TypeError(f"add: argument {i} is a {type(layer).__name__}, not a Model")
    if layer1._func is forward:
        layer1.layers.extend(all_layers[1:])
        return layer1
    dims: Dict[str, Optional[int]] = {"nO": None}
    if all(layer.has_dim("nI") is not False for layer in all_layers):
        dims["nI"] = None
    return Model("add", forward, init=init, dims=dims, layers=all_layers)


def forward(model: Model, X: Any, is_train: bool) -> Tuple[Any, Callable]:
    if not model.layers:
        return X, lambda dY: dY
    outputs = [layer(X, is_train) for layer in model.layers]
    Y = outputs[0][0]
    for i, (Y_i, _) in enumerate(outputs[1:], 1):
        if Y_i.shape != outputs[0][0].shape:
            raise ValueError(f"Model {model.name!r}: layer {i} ({model.layers[i].name!r}) "
                             f"gives shape {Y_i.shape}, layer 0 gives {outputs[0][0].shape}")
        if i == 1:
            Y = Y + Y_i  # a new array: never write into a child's output
        else:
            Y += Y_i

    def backprop(dY: Any) -> Any:
        dXs = [bp(dY) for _, bp in outputs]
        if len(dXs) == 1:
            return dXs[0]
        dX = dXs[0] + dXs[1]  # a new array: never write into a child's gradient
        for d_part in dXs[2:]:
            dX += d_part
        return dX

    return Y, backprop


def init(model: Model, X: Any = None, Y: Any = None) -> None:
    """The sample `X` gives every layer its ``nI`` and the sample `Y` its
    ``nO``; the model's ``nO`` is the first layer's."""
    if X is not None:
        _set_width(model, "nI", get_width(X))
    if Y is not None:
        _set_width(model, "nO", get_width(Y))
    for layer in model.layers:
        layer.initialize(X=X, Y=Y)
    model.set_dim("nO", model.layers[0].get_dim("nO"), force=True)


def _set_width(model: Model, name: str, width: int) -> None:
    """Set dim `name` on the model and on every layer that has (or may have) it."""
    for node in (model, *model.layers):
        if node.has_dim(name) is not False:
            node.set_dim(name, width)
