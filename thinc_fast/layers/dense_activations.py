"""Dense layers with Thinc's other activations: ``Y = f(X @ W.T + b)``.

Dish, Gelu, HardSwish, HardSwishMobilenet, Mish, Swish, Sigmoid and
ClippedLinear (with HardSigmoid, HardTanh and ReluK, its settings) share one
forward: the affine part (gemm, bias) and its backprop are those of Linear,
the activation and its gradient are the backend's (``ops.dish``,
``ops.backprop_dish``, ...). As in Thinc, ``normalize`` appends a LayerNorm
and ``dropout`` a Dropout, and the default ``init_W`` is the one Thinc uses
for each (He normal for the smooth ReLU-likes, zeros for Sigmoid).
"""

from typing import Any, Callable, Dict, Optional, Tuple

from .._builtins import builtin
from ..initializers import glorot_uniform_init, he_normal_init, zero_init
from ..model import Model
from ..types import Floats2d
from ._util import (InitFn, affine_backprop, affine_forward, check_grad, check_widths,
                    make_affine_init)
from .chain import chain
from .dropout import Dropout
from .layernorm import LayerNorm

# activation(model, Z) -> Y;  gradient(model, dY, Z, Y) -> dZ
ActivationT = Callable[[Model, Any], Any]
GradientT = Callable[[Model, Any, Any, Any], Any]


def _dense_forward(name: str, activation: ActivationT, gradient: GradientT) -> Callable:
    """The forward function of a dense layer with this activation, to be kept
    in this module as `name`: it is named so, and a model holding it pickles
    (pickle finds a function by its module and qualified name)."""
    def forward(model: Model, X: Floats2d, is_train: bool) -> Tuple[Floats2d, Callable]:
        X, W, Z = affine_forward(model, X)
        Y = activation(model, Z)

        def backprop(dY: Any) -> Any:
            dZ = gradient(model, check_grad(model, dY, Y.shape), Z, Y)
            return affine_backprop(model, X, W, dZ)

        return Y, backprop

    forward.__name__ = forward.__qualname__ = name
    return forward


def _dense(name: str, forward: Callable, nO: Optional[int], nI: Optional[int],
           init_W: Optional[InitFn], init_b: Optional[InitFn], default_W: InitFn,
           dropout: Optional[float] = None, normalize: bool = False,
           attrs: Optional[Dict[str, Any]] = None) -> Model:
    check_widths(name, nO=nO, nI=nI)
    model = Model(name, forward, init=make_affine_init(default_W if init_W is None else init_W,
                                                       init_b),
                  dims={"nO": nO, "nI": nI}, params={"W": None, "b": None}, attrs=attrs)
    if normalize:
        model = chain(model, LayerNorm(nI=nO))
    if dropout is not None:
        model = chain(model, Dropout(dropout))
    return model


_dish = _dense_forward(
    "_dish", lambda m, Z: m.ops.dish(Z),
    lambda m, dY, Z, Y: m.ops.backprop_dish(dY, Z))
_gelu = _dense_forward(
    "_gelu", lambda m, Z: m.ops.gelu(Z),
    lambda m, dY, Z, Y: m.ops.backprop_gelu(dY, Z))
_hard_swish = _dense_forward(
    "_hard_swish", lambda m, Z: m.ops.hard_swish(Z),
    lambda m, dY, Z, Y: m.ops.backprop_hard_swish(dY, Z))
_hard_swish_mobilenet = _dense_forward(
    "_hard_swish_mobilenet", lambda m, Z: m.ops.hard_swish_mobilenet(Z),
    lambda m, dY, Z, Y: m.ops.backprop_hard_swish_mobilenet(dY, Z))
_mish = _dense_forward(
    "_mish", lambda m, Z: m.ops.mish(Z),
    lambda m, dY, Z, Y: m.ops.backprop_mish(dY, Z))
_swish = _dense_forward(
    "_swish", lambda m, Z: m.ops.swish(Z),
    lambda m, dY, Z, Y: m.ops.backprop_swish(dY, Z, Y))
_sigmoid = _dense_forward(
    "_sigmoid", lambda m, Z: m.ops.sigmoid(Z),
    lambda m, dY, Z, Y: m.ops.backprop_sigmoid(dY, Y))


def _clip_settings(model: Model) -> Dict[str, float]:
    return {key: model.attrs[key] for key in ("slope", "offset", "min_val", "max_val")}


_clipped_linear = _dense_forward(
    "_clipped_linear", lambda m, Z: m.ops.clipped_linear(Z, **_clip_settings(m)),
    lambda m, dY, Z, Y: m.ops.backprop_clipped_linear(dY, Z, **_clip_settings(m)))


@builtin("layers", "Dish.v1")
def Dish(nO: Optional[int] = None, nI: Optional[int] = None, *,
         init_W: Optional[InitFn] = None, init_b: Optional[InitFn] = None,
         dropout: Optional[float] = None, normalize: bool = False) -> Model:
    """Dense layer with Dish activation ``0.5 x (1 + x / sqrt(1 + x^2))``."""
    return _dense("dish", _dish, nO, nI, init_W, init_b, he_normal_init, dropout, normalize)


@builtin("layers", "Gelu.v1")
def Gelu(nO: Optional[int] = None, nI: Optional[int] = None, *,
         init_W: Optional[InitFn] = None, init_b: Optional[InitFn] = None,
         dropout: Optional[float] = None, normalize: bool = False) -> Model:
    """Dense layer with GELU activation ``x * Phi(x)``."""
    return _dense("gelu", _gelu, nO, nI, init_W, init_b, he_normal_init, dropout, normalize)


