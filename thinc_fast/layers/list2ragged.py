"""list2ragged: a list of arrays as one Ragged."""

from typing import Callable, List, Tuple

from .._builtins import builtin
from ..model import Model
from ..types import ArrayXd, Ragged


@builtin("layers", "list2ragged.v1")
def list2ragged() -> Model:
    """``Xs -> Ragged(ops.flatten(Xs), lengths)``; backprop unflattens ``dY.data``."""
    return Model("list2ragged", forward)


def forward(model: Model, Xs: List[ArrayXd], is_train: bool) -> Tuple[Ragged, Callable]:
    def backprop(dYr: Ragged) -> List[ArrayXd]:
        return model.ops.unflatten(dYr.data, dYr.lengths)

    lengths = model.ops.asarray1i([len(x) for x in Xs])
    return Ragged(model.ops.flatten(Xs), lengths), backprop
