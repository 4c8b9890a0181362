"""Checks at the boundary of a layer: input and gradient validation."""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy

from .model import Model


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
            raise TypeError(f"Model {model.name!r} expects floating-point input, got dtype {X.dtype}")
        X = X.astype(numpy.float32)
    if dim is not None:
        width = model._dims.get(dim)
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
            raise TypeError(f"backprop of model {model.name!r} expects a float gradient, "
                            f"got dtype {dY.dtype}")
        dY = dY.astype(numpy.float32)
    return dY


def crossentropy_sum(probs: Any, targets: Any) -> float:
    """``-sum(targets * log(probs))`` over a batch, probabilities clipped at 1e-9:
    the loss whose gradient with respect to the logits is ``probs - targets``.
    (NumPy's functions dispatch to CuPy for device arrays.)"""
    return float(-(targets * numpy.log(numpy.clip(probs, 1e-9, 1.0))).sum())
