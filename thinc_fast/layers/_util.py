"""Helpers shared by the layers (not Thinc's ``thinc.util``): one place for them.

- boundary checks with the model's name in the message: :func:`check_input2f`
  (a 2d float32 batch of the right width), :func:`check_grad` (a gradient of
  the output's shape), :func:`check_widths` (a layer's width arguments),
  :func:`check_ragged_input`, and :func:`check_backprop_array` (Thinc's
  ``Shape mismatch in backprop`` messages, for the sequence layers);
- the dense layers' pieces (Linear, Relu, Softmax, Maxout, the
  ``dense_activations``): :func:`affine_forward`, :func:`affine_backprop`,
  :func:`make_affine_init`, and the inference of ``nI``/``nO`` from sample
  data (:func:`infer_io_dims`, :func:`input_width`, :func:`output_width`).
"""
import functools
from typing import Any, Callable, Optional, Tuple

import numpy

from ..errors import InputDTypeError
from ..initializers import glorot_uniform_init, zero_init
from ..model import Model, gradients_final, input_gradient_wanted
from ..types import Floats2d, Ragged
from ..util import get_width as _data_width

InitFn = Callable[..., Any]


# ------------------------------------------------------------ boundary checks
def check_input2f(model: Model, X: Any, dim: Optional[str] = "nI"):
    """`X` as a 2d float32 array of width ``model.get_dim(dim)``.

    Other float dtypes are converted (once: layers downstream receive float32);
    wrong rank, non-float data or a width that does not match raise an error
    naming the model and both widths.
    """
    if not hasattr(X, "ndim") or not hasattr(X, "dtype"):
        raise TypeError(f"Model {model.name!r} expects a 2d float array, got {type(X).__name__}")
    if X.ndim != 2:
        raise ValueError(f"Model {model.name!r} expects a 2d input (batch, features), "
                         f"got an array of shape {X.shape}")
    if X.dtype != numpy.float32:
        if X.dtype.kind != "f":
            raise InputDTypeError(f"Model {model.name!r} expects floating-point input, got dtype "
                                  f"{X.dtype}")
        X = X.astype(numpy.float32)
    if dim is not None:
        width = model.maybe_get_dim(dim)
        if width is None:
            raise ValueError(f"Cannot run model {model.name!r}: dimension {dim!r} is unset. "
                             "Call model.initialize(X=..., Y=...) with sample data first.")
        if X.shape[1] != width:
            raise ValueError(f"Model {model.name!r} expects input width {dim}={width}, "
                             f"but the batch has width {X.shape[1]} (shape {X.shape})")
    return X


def check_grad(model: Model, dY: Any, shape: Tuple[int, ...]):
    """`dY` as a float32 array of exactly `shape` (the shape of the output)."""
    if not hasattr(dY, "shape") or not hasattr(dY, "dtype"):
        raise TypeError(f"backprop of model {model.name!r} expects an array, got {type(dY).__name__}")
    if tuple(dY.shape) != tuple(shape):
        raise ValueError(f"backprop of model {model.name!r}: gradient has shape {tuple(dY.shape)}, "
                         f"but the output had shape {tuple(shape)}")
    if dY.dtype != numpy.float32:
        if dY.dtype.kind != "f":
            raise InputDTypeError(f"backprop of model {model.name!r} expects a float gradient, "
                            f"got dtype {dY.dtype}")
        dY = dY.astype(numpy.float32)
    return dY


def check_widths(layer: str, **widths: Any) -> None:
    """ValueError unless each width given to `layer` is None (inferred later) or
    a positive integer: a layer of width 0 computes nothing, and the error
    would otherwise come later, from a kernel, without the layer's name."""
    for name, value in widths.items():
        if value is not None and (isinstance(value, bool) or not hasattr(value, "__index__")
                                  or value < 1):
            raise ValueError(f"{layer}: {name} must be a positive integer (or left unset, to be "
                             f"inferred from the data), got {value!r}")


def check_backprop_array(Y_shape: Tuple[int, ...], Y_dtype: Any, dY: Any) -> None:
    """ValueError unless `dY` has the output's shape and dtype (Thinc's
    ``ArrayInfo.check_consistency``: ``Shape mismatch in backprop. Y: ..., dY: ...``)."""
    shape = getattr(dY, "shape", None)
    if shape is None:
        raise ValueError(f"Shape mismatch in backprop. Y: {Y_shape}, dY: {type(dY).__name__}")
    if tuple(shape) != tuple(Y_shape):
        raise ValueError(f"Shape mismatch in backprop. Y: {tuple(Y_shape)}, dY: {tuple(shape)}")
    if dY.dtype != Y_dtype:
        raise ValueError(f"Type mismatch in backprop. Y: {Y_dtype}, dY: {dY.dtype}")


def check_ragged_input(model: Any, Xr: Any) -> None:
    """TypeError naming the model unless `Xr` is a Ragged."""
    if not isinstance(Xr, Ragged):
        raise TypeError(f"Model {model.name!r} expects a Ragged (data, lengths), got "
                        f"{type(Xr).__name__}")


# ------------------------------------------------------------- dense layers
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
    """Accumulate ``dW += dZ.T @ X`` and ``db += dZ.sum(0)`` in place; return ``dZ @ W``.

    The parameter gradients come first and are announced final
    (:func:`~thinc_fast.model.gradients_final`) before the input's gradient
    is computed, so a data-parallel exchange sums them during that gemm.
    Returns None, computing no ``dZ @ W``, where the caller said it will not
    read the gradient of `X` (:func:`~thinc_fast.model.input_gradient_unread`)."""
    ops = model.ops
    ops.gemm(dZ, X, out=model.get_grad_buffer("W"), trans1=True, beta=1.0)
    ops.inc_col_sums(dZ, model.get_grad_buffer("b"))
    gradients_final(model)
    if not input_gradient_wanted(model, X):
        return None
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
    """An init function for layers with W (nO, nI) and b (nO,): a partial of a
    module-level function, so that the model pickles (as Thinc's do)."""
    return functools.partial(_affine_init, glorot_uniform_init if init_W is None else init_W,
                             zero_init if init_b is None else init_b)


def _affine_init(init_W: InitFn, init_b: InitFn, model: Model, X: Any = None,
                 Y: Any = None) -> None:
    infer_io_dims(model, X, Y)
    nO, nI = model.get_dim("nO"), model.get_dim("nI")
    for name, value in (("nO", nO), ("nI", nI)):
        if value < 1:
            raise ValueError(f"Model {model.name!r}: dimension {name!r} is {value}; a layer "
                             "needs a width of at least 1 (inferred from sample data with "
                             "no columns?)")
    model.set_param("W", init_W(model.ops, (nO, nI)))
    model.set_param("b", init_b(model.ops, (nO,)))
