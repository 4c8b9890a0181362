"""map_list: apply one layer to each item of a list."""

from typing import Any, Callable, List, Optional, Tuple

from ..model import Model


def map_list(layer: Model) -> Model:
    """``map_list(f)([X1, X2]) == [f(X1), f(X2)]``; backprop maps the callbacks."""
    if not isinstance(layer, Model):
        raise TypeError(f"map_list: argument 0 is a {type(layer).__name__}, not a Model")
    return Model("map_list", forward, layers=[layer], init=init)


def forward(model: Model, Xs: List[Any], is_train: bool) -> Tuple[List[Any], Callable]:
    layer = model.layers[0]
    outputs = [layer(X, is_train) for X in Xs]

    def backprop(dYs: List[Any]) -> List[Any]:
        if len(dYs) != len(outputs):
            raise ValueError(f"backprop of model {model.name!r}: expected {len(outputs)} "
                             f"gradients, got {len(dYs)}")
        return [bp(dY) for (_, bp), dY in zip(outputs, dYs)]

    return [Y for Y, _ in outputs], backprop


def init(model: Model, X: Optional[List[Any]] = None, Y: Optional[List[Any]] = None) -> None:
    """The layer is initialised on the first item of the samples."""
    model.layers[0].initialize(X=X[0] if X else None, Y=Y[0] if Y else None)
