"""Linear: ``Y = X @ W.T + b``, the affine layer the others build on."""

from typing import Any, Callable, Optional, Tuple

from .._builtins import builtin
from ..initializers import glorot_uniform_init, zero_init
from ..model import Model
from ..util import check_grad, check_input2f
from ..types import Floats2d
from ..util import get_width as _data_width

InitFn = Callable[..., Any]


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


def check_widths(layer: str, **widths: Any) -> None:
    """ValueError unless each width given to `layer` is None (inferred later) or
    a positive integer: a layer of width 0 computes nothing, and the error
    would otherwise come later, from a kernel, without the layer's name."""
    for name, value in widths.items():
        if value is not None and (isinstance(value, bool) or not hasattr(value, "__index__")
                                  or value < 1):
            raise ValueError(f"{layer}: {name} must be a positive integer (or left unset, to be "
                             f"inferred from the data), got {value!r}")


def affine_forward(model: Model, X: Any) -> Tuple[Floats2d, Floats2d, Floats2d]:
    """``(X, W, X @ W.T + b)``: `X` checked (2d float32, nI columns) and the
    model's W, which ``affine_backprop`` takes back with ``dZ``."""
    W = model.get_param("W")
    b = model.get_param("b")
    X = check_input2f(model, X)
    Z = model.ops.gemm(X, W, trans2=True)
    model.ops.bias_add(Z, b, inplace=True)
    return X, W, Z


def affine_backprop(model: Model, X: Any, W: Any, dZ: Any) -> Any:
    """Accumulate ``dW += dZ.T @ X`` and ``db += dZ.sum(0)`` in place; return ``dZ @ W``."""
    ops = model.ops
    ops.gemm(dZ, X, out=model.get_grad_buffer("W"), trans1=True, beta=1.0)
    ops.inc_col_sums(dZ, model.get_grad_buffer("b"))
    return ops.gemm(dZ, W)


def input_width(model: Model, X: Any) -> int:
    """The feature width of sample input `X` (a 2d array), to infer ``nI``."""
    shape = getattr(X, "shape", None)
    if shape is None or len(shape) != 2:
        raise ValueError(f"Cannot infer nI of model {model.name!r} from sample data of "
                         f"shape {shape}: expected a 2d array (batch, features)")
    return int(shape[1])


def output_width(model: Model, Y: Any) -> int:
    """The width of sample output `Y`, to infer ``nO``, as Thinc's ``get_width``:
    the last dim of an array, ``max + 1`` for 1d integer labels."""
    try:
        return _data_width(Y)
    except ValueError as err:
        raise ValueError(f"Cannot infer nO of model {model.name!r} from sample data of type "
                         f"{type(Y).__name__} (shape {getattr(Y, 'shape', None)}): {err}") from None


def infer_io_dims(model: Model, X: Any = None, Y: Any = None) -> None:
    """Set ``nI`` from `X` and, while it is unset, ``nO`` from `Y` (a layer
    whose ``nO`` is set ignores `Y`, so a chain may pass `Y` to every layer)."""
    if X is not None:
        model.set_dim("nI", input_width(model, X))
    if Y is not None and model.has_dim("nO") is None:
        model.set_dim("nO", output_width(model, Y))


def make_affine_init(init_W: Optional[InitFn], init_b: Optional[InitFn]) -> Callable[..., None]:
    """An init function for layers with W (nO, nI) and b (nO,)."""
    init_W = glorot_uniform_init if init_W is None else init_W
    init_b = zero_init if init_b is None else init_b

    def init(model: Model, X: Any = None, Y: Any = None) -> None:
        infer_io_dims(model, X, Y)
        nO, nI = model.get_dim("nO"), model.get_dim("nI")
        for name, value in (("nO", nO), ("nI", nI)):
            if value < 1:
                raise ValueError(f"Model {model.name!r}: dimension {name!r} is {value}; a layer "
                                 "needs a width of at least 1 (inferred from sample data with "
                                 "no columns?)")
        model.set_param("W", init_W(model.ops, (nO, nI)))
        model.set_param("b", init_b(model.ops, (nO,)))

    return init
