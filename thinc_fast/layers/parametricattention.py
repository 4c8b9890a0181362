"""ParametricAttention: weight each row by its softmaxed similarity to a learned vector."""

from typing import Any, Callable, Optional, Tuple

import numpy

from .._builtins import builtin
from ..model import Model
from ..types import Floats2d, Ragged
from ..util import get_width
from ._util import check_ragged_input


@builtin("layers", "ParametricAttention.v1")
def ParametricAttention(nO: Optional[int] = None) -> Model:
    """``a = softmax over each sequence of (X @ Q)``, ``Y = X * a`` (each row
    scaled by its attention weight), for a Ragged X of width nO and a learned
    vector Q (nO,) drawn uniformly from [-0.1, 0.1). The output is a Ragged
    with X's lengths."""
    return Model("para-attn", forward, init=init, params={"Q": None}, dims={"nO": nO})


def forward(model: Model, Xr: Ragged, is_train: bool) -> Tuple[Ragged, Callable]:
    check_ragged_input(model, Xr)
    X = Xr.dataXd
    Y, backprop_attention = attend(model, X, X, lambda dK: dK, Xr.lengths)

    def backprop(dYr: Ragged) -> Ragged:
        return Ragged(backprop_attention(ragged_grad(model, dYr, Y.shape)), dYr.lengths)

    return Ragged(Y, Xr.lengths), backprop


def init(model: Model, X: Optional[Ragged] = None, Y: Optional[Ragged] = None) -> None:
    if X is not None:
        model.set_dim("nO", get_width(X))
    init_query(model)


def init_query(model: Model) -> None:
    """Q (nO,) uniform in [-0.1, 0.1), drawn from NumPy's global RNG as Thinc does."""
    values = numpy.random.uniform(-0.1, 0.1, (model.get_dim("nO"),))
    model.set_param("Q", model.ops.asarray(values.astype("float32"), dtype="float32"))


def attend(model: Model, X: Floats2d, K: Floats2d, backprop_keys: Callable[[Floats2d], Any],
           lengths: Any) -> Tuple[Floats2d, Callable[[Floats2d], Floats2d]]:
    """``Y = X * softmax_sequences(K @ Q)`` and its backprop: ``dY -> dX``
    (with the keys' gradient taken through `backprop_keys` and added), the
    gradient of Q accumulated in place."""
    ops = model.ops
    Q = model.get_param("Q")
    if K.ndim != 2 or K.shape[1] != Q.shape[0]:
        raise ValueError(f"Model {model.name!r} expects keys of width nO={Q.shape[0]}, got "
                         f"shape {K.shape}")
    if X.shape[0] != K.shape[0]:
        raise ValueError(f"Model {model.name!r}: {K.shape[0]} keys for {X.shape[0]} rows")
    attention = ops.softmax_sequences(ops.gemm(K, ops.reshape2f(Q, -1, 1)), lengths)
    Y = X * attention

    def backprop(dY: Floats2d) -> Floats2d:
        d_attention = (X * dY).sum(axis=1, keepdims=True)
        dX = dY * attention
        d_logits = ops.backprop_softmax_sequences(d_attention, attention, lengths)
        ops.gemm(K, d_logits, trans1=True, beta=1.0,
                 out=ops.reshape2f(model.get_grad_buffer("Q"), -1, 1))
        dX += backprop_keys(ops.xp.outer(d_logits, Q))
        return dX

    return Y, backprop


def ragged_grad(model: Model, dYr: Any, shape: Tuple[int, ...]) -> Floats2d:
    if not isinstance(dYr, Ragged):
        raise TypeError(f"backprop of model {model.name!r} expects a Ragged, got "
                        f"{type(dYr).__name__}")
    dY = dYr.dataXd
    if tuple(dY.shape) != tuple(shape):
        raise ValueError(f"backprop of model {model.name!r}: gradient has shape "
                         f"{tuple(dY.shape)}, but the output had shape {tuple(shape)}")
    return dY
