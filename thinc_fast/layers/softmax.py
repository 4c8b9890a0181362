"""Softmax output layer: ``Y = softmax((X @ W.T + b) / temperature)``.

As in Thinc, ``backprop`` takes the gradient of the loss with respect to the
*logits*: for categorical cross-entropy that is ``Yh - Y_true``, which is what
the training loop passes. The softmax Jacobian is therefore not applied (with a
temperature ``T`` the gradient is divided by ``T``).
"""

from typing import Any, Callable, Optional, Tuple

from .._builtins import beyond_thinc, builtin
from ..initializers import zero_init
from ..model import Model
from ..types import Floats2d
from ._util import (InitFn, affine_backprop, check_grad, check_input2f, check_widths,
                    make_affine_init)


@builtin("layers", "Softmax.v1")
@beyond_thinc("normalize_outputs")
def Softmax(nO: Optional[int] = None, nI: Optional[int] = None, *,
            init_W: Optional[InitFn] = None, init_b: Optional[InitFn] = None,
            normalize_outputs: bool = True) -> Model:
    """A dense output layer with a softmax over classes (``nO``): Thinc's
    ``Softmax.v1``, plus ``normalize_outputs`` (see :func:`Softmax_v2`).
    `init_W` and `init_b` default to ``zero_init``."""
    return _softmax(nO, nI, init_W, init_b, normalize_outputs, 1.0)


@builtin("layers", "Softmax.v2")
def Softmax_v2(nO: Optional[int] = None, nI: Optional[int] = None, *,
               init_W: Optional[InitFn] = None, init_b: Optional[InitFn] = None,
               normalize_outputs: bool = True, temperature: float = 1.0) -> Model:
    """Thinc's ``Softmax.v2``. With ``normalize_outputs=False`` the layer returns
    logits at inference time (``predict``; their backprop is refused) and
    probabilities while training. ``temperature`` (> 0) divides the logits
    before the softmax."""
    return _softmax(nO, nI, init_W, init_b, normalize_outputs, temperature)


def _softmax(nO: Optional[int], nI: Optional[int], init_W: Optional[InitFn],
             init_b: Optional[InitFn], normalize_outputs: bool, temperature: float) -> Model:
    check_widths("Softmax", nO=nO, nI=nI)
    _check_temperature(temperature)
    init_W = zero_init if init_W is None else init_W
    return Model("softmax", forward, init=make_affine_init(init_W, init_b),
                 dims={"nO": nO, "nI": nI}, params={"W": None, "b": None},
                 attrs={"softmax_normalize": normalize_outputs,
                        "softmax_temperature": temperature})


def _check_temperature(temperature: Any) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or \
            not temperature > 0.0:
        raise ValueError(f"softmax temperature must not be zero or negative, got {temperature!r}")
    return float(temperature)


def forward(model: Model, X: Floats2d, is_train: bool) -> Tuple[Floats2d, Callable]:
    W = model.get_param("W")
    b = model.get_param("b")
    temperature = _check_temperature(model.attrs.get("softmax_temperature", 1.0))
    X = check_input2f(model, X)
    ops = model.ops
    Y = ops.gemm(X, W, trans2=True)
    ops.bias_add(Y, b, inplace=True)
    normalize = is_train or model.attrs["softmax_normalize"]
    if normalize:
        if temperature != 1.0:
            Y /= temperature
        ops.softmax(Y, inplace=True)

    def backprop(dY: Any) -> Any:
        dY = check_grad(model, dY, Y.shape)
        if temperature != 1.0:
            dY = dY / temperature
        return affine_backprop(model, X, W, dY)

    def backprop_logits(dY: Any) -> Any:
        raise ValueError(f"backprop is not supported for an unnormalized Softmax layer "
                         f"({model.name!r} with normalize_outputs=False returns logits when "
                         "is_train=False); call it with is_train=True to train")

    return Y, backprop if normalize else backprop_logits
