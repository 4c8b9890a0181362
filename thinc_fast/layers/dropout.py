"""Dropout: zero a random fraction of the inputs while training."""

from typing import Any, Callable, Tuple

from ..model import Model
from ..util import check_grad


def Dropout(rate: float = 0.0) -> Model:
    """Inverted dropout: while training, each value is zeroed with probability
    `rate` and the rest are scaled by ``1 / (1 - rate)``; identity otherwise."""
    _check_rate(rate)
    return Model("dropout", forward, attrs={"dropout_rate": rate, "is_enabled": True})


def _check_rate(rate: Any) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
        raise ValueError(f"Dropout rate must be a number in [0, 1), got {rate!r}")
    return float(rate)


def forward(model: Model, X: Any, is_train: bool) -> Tuple[Any, Callable]:
    rate = _check_rate(model.attrs["dropout_rate"])
    if not is_train or rate == 0.0 or not model.attrs.get("is_enabled", True):
        return X, lambda dY: dY
    mask = model.ops.get_dropout_mask(X.shape, rate)
    Y = X * mask

    def backprop(dY: Any) -> Any:
        return check_grad(model, dY, Y.shape) * mask

    return Y, backprop
