"""Softmax output layer: ``Y = softmax(X @ W.T + b)``.

As in Thinc, ``backprop`` takes the gradient of the loss with respect to the
*logits*: for categorical cross-entropy that is ``Yh - Y_true``, which is what
the training loop passes. The softmax Jacobian is therefore not applied.
"""

from typing import Any, Callable, Optional, Tuple

from ..initializers import zero_init
from ..model import Model
from ..util import check_grad, check_input2f
from .linear import InitFn, affine_backprop, make_affine_init


def Softmax(nO: Optional[int] = None, nI: Optional[int] = None, *,
            init_W: InitFn = zero_init, init_b: InitFn = zero_init,
            normalize_outputs: bool = True) -> Model:
    """A dense output layer with a softmax over classes (``nO``).

    With ``normalize_outputs=False`` the layer returns logits at inference
    time (``predict``) and probabilities while training.
    """
    return Model("softmax", forward, init=make_affine_init(init_W, init_b),
                 dims={"nO": nO, "nI": nI}, params={"W": None, "b": None},
                 attrs={"normalize_outputs": normalize_outputs})


def forward(model: Model, X: Any, is_train: bool) -> Tuple[Any, Callable]:
    W = model.get_param("W")
    b = model.get_param("b")
    X = check_input2f(model, X)
    ops = model.ops
    Y = ops.gemm(X, W, trans2=True)
    ops.bias_add(Y, b, inplace=True)
    if is_train or model.attrs["normalize_outputs"]:
        ops.softmax(Y, inplace=True)

    def backprop(dY: Any) -> Any:
        return affine_backprop(model, X, W, check_grad(model, dY, Y.shape))

    return Y, backprop
