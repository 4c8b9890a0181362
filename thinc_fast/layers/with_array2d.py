"""with_array2d: run a 2d-array layer on the rows behind a batch of sequences."""

from typing import Any, Callable, List, Optional, Tuple, TypeVar, Union

import numpy

from .._builtins import builtin
from ..model import Model
from ..types import Array2d, List2d, Padded, Ragged

SeqT = TypeVar("SeqT", bound=Union[Padded, Ragged, List2d, Array2d])


@builtin("layers", "with_array2d.v1")
def with_array2d(layer: Model, pad: int = 0) -> Model:
    """As :func:`with_array`, but the layer always sees a 2d array: a Ragged
    passes its 2d ``data``, a Padded its ``(steps * batch, width)`` rows."""
    return Model(f"with_array({layer.name})", forward, init=init, layers=[layer],
                 attrs={"pad": pad},
                 dims={name: layer.maybe_get_dim(name) for name in layer.dim_names})


def forward(model: Model, Xseq: SeqT, is_train: bool) -> Tuple[SeqT, Callable]:
    if isinstance(Xseq, Ragged):
        return _ragged_forward(model, Xseq, is_train)
    if isinstance(Xseq, Padded):
        return _padded_forward(model, Xseq, is_train)
    if isinstance(Xseq, (list, tuple)):
        return _list_forward(model, Xseq, is_train)
    return model.layers[0](Xseq, is_train)


def init(model: Model, X: Optional[SeqT] = None, Y: Optional[SeqT] = None) -> None:
    layer = model.layers[0]
    layer.initialize(X=None if X is None else _get_array(model, X),
                     Y=None if Y is None else _get_array(model, Y))
    for name in layer.dim_names:
        value = layer.maybe_get_dim(name)
        if value is not None:
            model.set_dim(name, value, force=True)


def _get_array(model: Model, X: Any) -> Any:
    if isinstance(X, Ragged):
        return X.data
    if isinstance(X, Padded):
        nS, nB, nI = X.data.shape
        return model.ops.reshape2(X.data, nS * nB, nI)
    if isinstance(X, (list, tuple)):
        return model.ops.flatten(X)
    return X


def _list_forward(model: Model, Xs: List[Any], is_train: bool) -> Tuple[List[Any], Callable]:
    layer = model.layers[0]
    pad = model.attrs["pad"]
    lengths = numpy.asarray([len(seq) for seq in Xs], dtype="int32")
    Yf, get_dXf = layer(layer.ops.flatten(Xs, pad=pad), is_train)

    def backprop(dYs: List[Any]) -> List[Any]:
        dXf = get_dXf(layer.ops.flatten(dYs, pad=pad))
        return layer.ops.unflatten(dXf, lengths, pad=pad)

    return layer.ops.unflatten(Yf, lengths, pad=pad), backprop


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
