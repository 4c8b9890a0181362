"""The Ops base class: array allocation and xp-generic reference kernels.

Every array computation of a layer or optimizer goes through an ``Ops`` object.
The methods here are written once against ``self.xp`` (NumPy or CuPy) and are
the reference the accelerated backends (``NumpyOps``, later ``CupyOps``) are
tested against. They favour clarity over speed.
"""
from __future__ import annotations

import math
from typing import Any, Tuple, Union

import numpy

Shape = Union[int, Tuple[int, ...]]


class Ops:
    """Reference array operations over the array module ``xp``."""

    name: str = "base"
    xp: Any = numpy

    def __init__(self, **kwargs: Any) -> None:
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unexpected settings: {sorted(kwargs)}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # ------------------------------------------------------------------ arrays
    def alloc(self, shape: Shape, *, dtype: Any = "float32", zeros: bool = True):
        """A new array of `shape`, zero-filled unless ``zeros=False``."""
        if isinstance(shape, int):
            shape = (shape,)
        if any((not isinstance(d, (int, numpy.integer))) or d < 0 for d in shape):
            raise ValueError(f"alloc: invalid shape {shape!r}: dimensions must be non-negative ints")
        return self.xp.zeros(shape, dtype=dtype) if zeros else self.xp.empty(shape, dtype=dtype)

    def alloc1f(self, d0: int, *, zeros: bool = True):
        return self.alloc((d0,), zeros=zeros)

    def alloc2f(self, d0: int, d1: int, *, zeros: bool = True):
        return self.alloc((d0, d1), zeros=zeros)

    def alloc3f(self, d0: int, d1: int, d2: int, *, zeros: bool = True):
        return self.alloc((d0, d1, d2), zeros=zeros)

    def asarray(self, data: Any, *, dtype: Any = None):
        """`data` as an array of this backend (no copy when already one)."""
        return self.xp.asarray(data, dtype=dtype)

    def asarray1f(self, data: Any):
        return self.xp.asarray(data, dtype="float32").reshape(-1)

    def asarray2f(self, data: Any):
        arr = self.xp.asarray(data, dtype="float32")
        if arr.ndim != 2:
            raise ValueError(f"asarray2f: expected a 2d array, got shape {arr.shape}")
        return arr

    def as_contig(self, X: Any, *, dtype: Any = None):
        """`X` as a C-contiguous array (a no-op when it already is one)."""
        return self.xp.ascontiguousarray(X, dtype=dtype)

    def to_numpy(self, X: Any):
        """`X` as a NumPy array on the host."""
        return numpy.asarray(X)

    # ------------------------------------------------------------- linear algebra
    def gemm(self, x, y, out=None, trans1: bool = False, trans2: bool = False, *,
             alpha: float = 1.0, beta: float = 0.0):
        """General matrix product: ``out := alpha * op(x) @ op(y) + beta * out``.

        ``op(a)`` is ``a.T`` when the matching ``trans`` flag is set. With
        ``beta=1`` the product accumulates into `out` (gradient accumulation).
        """
        a, b, out = self._gemm_operands(x, y, out, trans1, trans2, beta)
        prod = self.xp.matmul(a, b)
        if alpha != 1.0:
            prod = prod * alpha
        if beta == 0.0:
            out[...] = prod
        else:
            out *= beta
            out += prod
        return out

    def _gemm_operands(self, x, y, out, trans1: bool, trans2: bool, beta: float):
        """``(op(x), op(y), out)`` after checking shapes; allocates `out` when None."""
        a = x.T if trans1 else x
        b = y.T if trans2 else y
        m, _ = _check_gemm_shapes(a, b, trans1, trans2)
        n = b.shape[1]
        if out is None:
            if beta != 0.0:
                raise ValueError("gemm: beta != 0 needs an `out` array to accumulate into")
            out = self.xp.empty((m, n), dtype=numpy.result_type(a.dtype, b.dtype))
        elif out.shape != (m, n):
            raise ValueError(f"gemm: `out` has shape {out.shape}, expected {(m, n)}")
        return a, b, out

    def affine(self, X, W, b):
        """``Y = X @ W.T + b``."""
        Y = self.gemm(X, W, trans2=True)
        return self.bias_add(Y, b, inplace=True)

    def bias_add(self, X, b, *, inplace: bool = False):
        """``X + b`` with `b` broadcast over the rows of `X`."""
        _check_bias(X, b)
        if inplace:
            X += b
            return X
        return X + b

    def bias_relu(self, X, b, *, inplace: bool = False):
        """Fused ``max(X + b, 0)``."""
        _check_bias(X, b)
        Y = X if inplace else X.copy()
        Y += b
        self.xp.maximum(Y, 0, out=Y)
        return Y

    def relu(self, X, inplace: bool = False):
        """``max(X, 0)``."""
        if inplace:
            self.xp.maximum(X, 0, out=X)
            return X
        return self.xp.maximum(X, 0)

    def backprop_relu(self, dY, Y, inplace: bool = False):
        """``dX = dY * (Y > 0)``, for `Y` the output of the ReLU."""
        if dY.shape != Y.shape:
            raise ValueError(f"backprop_relu: dY has shape {dY.shape} but Y has {Y.shape}")
        dX = dY if inplace else dY.copy()
        dX *= Y > 0
        return dX

    def softmax(self, X, inplace: bool = False, axis: int = -1):
        """``exp(X - max) / sum(exp(X - max))`` along `axis`."""
        Y = X if inplace else X.copy()
        Y -= Y.max(axis=axis, keepdims=True)
        self.xp.exp(Y, out=Y)
        Y /= Y.sum(axis=axis, keepdims=True)
        return Y

    def backprop_softmax(self, Y, dY, axis: int = -1):
        """Gradient of the softmax: ``dX = Y * (dY - sum(dY * Y))``."""
        dX = Y * dY
        dX -= Y * dX.sum(axis=axis, keepdims=True)
        return dX

    def inc_col_sums(self, X, out):
        """``out += X.sum(axis=0)``: bias gradients accumulated in place."""
        if X.ndim != 2 or out.shape != (X.shape[1],):
            raise ValueError(f"inc_col_sums: cannot add column sums of {X.shape} into {out.shape}")
        out += X.sum(axis=0)
        return out

    def maxout(self, X):
        """Max over the last axis: returns ``(best, which)``."""
        which = X.argmax(axis=-1)
        best = self.xp.take_along_axis(X, which[..., None], axis=-1)[..., 0]
        return best, which.astype("int32")

    def backprop_maxout(self, dY, which, P: int):
        """Scatter `dY` back to the piece that won: shape ``dY.shape + (P,)``."""
        dX = self.alloc(dY.shape + (P,), dtype=dY.dtype)
        self.xp.put_along_axis(dX, which[..., None].astype("int64"), dY[..., None], axis=-1)
        return dX

    def get_dropout_mask(self, shape: Shape, drop: float):
        """A mask of 0 and ``1 / (1 - drop)`` entries (inverted dropout)."""
        if not 0.0 <= drop < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {drop}")
        if drop == 0.0:
            return self.xp.ones(shape, dtype="float32")
        keep = self.xp.random.uniform(0.0, 1.0, shape) >= drop
        return keep.astype("float32") / (1.0 - drop)

    # --------------------------------------------------------------- optimizers
    def sum_of_squares(self, gradient, weights=None, l2: float = 0.0) -> float:
        """``sum((gradient + l2 * weights) ** 2)`` as a Python float (float64 sum).

        Non-finite whenever either array holds NaN or inf (weights only count
        when ``l2 != 0``): the optimizer's finiteness check and global norm.
        """
        g = gradient.astype("float64")
        if weights is not None and l2 != 0.0:
            g = g + l2 * weights.astype("float64")
        return float((g * g).sum())

    def segment_sum_of_squares(self, gradient, weights=None, l2: float = 0.0, segments=None):
        """Per-segment ``sum((gradient + l2 * weights) ** 2)`` of 1d arrays, segment
        k being ``gradient[segments[k]:segments[k + 1]]``: a float64 array with
        one total per segment (the per-tensor norms of a parameter arena)."""
        offsets = [int(o) for o in segments]
        g = gradient.astype("float64")
        if weights is not None and l2 != 0.0:
            g = g + l2 * weights.astype("float64")
        sq = g * g
        return self.xp.asarray([float(sq[a:b].sum()) for a, b in zip(offsets, offsets[1:])],
                               dtype="float64")

    def _segment_scale(self, grad_scale, segments, n: int):
        """`grad_scale` as one factor or, with `segments`, one factor per value."""
        if segments is None:
            return grad_scale
        offsets = self.xp.asarray(segments, dtype="int64")
        sizes = offsets[1:] - offsets[:-1]
        scales = self.xp.asarray(grad_scale, dtype="float32")
        if scales.shape != (sizes.shape[0],) or int(offsets[-1]) != n:
            raise ValueError(f"grad_scale: expected one scale per segment ({sizes.shape[0]}) of "
                             f"an array of {n} values, got shape {scales.shape}")
        return self.xp.repeat(scales, sizes)

    def adam_step(self, weights, gradient, mom1, mom2, averages=None, *, lr_hat: float,
                  beta1: float, beta2: float, eps: float, grad_scale: Any = 1.0,
                  l2_coupled: float = 0.0, decay: float = 0.0, avg_rate: float = 0.0,
                  use_denominator: bool = True, segments: Any = None) -> None:
        """One fused Adam step over 1d float32 arrays, in place; zeroes `gradient`.

        ``g = (gradient + l2_coupled * w) * grad_scale``,
        ``m = beta1 m + (1 - beta1) g``, ``v = beta2 v + (1 - beta2) g^2``,
        ``w -= lr_hat * m / (sqrt(v) + eps)`` (``w -= lr_hat * m`` without the
        denominator: RAdam's first steps), then ``w -= decay * w`` and
        ``averages -= avg_rate * (averages - w)``. With `segments` (boundaries
        ``0 = s[0] <= ... <= s[-1] = len(w)``), `grad_scale` holds one factor
        per segment: per-tensor clipping over a whole parameter arena.
        """
        _check_step_arrays(weights, gradient, mom1, mom2, averages)
        grad_scale = self._segment_scale(grad_scale, segments, weights.shape[0])
        g = (gradient + l2_coupled * weights) * grad_scale
        mom1 *= beta1
        mom1 += (1.0 - beta1) * g
        mom2 *= beta2
        mom2 += (1.0 - beta2) * g * g
        if use_denominator:
            weights -= lr_hat * mom1 / (self.xp.sqrt(mom2) + eps)
        else:
            weights -= lr_hat * mom1
        weights -= decay * weights
        gradient.fill(0)
        if averages is not None:
            averages -= avg_rate * (averages - weights)

    def sgd_step(self, weights, gradient, averages=None, *, learn_rate: float,
                 grad_scale: Any = 1.0, l2_coupled: float = 0.0, decay: float = 0.0,
                 avg_rate: float = 0.0, segments: Any = None) -> None:
        """One fused SGD step: ``w -= learn_rate * (gradient + l2_coupled w) * grad_scale``,
        then ``w -= decay * w``; updates `averages`; zeroes `gradient`. `segments`
        as in :meth:`adam_step`."""
        _check_step_arrays(weights, gradient, None, None, averages)
        grad_scale = self._segment_scale(grad_scale, segments, weights.shape[0])
        weights -= learn_rate * ((gradient + l2_coupled * weights) * grad_scale)
        weights -= decay * weights
        gradient.fill(0)
        if averages is not None:
            averages -= avg_rate * (averages - weights)

    def adam(self, weights, gradient, mom1, mom2, beta1: float, beta2: float, eps: float,
             learn_rate: float, mod_rate: float = 1.0):
        """Thinc's Ops.adam: one step with a bias-corrected `learn_rate` given by
        the caller. Returns ``(weights, gradient, mom1, mom2)``."""
        self.adam_step(weights, gradient, mom1, mom2, lr_hat=learn_rate * mod_rate,
                       beta1=beta1, beta2=beta2, eps=eps)
        return weights, gradient, mom1, mom2

    def clip_gradient(self, gradient, threshold: float):
        """Scale `gradient` in place so that its L2 norm is at most `threshold`."""
        norm = math.sqrt(self.sum_of_squares(gradient))
        if norm >= threshold and norm > 0:
            gradient *= threshold / norm
        return gradient

    def update_averages(self, ema, weights, t: int, max_decay: float = 0.9999) -> None:
        """``ema -= (1 - d) * (ema - weights)`` with ``d = min((1 + t) / (10 + t), max_decay)``."""
        decay = min((1.0 + t) / (10.0 + t), max_decay)
        ema -= (1.0 - decay) * (ema - weights)


def _check_gemm_shapes(a, b, trans1: bool, trans2: bool) -> Tuple[int, int]:
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"gemm: expected 2d arrays, got shapes {a.shape} and {b.shape}")
    if a.shape[1] != b.shape[0]:
        raise ValueError(
            f"gemm: inner dimensions differ: op(x) is {a.shape[0]}x{a.shape[1]} and "
            f"op(y) is {b.shape[0]}x{b.shape[1]} (trans1={trans1}, trans2={trans2})"
        )
    return a.shape[0], a.shape[1]


def _check_bias(X, b) -> None:
    if X.ndim != 2 or b.ndim != 1 or X.shape[1] != b.shape[0]:
        raise ValueError(f"bias of shape {b.shape} does not fit an array of shape {X.shape}")


def _check_step_arrays(weights, gradient, mom1, mom2, averages) -> None:
    n = weights.shape
    for name, arr in (("gradient", gradient), ("mom1", mom1), ("mom2", mom2), ("averages", averages)):
        if arr is not None and arr.shape != n:
            raise ValueError(f"optimizer step: {name} has shape {arr.shape}, weights have {n}")


