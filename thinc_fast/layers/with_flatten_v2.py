"""with_flatten (v2): run a list layer over the items of nested lists, all at once."""

from typing import Any, Callable, List, Optional, Tuple

from .._builtins import builtin
from ..model import Model
from ._wrap import flatten_nested, split_flat


@builtin("layers", "with_flatten.v2")
def with_flatten_v2(layer: Model) -> Model:
    """Give `layer` the items of every inner list as one flat list, and split
    its output (and the gradient on the way back) into lists of the same
    lengths. ``with_flatten_v2(f)([[1, 2], [3]]) == [f([1, 2, 3])[:2], f(...)[2:]]``."""
    return Model(f"with_flatten({layer.name})", forward, layers=[layer], init=init)


def forward(model: Model, Xnest: List[List[Any]], is_train: bool
            ) -> Tuple[List[List[Any]], Callable]:
    layer = model.layers[0]
    Xflat, lengths = flatten_nested(Xnest)
    Yflat, backprop_layer = layer(Xflat, is_train)

    def backprop(dYnest: List[List[Any]]) -> List[List[Any]]:
        return split_flat(backprop_layer(flatten_nested(dYnest)[0]), lengths)

    return split_flat(Yflat, lengths), backprop


def init(model: Model, X: Optional[List[List[Any]]] = None,
         Y: Optional[List[List[Any]]] = None) -> None:
    """The layer sees the flat samples (Thinc passes ``xp.hstack(Y)`` as `Y`;
    this passes the flat list, the layer's own output type)."""
    model.layers[0].initialize(None if X is None else flatten_nested(X)[0],
                               None if Y is None else flatten_nested(Y)[0])
