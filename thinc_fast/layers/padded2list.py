"""padded2list: a Padded batch as a list of 2d arrays in the original order."""

from typing import Callable, Tuple

from .._builtins import builtin
from ..model import Model
from ..types import List2d, Padded


@builtin("layers", "padded2list.v1")
def padded2list() -> Model:
    """``Xp -> ops.padded2list(Xp)``; backprop is ``ops.list2padded``."""
    return Model("padded2list", forward)


def forward(model: Model, Xp: Padded, is_train: bool) -> Tuple[List2d, Callable]:
    def backprop(dYs: List2d) -> Padded:
        return model.ops.list2padded(dYs)

    return model.ops.padded2list(Xp), backprop
