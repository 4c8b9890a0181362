"""MultiSoftmax: one affine layer, several softmaxes side by side."""

from typing import Any, Callable, Optional, Sequence, Tuple

from .._builtins import builtin
from ..model import Model
from ..types import Floats2d
from ._util import affine_backprop, check_grad, check_input2f, input_width


@builtin("layers", "MultiSoftmax.v1")
def MultiSoftmax(nOs: Tuple[int, ...], nI: Optional[int] = None) -> Model:
    """Predict several categorical attributes at once: ``Z = X @ W.T + b``
    with nO = sum(nOs) columns, and a softmax over each group of columns
    (the first nOs[0], then the next nOs[1], ...). W (nO, nI) and b start at
    zero. As for Softmax.v1, backprop takes the gradient with respect to the
    logits (``Yh - Y_true`` for cross-entropy in each group).

    Thinc 9.1.1's layer returns the logits unnormalised (its
    ``ops.softmax(..., inplace=True)`` returns a new array that the layer
    drops); this one applies the softmaxes its docstring describes."""
    nOs = _check_sizes(nOs)
    return Model("multisoftmax", forward, init=init, dims={"nO": sum(nOs), "nI": nI},
                 attrs={"nOs": nOs}, params={"W": None, "b": None})


def _check_sizes(nOs: Any) -> Tuple[int, ...]:
    if isinstance(nOs, (str, bytes)) or not isinstance(nOs, Sequence) or not nOs or any(
            isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in nOs):
        raise ValueError(f"MultiSoftmax: nOs must be a non-empty sequence of ints >= 1, "
                         f"got {nOs!r}")
    return tuple(int(n) for n in nOs)


def init(model: Model, X: Optional[Floats2d] = None, Y: Optional[Floats2d] = None) -> None:
    if X is not None:
        model.set_dim("nI", input_width(model, X))
    nO, nI = model.get_dim("nO"), model.get_dim("nI")
    model.set_param("W", model.ops.alloc2f(nO, nI))
    model.set_param("b", model.ops.alloc1f(nO))


def forward(model: Model, X: Floats2d, is_train: bool) -> Tuple[Floats2d, Callable]:
    W = model.get_param("W")
    X = check_input2f(model, X)
    ops = model.ops
    Y = ops.gemm(X, W, trans2=True)
    ops.bias_add(Y, model.get_param("b"), inplace=True)
    start = 0
    for size in model.attrs["nOs"]:
        Y[:, start:start + size] = ops.softmax(ops.as_contig(Y[:, start:start + size]))
        start += size

    def backprop(dY: Floats2d) -> Floats2d:
        return affine_backprop(model, X, W, check_grad(model, dY, Y.shape))

    return Y, backprop
