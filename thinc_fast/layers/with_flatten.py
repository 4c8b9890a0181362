"""with_flatten: run a layer over the items of a batch of sequences, all at once."""

from typing import Any, Callable, List, Optional, Sequence, Tuple

from .._builtins import builtin
from ..model import Model
from ._wrap import flatten_nested, split_flat


@builtin("layers", "with_flatten.v1")
def with_flatten(layer: Model) -> Model:
    """Give `layer` the items of every sequence as one flat list and split its
    output array back into one array per sequence (rows in sequence order).

    As in Thinc, the pieces are arrays also when `layer` returns a list (of
    equal-shaped arrays: stacked first), and so is the gradient returned.
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
        return split_flat(_stacked(model, backprop_layer(model.ops.flatten(dYnest))), lengths)

    return split_flat(_stacked(model, Yflat), lengths), backprop


def _stacked(model: Model, flat: Any) -> Any:
    """A list of arrays of one shape as one array (as Thinc's ``xp.split``
    of the list makes it); anything else as it is."""
    if isinstance(flat, list) and flat and all(hasattr(item, "shape") for item in flat) and \
            len({(tuple(item.shape), item.dtype) for item in flat}) == 1:
        return model.ops.xp.stack(flat)
    return flat


def init(model: Model, X: Optional[Sequence[Sequence[Any]]] = None,
         Y: Optional[List[Any]] = None) -> None:
    layer = model.layers[0]
    layer.initialize(None if X is None else flatten_nested(X)[0],
                     None if Y is None else layer.ops.flatten(Y))
