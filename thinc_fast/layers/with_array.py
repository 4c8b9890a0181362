"""with_array: run a layer on the contiguous array behind a batch of sequences."""

from typing import Any, Callable, Optional, Tuple, TypeVar, Union

from .._builtins import builtin
from ..model import Model
from ..types import ArrayXd, ListXd, Padded, Ragged
from ._wrap import array_forward, array_init, array_model

SeqT = TypeVar("SeqT", bound=Union[Padded, Ragged, ListXd, ArrayXd])


@builtin("layers", "with_array.v1")
def with_array(layer: Model, pad: int = 0) -> Model:
    """Give `layer` one array and hand its output back in the input's form:
    a list of arrays is concatenated (with `pad` zero rows around each
    sequence) and split again, a Ragged passes its ``dataXd``, a Padded its
    3d ``data``; an array goes straight through. The layer's dims are shared."""
    return array_model(layer, pad, forward, init)


def forward(model: Model, Xseq: SeqT, is_train: bool) -> Tuple[SeqT, Callable]:
    return array_forward(model, Xseq, is_train, _ragged_forward, _padded_forward)


def init(model: Model, X: Optional[SeqT] = None, Y: Optional[SeqT] = None) -> None:
    array_init(model, X, Y, _get_array)


def _get_array(model: Model, X: Any) -> Any:
    if isinstance(X, Ragged):
        return X.dataXd
    if isinstance(X, Padded):
        return X.data
    if isinstance(X, (list, tuple)):
        return model.ops.flatten(X)
    return X


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
