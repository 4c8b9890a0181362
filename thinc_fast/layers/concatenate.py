"""concatenate: run layers on the same input and join their outputs column-wise."""

from typing import Any, Callable, List, Tuple

from ..model import Model
from ..util import check_grad, check_input2f


def concatenate(*layers: Model) -> Model:
    """``Y = hstack([layer(X) for layer in layers])``; ``dX`` sums the layers' ``dX``."""
    if not layers:
        raise ValueError("concatenate needs at least one layer")
    for i, layer in enumerate(layers):
        if not isinstance(layer, Model):
            raise TypeError(f"concatenate: argument {i} is a {type(layer).__name__}, not a Model")
    return Model("|".join(layer.name for layer in layers), forward, init=init,
                 dims={"nO": _total_width(layers), "nI": layers[0].maybe_get_dim("nI")},
                 layers=list(layers))


def _total_width(layers: List[Model]):
    widths = [layer.maybe_get_dim("nO") for layer in layers]
    return None if any(w is None for w in widths) else sum(widths)


def init(model: Model, X: Any = None, Y: Any = None) -> None:
    for layer in model.layers:
        layer.initialize(X=X)
    if model.layers[0].has_dim("nI"):
        model.set_dim("nI", model.layers[0].get_dim("nI"), force=True)
    total = _total_width(model.layers)
    if total is not None:
        model.set_dim("nO", total, force=True)


def forward(model: Model, X: Any, is_train: bool) -> Tuple[Any, Callable]:
    X = check_input2f(model, X, dim=None)
    outputs = [layer(X, is_train) for layer in model.layers]
    widths = [Y_i.shape[1] for Y_i, _ in outputs]
    Y = model.ops.xp.hstack([Y_i for Y_i, _ in outputs])

    def backprop(dY: Any) -> Any:
        dY = check_grad(model, dY, Y.shape)
        start = 0
        dX = None
        for (_, backprop_layer), width in zip(outputs, widths):
            d_part = backprop_layer(dY[:, start:start + width])
            start += width
            dX = d_part if dX is None else dX + d_part
        return dX

    return Y, backprop
