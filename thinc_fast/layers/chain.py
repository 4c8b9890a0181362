"""chain: compose layers so that each one's output is the next one's input."""

from typing import Any, Callable, Dict, List, Optional, Tuple

from .._builtins import builtin
from ..model import Model
from ..util import get_width


def chain(layer1: Model, layer2: Model, *layers: Model) -> Model:
    """``chain(a, b, c)(X) == c(b(a(X)))``; backprop runs through them in reverse.

    As in Thinc: at least two layers (fewer is a TypeError), and nested chains
    are kept as they are (``a >> b >> c`` is ``chain(chain(a, b), c)``).
    """
    all_layers = [layer1, layer2, *layers]
    for i, layer in enumerate(all_layers):
        if not isinstance(layer, Model):
            raise TypeError(f"chain: argument {i} is a {type(layer).__name__}, not a Model")
    dims: Dict[str, Optional[int]] = {"nO": all_layers[-1].maybe_get_dim("nO")}
    if all_layers[0].has_dim("nI") is not False:  # a chain has nI if its first layer has
        dims["nI"] = all_layers[0].maybe_get_dim("nI")
    return Model(">>".join(layer.name for layer in all_layers), forward, init=init,
                 dims=dims, layers=all_layers)


@builtin("layers", "chain.v1")
def chain_any(*layer: Model) -> Model:
    """``chain`` with only variable arguments: what the registry's ``chain.v1``
    calls (so a config's ``[model.*.name]`` blocks fill it)."""
    return chain(*layer)


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
    on the sample `X`. As in Thinc, every layer whose ``nO`` is unset is also
    given the sample output `Y` (so it infers its width from it). A layer with
    an unset ``nI`` takes the previous layer's ``nO`` (the first, the chain's),
    and a set ``nO`` of the chain goes to a last layer whose ``nO`` is unset."""
    layers = model.layers
    if model.has_dim("nI") and layers[0].has_dim("nI") is None:
        layers[0].set_dim("nI", model.get_dim("nI"))
    if model.has_dim("nO") and layers[-1].has_dim("nO") is None:
        layers[-1].set_dim("nO", model.get_dim("nO"))
    if X is None and Y is None:
        # Thinc initialises every layer once without data first, then again
        # below: the weights are the second draw, and with the same seed
        # they equal Thinc's only if the first is drawn too. Thinc raises
        # where a layer cannot initialise without data yet; here the pass
        # below, which passes widths on, decides.
        for i, layer in enumerate(layers):
            if i > 0 and layer.has_dim("nI") is None and layers[i - 1].has_dim("nO"):
                layer.set_dim("nI", layers[i - 1].get_dim("nO"))
            try:
                layer.initialize()
            except ValueError:
                pass
    current = X
    for i, layer in enumerate(layers):
        if i > 0 and layer.has_dim("nI") is None and layers[i - 1].has_dim("nO"):
            layer.set_dim("nI", layers[i - 1].get_dim("nO"))
        if layer.has_dim("nO") is None:
            layer.initialize(X=current, Y=Y)
        else:
            layer.initialize(X=current)
        if current is not None:
            current = layer.predict(current)
    if model.has_dim("nI") is not False and layers[0].has_dim("nI"):
        model.set_dim("nI", layers[0].get_dim("nI"), force=True)
    if layers[-1].has_dim("nO"):
        model.set_dim("nO", layers[-1].get_dim("nO"), force=True)
    elif model.has_dim("nO") is None and current is not None:
        try:
            model.set_dim("nO", get_width(current))
        except ValueError:
            pass
