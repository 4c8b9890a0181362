"""with_ragged: run a Ragged layer on lists, Padded or (data, lengths) tuples."""

from typing import Any, Callable, List, Optional, Tuple, TypeVar, Union

import numpy

from .._builtins import builtin
from ..model import Model
from ..types import Array2d, Ints1d, ListXd, Padded, Ragged
from ._wrap import init_inner, run_converted

RaggedData = Tuple[Array2d, Ints1d]
SeqT = TypeVar("SeqT", bound=Union[Padded, Ragged, ListXd, RaggedData])


@builtin("layers", "with_ragged.v1")
def with_ragged(layer: Model) -> Model:
    """Give `layer` a Ragged batch and hand its output back in the input's
    form: a list of arrays, a Padded, a ``(data, lengths)`` tuple or a Ragged."""
    return Model(f"with_ragged({layer.name})", forward, init=init, layers=[layer])


def forward(model: Model, Xseq: SeqT, is_train: bool) -> Tuple[SeqT, Callable]:
    layer = model.layers[0]
    if isinstance(Xseq, Ragged):
        return layer(Xseq, is_train)
    if isinstance(Xseq, Padded):
        return _padded_forward(layer, Xseq, is_train)
    if _is_ragged_data(Xseq):
        return _tuple_forward(layer, Xseq, is_train)
    return _list_forward(layer, Xseq, is_train)


def init(model: Model, X: Optional[SeqT] = None, Y: Optional[SeqT] = None) -> None:
    init_inner(model, X, Y, _get_ragged)


def _is_ragged_data(seq: Any) -> bool:
    return isinstance(seq, tuple) and len(seq) == 2


def _get_ragged(model: Model, seq: Any) -> Ragged:
    if isinstance(seq, Ragged):
        return seq
    if isinstance(seq, Padded):
        seq = model.ops.padded2list(seq)
    elif _is_ragged_data(seq):
        return Ragged(*seq)
    lengths = model.ops.asarray1i([len(x) for x in seq])
    return Ragged(model.ops.flatten(seq), lengths)


def _tuple_forward(layer: Model, X: RaggedData, is_train: bool) -> Tuple[RaggedData, Callable]:
    return run_converted(layer, X, is_train, lambda data: Ragged(*data),
                         lambda r: (r.data, r.lengths))


def _padded_forward(layer: Model, Xp: Padded, is_train: bool) -> Tuple[Padded, Callable]:
    ops = layer.ops
    Xs = ops.padded2list(Xp)
    # host lengths for unflatten; the layer's Ragged gets them on its own device
    lengths = numpy.asarray([len(x) for x in Xs], dtype="int32")
    Yr, get_dXr = layer(Ragged(ops.flatten(Xs), ops.asarray1i(lengths)), is_train)

    def backprop(dYp: Padded) -> Padded:
        dXr = get_dXr(Ragged(ops.flatten(ops.padded2list(dYp)), ops.asarray1i(lengths)))
        return ops.list2padded(ops.unflatten(dXr.data, lengths))

    return ops.list2padded(ops.unflatten(Yr.data, Yr.lengths)), backprop


def _list_forward(layer: Model, Xs: List[Any], is_train: bool) -> Tuple[List[Any], Callable]:
    ops = layer.ops
    lengths = numpy.asarray([len(x) for x in Xs], dtype="int32")
    Yr, get_dXr = layer(Ragged(ops.flatten(Xs), ops.asarray1i(lengths)), is_train)

    def backprop(dYs: List[Any]) -> List[Any]:
        dXr = get_dXr(Ragged(ops.flatten(dYs), ops.asarray1i(lengths)))
        return ops.unflatten(dXr.data, lengths)

    return ops.unflatten(Yr.data, Yr.lengths), backprop