@builtin("layers", "HardSwish.v1")
def HardSwish(nO: Optional[int] = None, nI: Optional[int] = None, *,
              init_W: Optional[InitFn] = None, init_b: Optional[InitFn] = None,
              dropout: Optional[float] = None, normalize: bool = False) -> Model:
    """Dense layer with hard swish ``x * clip(0.2 x + 0.5, 0, 1)``."""
    return _dense("hardswish", _hard_swish, nO, nI, init_W, init_b, he_normal_init, dropout,
                  normalize)


@builtin("layers", "HardSwishMobilenet.v1")
def HardSwishMobilenet(nO: Optional[int] = None, nI: Optional[int] = None, *,
                       init_W: Optional[InitFn] = None, init_b: Optional[InitFn] = None,
                       dropout: Optional[float] = None, normalize: bool = False) -> Model:
    """Dense layer with MobileNetV3's hard swish ``x * relu6(x + 3) / 6``."""
    return _dense("hardswishmobilenet", _hard_swish_mobilenet, nO, nI, init_W, init_b,
                  he_normal_init, dropout, normalize)


@builtin("layers", "Mish.v1")
def Mish(nO: Optional[int] = None, nI: Optional[int] = None, *,
         init_W: Optional[InitFn] = None, init_b: Optional[InitFn] = None,
         dropout: Optional[float] = None, normalize: bool = False) -> Model:
    """Dense layer with Mish activation ``x * tanh(softplus(x))``."""
    return _dense("mish", _mish, nO, nI, init_W, init_b, glorot_uniform_init, dropout,
                  normalize)


@builtin("layers", "Swish.v1")
def Swish(nO: Optional[int] = None, nI: Optional[int] = None, *,
          init_W: Optional[InitFn] = None, init_b: Optional[InitFn] = None,
          dropout: Optional[float] = None, normalize: bool = False) -> Model:
    """Dense layer with Swish (SiLU) activation ``x * sigmoid(x)``."""
    return _dense("swish", _swish, nO, nI, init_W, init_b, he_normal_init, dropout, normalize)


@builtin("layers", "Sigmoid.v1")
def Sigmoid(nO: Optional[int] = None, nI: Optional[int] = None, *,
            init_W: Optional[InitFn] = None, init_b: Optional[InitFn] = None) -> Model:
    """Dense layer with a logistic output, e.g. for multi-label classification.
    Its backprop applies the sigmoid's gradient (unlike Softmax's)."""
    return _dense("sigmoid", _sigmoid, nO, nI, init_W, init_b, zero_init)


@builtin("layers", "ClippedLinear.v1")
def ClippedLinear(nO: Optional[int] = None, nI: Optional[int] = None, *,
                  init_W: Optional[InitFn] = None, init_b: Optional[InitFn] = None,
                  dropout: Optional[float] = None, normalize: bool = False,
                  slope: float = 1.0, offset: float = 0.0, min_val: float = 0.0,
                  max_val: float = 1.0) -> Model:
    """Dense layer with ``clip(x * slope + offset, min_val, max_val)``; the
    settings are attrs of the node."""
    if not slope != 0.0:
        raise ValueError("ClippedLinear: slope must not be zero")
    if not min_val < max_val:
        raise ValueError(f"ClippedLinear: min_val={min_val} must be below max_val={max_val}")
    attrs = {"slope": slope, "offset": offset, "min_val": min_val, "max_val": max_val}
    return _dense("clipped_linear", _clipped_linear, nO, nI, init_W, init_b,
                  glorot_uniform_init, dropout, normalize, attrs=attrs)


@builtin("layers", "HardSigmoid.v1")
def HardSigmoid(nO: Optional[int] = None, nI: Optional[int] = None, *,
                init_W: Optional[InitFn] = None, init_b: Optional[InitFn] = None,
                dropout: Optional[float] = None, normalize: bool = False) -> Model:
    """``ClippedLinear`` with ``clip(0.2 x + 0.5, 0, 1)``."""
    return ClippedLinear(nO, nI, init_W=init_W, init_b=init_b, dropout=dropout,
                         normalize=normalize, slope=0.2, offset=0.5)


@builtin("layers", "HardTanh.v1")
def HardTanh(nO: Optional[int] = None, nI: Optional[int] = None, *,
             init_W: Optional[InitFn] = None, init_b: Optional[InitFn] = None,
             dropout: Optional[float] = None, normalize: bool = False) -> Model:
    """``ClippedLinear`` with ``clip(x, -1, 1)``."""
    return ClippedLinear(nO, nI, init_W=init_W, init_b=init_b, dropout=dropout,
                         normalize=normalize, min_val=-1.0, max_val=1.0)


@builtin("layers", "ReluK.v1")
def ReluK(nO: Optional[int] = None, nI: Optional[int] = None, *,
          init_W: Optional[InitFn] = None, init_b: Optional[InitFn] = None,
          dropout: Optional[float] = None, normalize: bool = False, k: float = 6.0) -> Model:
    """``ClippedLinear`` with ``clip(x, 0, k)`` (ReLU6 by default)."""
    return ClippedLinear(nO, nI, init_W=init_W, init_b=init_b, dropout=dropout,
                         normalize=normalize, min_val=0.0, max_val=k)
