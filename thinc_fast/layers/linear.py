"""Linear: ``Y = X @ W.T + b``, the affine layer the others build on."""

from typing import Any, Callable, Optional, Tuple

from ..initializers import glorot_uniform_init, zero_init
from ..model import Model
from ..util import check_grad, check_input2f

InitFn = Callable[..., Any]


def Linear(nO: Optional[int] = None, nI: Optional[int] = None, *,
           init_W: InitFn = glorot_uniform_init, init_b: InitFn = zero_init) -> Model:
    """A dense layer ``Y = X @ W.T + b`` with W of shape (nO, nI) and b of shape (nO,).

    Missing dims are inferred from the sample data given to ``initialize``.
    """
    return Model("linear", forward, init=make_affine_init(init_W, init_b),
                 dims={"nO": nO, "nI": nI}, params={"W": None, "b": None})


def forward(model: Model, X: Any, is_train: bool) -> Tuple[Any, Callable]:
    W = model.get_param("W")
    b = model.get_param("b")
    X = check_input2f(model, X)
    Y = model.ops.gemm(X, W, trans2=True)
    model.ops.bias_add(Y, b, inplace=True)

    def backprop(dY: Any) -> Any:
        return affine_backprop(model, X, W, check_grad(model, dY, Y.shape))

    return Y, backprop


def affine_backprop(model: Model, X: Any, W: Any, dZ: Any) -> Any:
    """Accumulate ``dW += dZ.T @ X`` and ``db += dZ.sum(0)`` in place; return ``dZ @ W``."""
    ops = model.ops
    ops.gemm(dZ, X, out=model.get_grad_buffer("W"), trans1=True, beta=1.0)
    ops.inc_col_sums(dZ, model.get_grad_buffer("b"))
    return ops.gemm(dZ, W)


def get_width(model: Model, data: Any, which: str) -> int:
    """The feature width of 2d sample data, for dim inference."""
    shape = getattr(data, "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError(f"Cannot infer {which} of model {model.name!r} from sample data of "
                         f"shape {shape}: expected a 2d array (batch, features)")
    return int(shape[1])


def make_affine_init(init_W: InitFn, init_b: InitFn) -> Callable[..., None]:
    """An init function for layers with W (nO, nI) and b (nO,)."""

    def init(model: Model, X: Any = None, Y: Any = None) -> None:
        if X is not None:
            model.set_dim("nI", get_width(model, X, "nI"))
        if Y is not None:
            model.set_dim("nO", get_width(model, Y, "nO"))
        nO, nI = model.get_dim("nO"), model.get_dim("nI")
        model.set_param("W", init_W(model.ops, (nO, nI)))
        model.set_param("b", init_b(model.ops, (nO,)))

    return init
