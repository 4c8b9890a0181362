"""with_getitem: apply a layer to one item of a tuple, passing the others through."""

from typing import Any, Callable, Optional, Tuple

from .._builtins import builtin
from ..model import Model


@builtin("layers", "with_getitem.v1")
def with_getitem(idx: int, layer: Model) -> Model:
    """``with_getitem(1, f)((a, b, c)) == (a, f(b), c)``; backprop likewise
    replaces item `idx` of the gradient tuple by the layer's ``dX``."""
    return Model(f"with_getitem({layer.name})", forward, init=init, layers=[layer],
                 attrs={"idx": idx})


def forward(model: Model, items: Tuple[Any, ...], is_train: bool
            ) -> Tuple[Tuple[Any, ...], Callable]:
    idx = model.attrs["idx"]
    items = tuple(items)
    Y_i, backprop_item = model.layers[0](items[idx], is_train)

    def backprop(d_output: Tuple[Any, ...]) -> Tuple[Any, ...]:
        d_output = tuple(d_output)
        return _replace(d_output, idx, backprop_item(d_output[idx]))

    return _replace(items, idx, Y_i), backprop


def _replace(items: Tuple[Any, ...], idx: int, value: Any) -> Tuple[Any, ...]:
    out = list(items)
    out[idx] = value
    return tuple(out)


def init(model: Model, X: Optional[Tuple[Any, ...]] = None,
         Y: Optional[Tuple[Any, ...]] = None) -> None:
    idx = model.attrs["idx"]
    model.layers[0].initialize(X=None if X is None else X[idx],
                               Y=None if Y is None else Y[idx])
