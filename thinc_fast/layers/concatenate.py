"""concatenate: run layers on the same input and join their outputs column-wise."""

from typing import Any, Callable, Dict, List, Optional, Tuple

from .._builtins import builtin
from ..model import Model
from ..util import check_grad, check_input2f
from .clone import noop
from .linear import input_width


@builtin("layers", "concatenate.v1")
def concatenate(*layers: Model) -> Model:
    """``Y = hstack([layer(X) for layer in layers])``; ``dX`` sums the layers' ``dX``.

    As in Thinc: no layers gives ``noop()``, one layer gives that layer, and
    when the first layer is itself a concatenation the others are appended to
    it (so ``a | b | c`` is one concatenation of three layers).
    """
    for i, layer in enumerate(layers):
        if not isinstance(layer, Model):
            raise TypeError(f"concatenate: argument {i} is a {type(layer).__name__}, not a Model")
    if not layers:
        return noop()
    if len(layers) == 1:
        return layers[0]
    if layers[0]._func is forward:
        first = layers[0]
        first.layers.extend(layers[1:])
        if first.has_dim("nO") is not False:
            first.set_dim("nO", _total_width(first.layers), force=True)
        return first
    dims: Dict[str, Optional[int]] = {"nO": _total_width(layers)}
    if all(layer.has_dim("nI") is not False for layer in layers):
        dims["nI"] = layers[0].maybe_get_dim("nI")
    return Model("|".join(layer.name for layer in layers), forward, init=init,
                 dims=dims, layers=list(layers))


def _total_width(layers: List[Model]) -> Optional[int]:
    widths = [layer.maybe_get_dim("nO") for layer in layers]
    return None if any(w is None for w in widths) else sum(widths)


def init(model: Model, X: Any = None, Y: Any = None) -> None:
    """Every layer sees the sample input `X` (and its width as ``nI``) and the
    sample output `Y` (a layer whose ``nO`` is set ignores it)."""
    if X is not None:
        width = input_width(model, X)
        if model.has_dim("nI") is not False:
            model.set_dim("nI", width)
        for layer in model.layers:
            if layer.has_dim("nI") is not False:
                layer.set_dim("nI", width)
    for layer in model.layers:
        layer.initialize(X=X, Y=Y)
    if model.has_dim("nI") is None and model.layers[0].has_dim("nI"):
        model.set_dim("nI", model.layers[0].get_dim("nI"))
    total = _total_width(model.layers)
    if total is not None and model.has_dim("nO") is not False:
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
            d_part = backprop_layer(model.ops.as_contig(dY[:, start:start + width]))
            start += width
            dX = d_part if dX is None else dX + d_part
        return dX

    return Y, backprop
