"""Maxout: ``nP`` affine pieces per output unit, the output is their maximum."""

import functools
from typing import Any, Callable, Optional, Tuple

from .._builtins import builtin
from ..initializers import glorot_uniform_init, zero_init
from ..model import Model, gradients_final, input_gradient_wanted
from ..types import Floats2d
from ._util import InitFn, check_grad, check_input2f, check_widths, infer_io_dims
from .chain import chain
from .dropout import Dropout
from .layernorm import LayerNorm


@builtin("layers", "Maxout.v1")
def Maxout(nO: Optional[int] = None, nI: Optional[int] = None, nP: Optional[int] = 3, *,
           init_W: Optional[InitFn] = None, init_b: Optional[InitFn] = None,
           dropout: Optional[float] = None, normalize: bool = False) -> Model:
    """``Y[:, o] = max_p (X @ W[o, p].T + b[o, p])`` with W (nO, nP, nI), b (nO, nP).

    ``normalize`` appends a LayerNorm and ``dropout`` a Dropout, as in Thinc;
    `init_W` defaults to ``glorot_uniform_init``, `init_b` to ``zero_init``."""
    check_widths("Maxout", nO=nO, nI=nI, nP=nP)
    model = Model("maxout", forward, init=_make_init(init_W, init_b),
                  dims={"nO": nO, "nI": nI, "nP": nP}, params={"W": None, "b": None})
    if normalize:
        model = chain(model, LayerNorm(nI=nO))
    if dropout is not None:
        model = chain(model, Dropout(dropout))
    return model


def _make_init(init_W: Optional[InitFn], init_b: Optional[InitFn]) -> Callable[..., None]:
    return functools.partial(_init, glorot_uniform_init if init_W is None else init_W,
                             zero_init if init_b is None else init_b)


def _init(init_W: InitFn, init_b: InitFn, model: Model, X: Any = None, Y: Any = None) -> None:
    infer_io_dims(model, X, Y)
    nO, nP, nI = model.get_dim("nO"), model.get_dim("nP"), model.get_dim("nI")
    model.set_param("W", init_W(model.ops, (nO, nP, nI)))
    model.set_param("b", init_b(model.ops, (nO, nP)))


def forward(model: Model, X: Floats2d, is_train: bool) -> Tuple[Floats2d, Callable]:
    W = model.get_param("W")
    b = model.get_param("b")
    X = check_input2f(model, X)
    nO, nP, nI = W.shape
    ops = model.ops
    W2 = W.reshape(nO * nP, nI)
    Z = ops.gemm(X, W2, trans2=True)
    ops.bias_add(Z, b.reshape(nO * nP), inplace=True)
    Y, which = ops.maxout(Z.reshape(X.shape[0], nO, nP))

    def backprop(dY: Any) -> Any:
        dY = check_grad(model, dY, Y.shape)
        dZ = ops.backprop_maxout(dY, which, nP).reshape(X.shape[0], nO * nP)
        ops.gemm(dZ, X, out=model.get_grad_buffer("W").reshape(nO * nP, nI), trans1=True, beta=1.0)
        ops.inc_col_sums(dZ, model.get_grad_buffer("b").reshape(nO * nP))
        gradients_final(model)
        if not input_gradient_wanted(model, X):
            return None  # the caller drops it (input_gradient_unread)
        return ops.gemm(dZ, W2)

    return Y, backprop
