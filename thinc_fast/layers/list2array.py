"""list2array: concatenate a list of arrays into one (and split the gradient)."""

from typing import Callable, List, Tuple

import numpy

from .._builtins import builtin
from ..model import Model
from ..types import Array2d


@builtin("layers", "list2array.v1")
def list2array() -> Model:
    """``Xs -> ops.flatten(Xs)``; backprop splits ``dY`` at the sequence lengths."""
    return Model("list2array", forward)


def forward(model: Model, Xs: List[Array2d], is_train: bool) -> Tuple[Array2d, Callable]:
    lengths = numpy.asarray([len(x) for x in Xs], dtype="int32")

    def backprop(dY: Array2d) -> List[Array2d]:
        return model.ops.unflatten(dY, lengths)

    return model.ops.flatten(Xs), backprop
