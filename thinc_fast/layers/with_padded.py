"""with_padded: run a Padded layer on lists, Ragged, 3d arrays or Padded tuples."""

from typing import Any, Callable, Optional, Tuple, TypeVar, Union

from .._builtins import builtin
from ..model import Model
from ..types import Floats3d, Ints1d, List2d, Padded, Ragged
from ..util import is_xp_array
from ._wrap import init_inner, run_converted

PaddedData = Tuple[Floats3d, Ints1d, Ints1d, Ints1d]
SeqT = TypeVar("SeqT", bound=Union[Padded, Ragged, List2d, Floats3d, PaddedData])


@builtin("layers", "with_padded.v1")
def with_padded(layer: Model) -> Model:
    """Give `layer` a Padded batch and hand its output back in the input's
    form: a list of 2d arrays, a Ragged, a ``(data, size_at_t, lengths,
    indices)`` tuple, a Padded, or a 3d array ``(steps, batch, width)`` (taken
    as a batch of equal-length sequences)."""
    return Model(f"with_padded({layer.name})", forward, init=init, layers=[layer],
                 dims={name: layer.maybe_get_dim(name) for name in layer.dim_names})


def forward(model: Model, Xseq: SeqT, is_train: bool) -> Tuple[SeqT, Callable]:
    layer = model.layers[0]
    if isinstance(Xseq, Padded):
        return layer(Xseq, is_train)
    if isinstance(Xseq, Ragged):
        return _ragged_forward(layer, Xseq, is_train)
    if _is_padded_data(Xseq):
        return _tuple_forward(layer, Xseq, is_train)
    if is_xp_array(Xseq):
        return _array_forward(layer, Xseq, is_train)
    return _list_forward(layer, Xseq, is_train)


def init(model: Model, X: Optional[SeqT] = None, Y: Optional[SeqT] = None) -> None:
    init_inner(model, X, Y, _get_padded)


def _is_padded_data(seq: Any) -> bool:
    return isinstance(seq, tuple) and len(seq) == 4 and all(map(is_xp_array, seq))


def _get_padded(model: Model, seq: Any) -> Padded:
    if isinstance(seq, Padded):
        return seq
    if isinstance(seq, Ragged):
        return model.ops.list2padded(model.ops.unflatten(seq.data, seq.lengths))
    if _is_padded_data(seq):
        return Padded(*seq)
    if is_xp_array(seq):
        nS, nB = seq.shape[:2]
        return Padded(seq, model.ops.asarray1i([nB] * nS), model.ops.asarray1i([nS] * nB),
                      model.ops.asarray1i(list(range(nB))))
    if not isinstance(seq, list):
        raise TypeError(f"Model {model.name!r} expects a Padded, Ragged, list of 2d arrays, 3d "
                        f"array or (data, size_at_t, lengths, indices) tuple, got "
                        f"{type(seq).__name__}")
    return model.ops.list2padded(seq)


def _array_forward(layer: Model, X: Floats3d, is_train: bool) -> Tuple[Floats3d, Callable]:
    Xp = _get_padded(layer, X)
    Yp, get_dXp = layer(Xp, is_train)

    def backprop(dY: Floats3d) -> Floats3d:
        return get_dXp(Padded(dY, Xp.size_at_t, Xp.lengths, Xp.indices)).data

    return Yp.data, backprop


def _tuple_forward(layer: Model, X: PaddedData, is_train: bool) -> Tuple[PaddedData, Callable]:
    return run_converted(layer, X, is_train, lambda data: Padded(*data),
                         lambda p: (p.data, p.size_at_t, p.lengths, p.indices))


def _ragged_forward(layer: Model, Xr: Ragged, is_train: bool) -> Tuple[Ragged, Callable]:
    ops = layer.ops
    Yp, get_dXp = layer(ops.list2padded(ops.unflatten(Xr.data, Xr.lengths)), is_train)

    def backprop(dYr: Ragged) -> Ragged:
        dXp = get_dXp(ops.list2padded(ops.unflatten(dYr.data, dYr.lengths)))
        return Ragged(ops.flatten(ops.padded2list(dXp)), dYr.lengths)

    return Ragged(ops.flatten(ops.padded2list(Yp)), Xr.lengths), backprop


def _list_forward(layer: Model, Xs: List2d, is_train: bool) -> Tuple[List2d, Callable]:
    return run_converted(layer, Xs, is_train, layer.ops.list2padded, layer.ops.padded2list)
