"""with_array: run a layer on the contiguous array behind a batch of sequences."""

from typing import Any, Callable, List, Optional, Tuple, TypeVar, Union

import numpy

from .._builtins import builtin
from ..model import Model
from ..types import ArrayXd, ListXd, Padded, Ragged

SeqT = TypeVar("SeqT", bound=Union[Padded, Ragged, ListXd, ArrayXd])


@builtin("layers", "with_array.v1")
def with_array(layer: Model, pad: int = 0) -> Model:
    """Give `layer` one array and hand its output back in the input's form:
    a list of arrays is concatenated (with `pad` zero rows around each
    sequence) and split again, a Ragged passes its ``dataXd``, a Padded its
    3d ``data``; an array goes straight through. The layer's dims are shared."""
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
        return X.dataXd
    if isinstance(X, Padded):
        return X.data
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
    Y, get_dX = model.layers[0](Xr.dataXd, is_train)

    def backprop(dYr: Ragged) -> Ragged:
        return Ragged(get_dX(dYr.dataXd), dYr.lengths)

    return Ragged(Y, Xr.lengths), backprop


def _padded_forward(model: Model, Xp: Padded, is_train: bool) -> Tuple[Padded, Callable]:
    Y, get_dX = model.layers[0](Xp.data, is_train)

    def backprop(dYp: Padded) -> Padded:
        return Padded(get_dX(dYp.data), dYp.size_at_t, dYp.lengths, dYp.indices)

    return Padded(Y, Xp.size_at_t, Xp.lengths, Xp.indices), backprop
