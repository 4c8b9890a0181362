"""LayerNorm: normalise each row to zero mean and unit variance, then scale and shift."""

from typing import Any, Callable, Optional, Tuple

from .._builtins import builtin
from ..model import Model
from ..types import Floats2d
from ._util import check_grad, check_input2f, input_width, output_width

EPS = 1e-8


@builtin("layers", "LayerNorm.v1")
def LayerNorm(nI: Optional[int] = None) -> Model:
    """``Y = G * (X - mean) / sqrt(var + 1e-8) + b`` per row, with G and b of shape (nI,).

    The width comes from `nI`, else the sample input, else the sample output."""
    return Model("layernorm", forward, init=init, dims={"nI": nI, "nO": nI},
                 params={"G": None, "b": None})


def init(model: Model, X: Any = None, Y: Any = None) -> None:
    if X is not None:
        model.set_dim("nI", input_width(model, X))
    elif Y is not None and model.has_dim("nI") is None:
        model.set_dim("nI", output_width(model, Y))
    nI = model.get_dim("nI")
    model.set_dim("nO", nI)
    model.set_param("G", model.ops.xp.ones((nI,), dtype="float32"))
    model.set_param("b", model.ops.alloc((nI,)))


def forward(model: Model, X: Floats2d, is_train: bool) -> Tuple[Floats2d, Callable]:
    G = model.get_param("G")
    b = model.get_param("b")
    X = check_input2f(model, X)
    xp = model.ops.xp
    # the same arithmetic as Xc = X - mean, Xhat = Xc * inv_std, Y = Xhat * G + b,
    # with fewer temporaries (one scratch array serves forward and backward)
    Xhat = X - X.mean(axis=1, keepdims=True)
    scratch = Xhat * Xhat
    inv_std = 1.0 / xp.sqrt(scratch.mean(axis=1, keepdims=True) + EPS)
    Xhat *= inv_std
    Y = Xhat * G
    Y += b

    def backprop(dY: Any) -> Any:
        dY = check_grad(model, dY, Y.shape)
        xp.multiply(dY, Xhat, out=scratch)
        model.get_grad_buffer("G")[...] += scratch.sum(axis=0)
        model.ops.inc_col_sums(dY, model.get_grad_buffer("b"))
        dX = dY * G  # dXhat, then dX in place:
        xp.multiply(dX, Xhat, out=scratch)  # dXhat - mean(dXhat) - Xhat * mean(dXhat * Xhat)
        m2 = scratch.mean(axis=1, keepdims=True)
        dX -= dX.mean(axis=1, keepdims=True)
        xp.multiply(Xhat, m2, out=scratch)
        dX -= scratch
        dX *= inv_std
        return dX

    return Y, backprop
