"""with_reshape: run a 2d layer over the last axis of a 3d array."""

import math
from typing import Any, Callable, Optional, Tuple

from .._builtins import builtin
from ..model import Model
from ..types import Array3d


@builtin("layers", "with_reshape.v1")
def with_reshape(layer: Model) -> Model:
    """``with_reshape(f)(X)`` for ``X`` of shape ``(a, b, nI)`` is ``f`` applied
    to the ``a * b`` rows, reshaped to ``(a, b, nO)``. The gradient comes back
    as ``(a, b, nI)`` (Thinc 9.1.1's backprop reshapes ``dY`` to the input
    shape before the layer, which works only when ``nO == nI``)."""
    return Model(f"with_reshape({layer.name})", forward, init=init, layers=[layer],
                 dims={"nO": None, "nI": None})


def forward(model: Model, X: Array3d, is_train: bool) -> Tuple[Array3d, Callable]:
    ops = model.ops
    if getattr(X, "ndim", None) != 3:
        raise ValueError(f"Model {model.name!r} expects a 3d array, got "
                         f"{getattr(X, 'shape', type(X).__name__)}")
    initial_shape = X.shape
    nB, nT = X.shape[:2]
    Y2d, backprop_layer = model.layers[0](ops.reshape2(X, nB * nT, X.shape[2]), is_train)
    Y = ops.reshape3(Y2d, nB, nT, Y2d.shape[1])

    def backprop(dY: Array3d) -> Array3d:
        dX2d = backprop_layer(ops.reshape2(dY, nB * nT, dY.shape[2]))
        return ops.reshape3(dX2d, *initial_shape)

    return Y, backprop


def init(model: Model, X: Optional[Array3d] = None, Y: Optional[Array3d] = None) -> None:
    layer = model.layers[0]
    layer.initialize(X=None if X is None else _rows(model, X),
                     Y=None if Y is None else _rows(model, Y))
    for name in ("nI", "nO"):
        if layer.has_dim(name):
            model.set_dim(name, layer.get_dim(name), force=True)


def _rows(model: Model, X: Any) -> Any:
    """`X` as 2d: its last axis against all the others (also when it is empty)."""
    return model.ops.reshape2(X, math.prod(X.shape[:-1]), X.shape[-1])
