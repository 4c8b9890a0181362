"""with_list: run a layer over lists of 2d arrays on Padded or Ragged batches."""

from typing import Any, Callable, Optional, Tuple, TypeVar, Union

from .._builtins import builtin
from ..model import Model
from ..types import List2d, Padded, Ragged
from ._wrap import init_inner, run_converted

SeqT = TypeVar("SeqT", bound=Union[Padded, Ragged, List2d])


@builtin("layers", "with_list.v1")
def with_list(layer: Model) -> Model:
    """Give `layer` a list of 2d arrays (one per sequence) and hand its
    output back in the input's form (Padded, Ragged or the list itself)."""
    return Model(f"with_list({layer.name})", forward, init=init, layers=[layer],
                 dims={name: layer.maybe_get_dim(name) for name in layer.dim_names})


def forward(model: Model, Xseq: SeqT, is_train: bool) -> Tuple[SeqT, Callable]:
    layer = model.layers[0]
    if isinstance(Xseq, Padded):
        return _padded_forward(layer, Xseq, is_train)
    if isinstance(Xseq, Ragged):
        return _ragged_forward(layer, Xseq, is_train)
    return layer(Xseq, is_train)


def init(model: Model, X: Optional[SeqT] = None, Y: Optional[SeqT] = None) -> None:
    init_inner(model, X, Y, _get_list)


def _get_list(model: Model, seq: Any) -> Any:
    if isinstance(seq, Padded):
        return model.ops.padded2list(seq)
    if isinstance(seq, Ragged):
        return model.ops.unflatten(seq.data, seq.lengths)
    return seq


def _ragged_forward(layer: Model, Xr: Ragged, is_train: bool) -> Tuple[Ragged, Callable]:
    ops = layer.ops
    Ys, get_dXs = layer(ops.unflatten(Xr.data, Xr.lengths), is_train)

    def backprop(dYr: Ragged) -> Ragged:
        return Ragged(ops.flatten(get_dXs(ops.unflatten(dYr.data, dYr.lengths))), dYr.lengths)

    return Ragged(ops.flatten(Ys), Xr.lengths), backprop


def _padded_forward(layer: Model, Xp: Padded, is_train: bool) -> Tuple[Padded, Callable]:
    return run_converted(layer, Xp, is_train, layer.ops.padded2list, layer.ops.list2padded)
