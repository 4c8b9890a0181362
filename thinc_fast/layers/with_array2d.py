"""with_array2d: run a 2d-array layer on the rows behind a batch of sequences."""

from typing import Any, Callable, Optional, Tuple, TypeVar, Union

from .._builtins import builtin
from ..model import Model
from ..types import Array2d, List2d, Padded, Ragged
from ._wrap import array_forward, array_init, array_model

SeqT = TypeVar("SeqT", bound=Union[Padded, Ragged, List2d, Array2d])


@builtin("layers", "with_array2d.v1")
def with_array2d(layer: Model, pad: int = 0) -> Model:
    """As :func:`with_array`, but the layer always sees a 2d array: a Ragged
    passes its 2d ``data``, a Padded its ``(steps * batch, width)`` rows."""
    return array_model(layer, pad, forward, init)


def forward(model: Model, Xseq: SeqT, is_train: bool) -> Tuple[SeqT, Callable]:
    return array_forward(model, Xseq, is_train, _ragged_forward, _padded_forward)


def init(model: Model, X: Optional[SeqT] = None, Y: Optional[SeqT] = None) -> None:
    array_init(model, X, Y, _get_array)


def _get_array(model: Model, X: Any) -> Any:
    if isinstance(X, Ragged):
        return X.data
    if isinstance(X, Padded):
        nS, nB, nI = X.data.shape
        return model.ops.reshape2(X.data, nS * nB, nI)
    if isinstance(X, (list, tuple)):
        return model.ops.flatten(X)
    return X


def _ragged_forward(model: Model, Xr: Ragged, is_train: bool) -> Tuple[Ragged, Callable]:
    Y, get_dX = model.layers[0](Xr.data, is_train)
    x_shape = Xr.dataXd.shape

    def backprop(dYr: Ragged) -> Ragged:
        return Ragged(get_dX(dYr.data).reshape(x_shape), dYr.lengths)

    return Ragged(Y, Xr.lengths), backprop


def _padded_forward(model: Model, Xp: Padded, is_train: bool) -> Tuple[Padded, Callable]:
    ops = model.ops
    nS, nB = Xp.data.shape[:2]
    Y2d, get_dX = model.layers[0](ops.reshape2(Xp.data, nS * nB, Xp.data.shape[2]), is_train)

    def backprop(dYp: Padded) -> Padded:
        dY = dYp.data
        dX2d = get_dX(ops.reshape2(dY, dY.shape[0] * dY.shape[1], dY.shape[2]))
        dX = ops.reshape3(dX2d, dY.shape[0], dY.shape[1], dX2d.shape[1])
        return Padded(dX, dYp.size_at_t, dYp.lengths, dYp.indices)

    return Padded(ops.reshape3(Y2d, nS, nB, Y2d.shape[1]), Xp.size_at_t, Xp.lengths,
                  Xp.indices), backprop
