"""The backprop shared by the reduce_* layers (one row per sequence of a Ragged)."""

from typing import Any, Callable

from ..types import Floats2d, Ints1d, Ragged
from ._util import check_backprop_array


def reduce_backprop(Y: Floats2d, lengths: Ints1d, get_dX: Callable[[Floats2d], Any]
                    ) -> Callable[[Floats2d], Ragged]:
    """The backprop of a reduction that gave `Y` from a Ragged of `lengths`:
    it checks ``dY`` against ``Y``'s shape and dtype (Thinc's messages) and
    returns ``Ragged(get_dX(dY), lengths)``."""
    shape, dtype = Y.shape, Y.dtype

    def backprop(dY: Floats2d) -> Ragged:
        check_backprop_array(shape, dtype, dY)
        return Ragged(get_dX(dY), lengths)

    return backprop
