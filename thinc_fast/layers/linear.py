"""Linear: ``Y = X @ W.T + b``, the affine layer the others build on."""

from typing import Any, Callable, Optional, Tuple

from .._builtins import builtin
from ..model import Model
from ..types import Floats2d
from ._util import (InitFn, affine_backprop, affine_forward, check_grad, check_widths,
                    make_affine_init)


@builtin("layers", "Linear.v1")
def Linear(nO: Optional[int] = None, nI: Optional[int] = None, *,
           init_W: Optional[InitFn] = None, init_b: Optional[InitFn] = None) -> Model:
    """A dense layer ``Y = X @ W.T + b`` with W of shape (nO, nI) and b of shape (nO,).

    Missing dims are inferred from the sample data given to ``initialize``;
    `init_W` defaults to ``glorot_uniform_init``, `init_b` to ``zero_init``.
    """
    check_widths("Linear", nO=nO, nI=nI)
    return Model("linear", forward, init=make_affine_init(init_W, init_b),
                 dims={"nO": nO, "nI": nI}, params={"W": None, "b": None})


def forward(model: Model, X: Floats2d, is_train: bool) -> Tuple[Floats2d, Callable]:
    X, W, Y = affine_forward(model, X)

    def backprop(dY: Any) -> Any:
        return affine_backprop(model, X, W, check_grad(model, dY, Y.shape))

    return Y, backprop
