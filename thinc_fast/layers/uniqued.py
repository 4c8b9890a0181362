"""uniqued: run a layer only on the distinct rows (by one key column) of a batch."""

from typing import Callable, Optional, Tuple

import numpy

from .._builtins import builtin
from ..model import Model
from ..types import Floats2d, Ints2d


@builtin("layers", "uniqued.v1")
def uniqued(layer: Model, *, column: int = 0) -> Model:
    """A per-batch cache: rows with the same value in `column` are computed
    once, and the output rows are copied back to every occurrence. Backprop
    sums the gradients of the occurrences, runs the layer's backprop on the
    unique rows, and gives each occurrence its row's input gradient divided
    by the number of occurrences (as Thinc)."""
    return Model(f"uniqued({layer.name})", forward, init=init, layers=[layer],
                 dims={"nO": None, "nI": None}, attrs={"column": column})


def forward(model: Model, X: Ints2d, is_train: bool) -> Tuple[Floats2d, Callable]:
    column = model.attrs["column"]
    layer = model.layers[0]
    if X.size < 2:
        return layer(X, is_train)
    ops = layer.ops
    # grouped on the host with NumPy: the same order on every backend
    _, first, inverse, counts = numpy.unique(ops.to_numpy(X[:, column]), return_index=True,
                                             return_inverse=True, return_counts=True)
    first = ops.asarray(first)
    inverse = ops.asarray_i(inverse.reshape(-1))
    counts = ops.reshape2i(ops.asarray_i(counts), -1, 1)
    Y_uniq, backprop_uniq = layer(X[first], is_train)
    Y = Y_uniq[inverse].reshape((X.shape[0],) + Y_uniq.shape[1:])
    uniq_shape = tuple(Y_uniq.shape)

    def backprop(dY: Floats2d) -> Ints2d:
        dY_uniq = ops.alloc(uniq_shape, dtype=dY.dtype)
        ops.scatter_add(dY_uniq, inverse, dY)
        d_uniques = backprop_uniq(dY_uniq)
        return (d_uniques / counts)[inverse]

    return Y, backprop


def init(model: Model, X: Optional[Ints2d] = None, Y: Optional[Floats2d] = None) -> None:
    layer = model.layers[0]
    layer.initialize(X=X, Y=Y)
    for name in ("nI", "nO"):
        if layer.has_dim(name):
            model.set_dim(name, layer.get_dim(name), force=True)
