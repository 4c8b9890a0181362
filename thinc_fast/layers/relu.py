"""Relu: ``Y = max(X @ W.T + b, 0)``, bias and activation fused in one pass."""

from typing import Any, Callable, Optional, Tuple

from .._builtins import builtin
from ..model import Model
from ..types import Floats2d
from ._util import (InitFn, affine_backprop, check_grad, check_input2f, check_widths,
                    make_affine_init)
from .chain import chain
from .dropout import Dropout
from .layernorm import LayerNorm


@builtin("layers", "Relu.v1")
def Relu(nO: Optional[int] = None, nI: Optional[int] = None, *,
         init_W: Optional[InitFn] = None, init_b: Optional[InitFn] = None,
         dropout: Optional[float] = None, normalize: bool = False) -> Model:
    """A dense layer with ReLU activation; ``normalize`` appends a LayerNorm and
    ``dropout`` a Dropout, as in Thinc. `init_W` defaults to
    ``glorot_uniform_init``, `init_b` to ``zero_init``."""
    check_widths("Relu", nO=nO, nI=nI)
    model = Model("relu", forward, init=make_affine_init(init_W, init_b),
                  dims={"nO": nO, "nI": nI}, params={"W": None, "b": None})
    if normalize:
        model = chain(model, LayerNorm(nI=nO))
    if dropout is not None:
        model = chain(model, Dropout(dropout))
    return model


def forward(model: Model, X: Floats2d, is_train: bool) -> Tuple[Floats2d, Callable]:
    W = model.get_param("W")
    b = model.get_param("b")
    X = check_input2f(model, X)
    ops = model.ops
    Y = ops.gemm(X, W, trans2=True)
    ops.bias_relu(Y, b, inplace=True)

    def backprop(dY: Any) -> Any:
        dZ = ops.backprop_relu(check_grad(model, dY, Y.shape), Y)
        return affine_backprop(model, X, W, dZ)

    return Y, backprop
