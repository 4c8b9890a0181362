"""Checks shared by the sequence layers, with Thinc's messages."""

from typing import Any, Tuple


def check_backprop_array(Y_shape: Tuple[int, ...], Y_dtype: Any, dY: Any) -> None:
    """ValueError unless `dY` has the output's shape and dtype (Thinc's
    ``ArrayInfo.check_consistency``: ``Shape mismatch in backprop. Y: ..., dY: ...``)."""
    shape = getattr(dY, "shape", None)
    if shape is None:
        raise ValueError(f"Shape mismatch in backprop. Y: {Y_shape}, dY: {type(dY).__name__}")
    if tuple(shape) != tuple(Y_shape):
        raise ValueError(f"Shape mismatch in backprop. Y: {tuple(Y_shape)}, dY: {tuple(shape)}")
    if dY.dtype != Y_dtype:
        raise ValueError(f"Type mismatch in backprop. Y: {Y_dtype}, dY: {dY.dtype}")


def check_ragged_input(model: Any, Xr: Any) -> None:
    """TypeError naming the model unless `Xr` is a Ragged."""
    from ..types import Ragged

    if not isinstance(Xr, Ragged):
        raise TypeError(f"Model {model.name!r} expects a Ragged (data, lengths), got "
                        f"{type(Xr).__name__}")
