"""chain: compose layers so that each one's output is the next one's input."""

from typing import Any, Callable, List, Tuple

from ..model import Model


def chain(*layers: Model) -> Model:
    """``chain(a, b, c)(X) == c(b(a(X)))``; backprop runs through them in reverse."""
    if not layers:
        raise ValueError("chain needs at least one layer")
    for i, layer in enumerate(layers):
        if not isinstance(layer, Model):
            raise TypeError(f"chain: argument {i} is a {type(layer).__name__}, not a Model")
    dims = {"nO": layers[-1].maybe_get_dim("nO"), "nI": layers[0].maybe_get_dim("nI")}
    return Model(">>".join(layer.name for layer in layers), forward, init=init,
                 dims=dims, layers=list(layers))


def forward(model: Model, X: Any, is_train: bool) -> Tuple[Any, Callable]:
    callbacks: List[Callable] = []
    for layer in model.layers:
        X, backprop_layer = layer(X, is_train)
        callbacks.append(backprop_layer)

    def backprop(dY: Any) -> Any:
        for backprop_layer in reversed(callbacks):
            dY = backprop_layer(dY)
        return dY

    return X, backprop


def init(model: Model, X: Any = None, Y: Any = None) -> None:
    """Initialise the layers in order, feeding each the previous one's output
    on the sample `X`, so that every missing width is inferred."""
    layers = model.layers
    current = X
    for i, layer in enumerate(layers):
        if i > 0 and layer.has_dim("nI") is None and layers[i - 1].has_dim("nO"):
            layer.set_dim("nI", layers[i - 1].get_dim("nO"))
        is_last = i == len(layers) - 1
        layer.initialize(X=current, Y=Y if is_last else None)
        if current is not None and not is_last:
            current = layer.predict(current)
    if layers[0].has_dim("nI"):
        model.set_dim("nI", layers[0].get_dim("nI"), force=True)
    if layers[-1].has_dim("nO"):
        model.set_dim("nO", layers[-1].get_dim("nO"), force=True)
