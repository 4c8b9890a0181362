"""with_flatten: run a layer over the items of a batch of sequences, all at once."""

from typing import Any, Callable, List, Optional, Sequence, Tuple

from .._builtins import builtin
from ..model import Model
from ._wrap import flatten_nested, split_flat


@builtin("layers", "with_flatten.v1")
def with_flatten(layer: Model) -> Model:
    """Give `layer` the items of every sequence as one flat list and split its
    output array back into one array per sequence (rows in sequence order).

    Differences from Thinc's v1, which has bugs here: the gradient is split
    along the first axis (Thinc splits the last), an empty batch gives an empty
    list, and ``initialize`` gives the layer the sample outputs joined row-wise.
    """
    return Model(f"with_flatten({layer.name})", forward, layers=[layer], init=init)


def forward(model: Model, Xnest: Sequence[Sequence[Any]], is_train: bool
            ) -> Tuple[List[Any], Callable]:
    layer = model.layers[0]
    Xflat, lengths = flatten_nested(Xnest)
    Yflat, backprop_layer = layer(Xflat, is_train)

    def backprop(dYnest: List[Any]) -> List[Any]:
        return split_flat(backprop_layer(model.ops.flatten(dYnest)), lengths)

    return split_flat(Yflat, lengths), backprop


def init(model: Model, X: Optional[Sequence[Sequence[Any]]] = None,
         Y: Optional[List[Any]] = None) -> None:
    layer = model.layers[0]
    layer.initialize(None if X is None else flatten_nested(X)[0],
                     None if Y is None else layer.ops.flatten(Y))
