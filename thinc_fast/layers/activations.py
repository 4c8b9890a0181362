"""Parameter-free activation layers: Logistic, sigmoid_activation, softmax_activation."""

from typing import Any, Callable, Tuple

from .._builtins import builtin
from ..errors import InputDTypeError
from ..model import Model
from ._util import check_grad


@builtin("layers", "Logistic.v1")
def Logistic() -> Model:
    """``Y = sigmoid(X)``; backprop applies the sigmoid's gradient."""
    return Model("logistic", _sigmoid_forward)


@builtin("layers", "sigmoid_activation.v1")
def sigmoid_activation() -> Model:
    """``Y = sigmoid(X)`` for arrays of any rank; backprop applies its gradient."""
    return Model("sigmoid_activation", _sigmoid_forward)


@builtin("layers", "softmax_activation.v1")
def softmax_activation() -> Model:
    """``Y = softmax(X)`` over the last axis; backprop applies the softmax
    Jacobian (``dX = Y * (dY - sum(dY * Y))``)."""
    return Model("softmax_activation", _softmax_forward)


def _float_array(model: Model, X: Any) -> Any:
    if not hasattr(X, "dtype") or X.dtype.kind != "f":
        raise InputDTypeError(f"Model {model.name!r} expects a float array, got "
                              f"{getattr(X, 'dtype', type(X).__name__)}")
    return X


def _sigmoid_forward(model: Model, X: Any, is_train: bool) -> Tuple[Any, Callable]:
    Y = model.ops.sigmoid(_float_array(model, X))

    def backprop(dY: Any) -> Any:
        return model.ops.backprop_sigmoid(check_grad(model, dY, Y.shape), Y)

    return Y, backprop


def _softmax_forward(model: Model, X: Any, is_train: bool) -> Tuple[Any, Callable]:
    Y = model.ops.softmax(_float_array(model, X))

    def backprop(dY: Any) -> Any:
        return model.ops.backprop_softmax(Y, check_grad(model, dY, Y.shape))

    return Y, backprop
