"""ragged2list: a Ragged as a list of arrays, one per sequence."""

from typing import Callable, List, Tuple

from .._builtins import builtin
from ..model import Model
from ..types import ArrayXd, Ragged


@builtin("layers", "ragged2list.v1")
def ragged2list() -> Model:
    """``Xr -> ops.unflatten(Xr.dataXd, Xr.lengths)``; backprop flattens again."""
    return Model("ragged2list", forward)


def forward(model: Model, Xr: Ragged, is_train: bool) -> Tuple[List[ArrayXd], Callable]:
    lengths = Xr.lengths

    def backprop(dXs: List[ArrayXd]) -> Ragged:
        return Ragged(model.ops.flatten(dXs, pad=0), lengths)

    return model.ops.unflatten(Xr.dataXd, lengths), backprop
