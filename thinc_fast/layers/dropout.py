"""Dropout: zero a random fraction of the inputs while training."""

from typing import Any, Callable, Tuple

from .._builtins import builtin
from ..model import Model
from ..types import Padded, Ragged
from ._util import check_grad


@builtin("layers", "Dropout.v1")
def Dropout(rate: float = 0.0) -> Model:
    """Inverted dropout: while training, each value is zeroed with probability
    `rate` (in [0, 1]; 1 zeroes everything) and the rest are scaled by
    ``1 / (1 - rate)``; identity otherwise. Takes an array, a list (or tuple)
    of arrays, a Ragged or a Padded, and returns the same kind (a Ragged keeps
    its lengths, a Padded its size_at_t, lengths and indices)."""
    _check_rate(rate)
    return Model("dropout", forward, attrs={"dropout_rate": rate, "is_enabled": True})


def _check_rate(rate: Any) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate <= 1.0:
        raise ValueError(f"Dropout rate must be a number in [0, 1], got {rate!r}")
    return float(rate)


def forward(model: Model, X: Any, is_train: bool) -> Tuple[Any, Callable]:
    rate = _check_rate(model.attrs["dropout_rate"])
    if not is_train or rate == 0.0 or not model.attrs.get("is_enabled", True):
        return X, lambda dY: dY
    if isinstance(X, Ragged):
        return _dropout_ragged(model, X, rate)
    if isinstance(X, Padded):
        return _dropout_padded(model, X, rate)
    if isinstance(X, (list, tuple)):
        outputs = [_dropout_array(model, X_i, rate) for X_i in X]

        def backprop_list(dYs: Any) -> Any:
            if len(dYs) != len(outputs):
                raise ValueError(f"backprop of model {model.name!r}: {len(dYs)} gradients "
                                 f"for {len(outputs)} outputs")
            return type(X)(back(dY) for (_, back), dY in zip(outputs, dYs))

        return type(X)(Y for Y, _ in outputs), backprop_list
    return _dropout_array(model, X, rate)


def _dropout_array(model: Model, X: Any, rate: float) -> Tuple[Any, Callable]:
    if rate >= 1.0:
        mask = model.ops.alloc(X.shape)
    else:
        mask = model.ops.get_dropout_mask(X.shape, rate)
    Y = X * mask

    def backprop(dY: Any) -> Any:
        return check_grad(model, dY, Y.shape) * mask

    return Y, backprop


def _dropout_ragged(model: Model, Xr: Ragged, rate: float) -> Tuple[Ragged, Callable]:
    Y, backprop_data = _dropout_array(model, Xr.dataXd, rate)

    def backprop(dYr: Ragged) -> Ragged:
        return Ragged(backprop_data(_data_of(model, dYr, Ragged).dataXd), dYr.lengths)

    return Ragged(Y, Xr.lengths), backprop


def _dropout_padded(model: Model, Xp: Padded, rate: float) -> Tuple[Padded, Callable]:
    Y, backprop_data = _dropout_array(model, Xp.data, rate)

    def backprop(dYp: Padded) -> Padded:
        dYp = _data_of(model, dYp, Padded)
        return Padded(backprop_data(dYp.data), dYp.size_at_t, dYp.lengths, dYp.indices)

    return Padded(Y, Xp.size_at_t, Xp.lengths, Xp.indices), backprop


def _data_of(model: Model, dY: Any, kind: type) -> Any:
    if not isinstance(dY, kind):
        raise TypeError(f"backprop of model {model.name!r} expects a {kind.__name__}, got "
                        f"{type(dY).__name__}")
    return dY
