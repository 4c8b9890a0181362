"""list2padded: a list of 2d arrays as one Padded batch."""

from typing import Callable, Tuple

from .._builtins import builtin
from ..model import Model
from ..types import List2d, Padded


@builtin("layers", "list2padded.v1")
def list2padded() -> Model:
    """``Xs -> ops.list2padded(Xs)``; backprop is ``ops.padded2list``."""
    return Model("list2padded", forward)


def forward(model: Model, Xs: List2d, is_train: bool) -> Tuple[Padded, Callable]:
    def backprop(dYp: Padded) -> List2d:
        return model.ops.padded2list(dYp)

    return model.ops.list2padded(Xs), backprop
