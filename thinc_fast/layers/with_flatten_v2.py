"""with_flatten (v2): run a list layer over the items of nested lists, all at once."""

from typing import Any, Callable, List, Optional, Tuple

from .._builtins import builtin
from ..model import Model


@builtin("layers", "with_flatten.v2")
def with_flatten_v2(layer: Model) -> Model:
    """Give `layer` the items of every inner list as one flat list, and split
    its output (and the gradient on the way back) into lists of the same
    lengths. ``with_flatten_v2(f)([[1, 2], [3]]) == [f([1, 2, 3])[:2], f(...)[2:]]``."""
    return Model(f"with_flatten({layer.name})", forward, layers=[layer], init=init)


def forward(model: Model, Xnest: List[List[Any]], is_train: bool
            ) -> Tuple[List[List[Any]], Callable]:
    layer = model.layers[0]
    Xflat, lengths = _flatten(Xnest)
    Yflat, backprop_layer = layer(Xflat, is_train)

    def backprop(dYnest: List[List[Any]]) -> List[List[Any]]:
        return _unflatten(backprop_layer(_flatten(dYnest)[0]), lengths)

    return _unflatten(Yflat, lengths), backprop


def _flatten(nested: List[List[Any]]) -> Tuple[List[Any], List[int]]:
    flat: List[Any] = []
    lengths: List[int] = []
    for item in nested:
        flat.extend(item)
        lengths.append(len(item))
    return flat, lengths


def _unflatten(flat: Any, lengths: List[int]) -> List[Any]:
    nested = []
    start = 0
    for n in lengths:
        nested.append(flat[start:start + n])
        start += n
    return nested


def init(model: Model, X: Optional[List[List[Any]]] = None,
         Y: Optional[List[List[Any]]] = None) -> None:
    """The layer sees the flat samples (Thinc passes ``xp.hstack(Y)`` as `Y`;
    this passes the flat list, the layer's own output type)."""
    model.layers[0].initialize(None if X is None else _flatten(X)[0],
                               None if Y is None else _flatten(Y)[0])
