"""What the backends' kernels take: the optimizer step's record of scalars and
the argument checks every backend shares (``Ops``, ``NumpyOps``, ``CupyOps``
and the Thinc backend raise the same errors for the same mistakes).

The checks run before anything is written, so a refused call changes nothing.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Optional, Tuple

import numpy


class KernelScalars(NamedTuple):
    """Everything a fused optimizer step needs besides the arrays, folded into scalars.

    One step over ``w`` with gradient ``g`` (Thinc's order; ``grad_scale`` is
    the clipping factor, given per call since it may differ per segment):

    - ``g = (g + l2_coupled * w) * grad_scale``
    - Adam: ``m = beta1 m + (1 - beta1) g``, ``v = beta2 v + (1 - beta2) g^2``,
      ``w -= lr_hat * m / (sqrt(v) + eps)``, or ``w -= lr_hat * m`` when
      ``use_denominator`` is False (RAdam's first steps); SGD: ``w -= lr_hat * g``
    - ``w -= decay * w`` (decoupled weight decay ``lr * L2``)
    - ``averages -= avg_rate * (averages - w)`` (``avg_rate = 1 - d``)
    - ``g = 0``

    lr_hat: the step size (Adam: bias-corrected). The record reaches the C
    kernels as ``thf_step`` (src/include/stream_loops.h), the CUDA kernels as
    their common scalar arguments (src/cuda/kernels.cu), in the field order
    below. An immutable named tuple: one is made per step, and a named tuple
    is made in half a frozen dataclass's time.
    """

    lr_hat: float
    beta1: float = 0.0
    beta2: float = 0.0
    eps: float = 0.0
    l2_coupled: float = 0.0
    decay: float = 0.0
    avg_rate: float = 0.0
    use_denominator: bool = True


def check_scalars(method: str, scalars: Any) -> KernelScalars:
    """`scalars` if it is a :class:`KernelScalars`, else TypeError saying what
    the kernel takes (the fields are converted to float32 where the record
    meets the kernel, which refuses non-numbers there)."""
    if not isinstance(scalars, KernelScalars):
        raise TypeError(f"{method}: `scalars` must be a KernelScalars record "
                        f"(thinc_fast.backends.kernel_args.KernelScalars), got "
                        f"{type(scalars).__name__}")
    return scalars


def check_gemm_shapes(a, b, trans1: bool, trans2: bool) -> Tuple[int, int]:
    """(m, k) of ``op(x) @ op(y)`` given `a` = op(x), `b` = op(y); ValueError if they do not fit."""
    if a.ndim != 2 or b.ndim != 2:
        raise ValueError(f"gemm: expected 2d arrays, got shapes {a.shape} and {b.shape}")
    if a.shape[1] != b.shape[0]:
        raise ValueError(
            f"gemm: inner dimensions differ: op(x) is {a.shape[0]}x{a.shape[1]} and "
            f"op(y) is {b.shape[0]}x{b.shape[1]} (trans1={trans1}, trans2={trans2})"
        )
    return a.shape[0], a.shape[1]


def check_bias(X, b) -> None:
    """ValueError unless the 1d bias `b` fits the columns of the 2d `X`."""
    if X.ndim != 2 or b.ndim != 1 or X.shape[1] != b.shape[0]:
        raise ValueError(f"bias of shape {b.shape} does not fit an array of shape {X.shape}")


def check_step_arrays(weights, gradient, mom1, mom2, averages) -> None:
    """ValueError unless every given state array has the shape of `weights`
    and may be written (the step updates each in place: a read-only one found
    half-way would leave the others updated)."""
    n = weights.shape
    for name, arr in (("weights", weights), ("gradient", gradient), ("mom1", mom1),
                      ("mom2", mom2), ("averages", averages)):
        if arr is None:
            continue
        if arr.shape != n:
            raise ValueError(f"optimizer step: {name} has shape {arr.shape}, weights have {n}")
        if not getattr(arr.flags, "writeable", True):  # NumPy's flag; CuPy arrays have none
            raise ValueError(f"optimizer step: `{name}` is read-only; the step updates it in "
                             "place (nothing was changed)")


def check_same_shape(method: str, **arrays: Any) -> None:
    """ValueError naming each shape unless the arrays given by name all have one shape."""
    shapes = {name: arr.shape for name, arr in arrays.items()}
    if len(set(shapes.values())) > 1:
        described = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"{method}: arrays have incompatible shapes: {described}")


def hash_ids(ops: Any, ids: Any) -> Any:
    """`ids` as a 1d uint64 array of `ops`'s backend (negative ints wrap, as a C cast)."""
    arr = ops.asarray(ids)
    if arr.ndim != 1:
        raise ValueError(f"hash: expected a 1d array of ids, got shape {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"hash: ids must be integers, got dtype {arr.dtype}")
    return arr.astype("uint64", copy=False)


def check_seed(seed: Any) -> int:
    """The hash seed as an int in [0, 2**32), else ValueError."""
    if isinstance(seed, bool) or not isinstance(seed, (int, numpy.integer)) \
            or not 0 <= int(seed) < 2 ** 32:
        raise ValueError(f"hash: seed must be an int in [0, 2**32), got {seed!r}")
    return int(seed)


# ---------------------------------------------------------------- sequences
def check_window(method: str, nW: Any) -> int:
    """The seq2col window as an int >= 0, else ValueError."""
    if isinstance(nW, bool) or not isinstance(nW, (int, numpy.integer)) or nW < 0:
        raise ValueError(f"{method}: the window nW must be an int >= 0, got {nW!r}")
    return int(nW)


def host_ints(method: str, ops: Any, arr: Any, name: str) -> numpy.ndarray:
    """`arr` (a list or an array of either backend) as a 1d int64 NumPy array."""
    host = ops.to_numpy(arr) if hasattr(arr, "dtype") else numpy.asarray(arr)
    if host.ndim != 1 or (host.size and host.dtype.kind not in "iu"):
        raise ValueError(f"{method}: {name} must be a 1d array of ints, got "
                         f"{host.dtype} of shape {host.shape}")
    return host.astype("int64")


def offsets_from_lengths(lens: numpy.ndarray) -> numpy.ndarray:
    """``[0, l0, l0 + l1, ...]`` (int64) for the sequence lengths `lens`."""
    out = numpy.zeros(lens.shape[0] + 1, dtype="int64")
    numpy.cumsum(lens, out=out[1:])
    return out


def seq2col_offsets(method: str, ops: Any, lengths: Any, n_rows: int) -> numpy.ndarray:
    """Sequence offsets for seq2col: lengths >= 0 adding up to `n_rows`."""
    if lengths is None:
        return numpy.asarray([0, n_rows], dtype="int64")
    lens = host_ints(method, ops, lengths, "lengths")
    if (lens < 0).any():
        raise ValueError(f"{method}: all sequence lengths must be >= 0, got {lens.min()}")
    if int(lens.sum()) != n_rows:
        raise ValueError(f"{method}: the lengths add up to {int(lens.sum())}, but the array "
                         f"has {n_rows} rows")
    return offsets_from_lengths(lens)


def reduce_offsets(method: str, ops: Any, X: Any, lengths: Any, *, min_length: int,
                    exact: bool = False) -> numpy.ndarray:
    """Sequence offsets for a reduction over the rows of the 2d `X`, checked as
    Thinc does: the first sequence at fault decides between ValueError (a length
    below `min_length`) and IndexError (past the last row; with `exact`, the
    lengths must add up to the rows)."""
    if X.ndim != 2:
        raise ValueError(f"{method}: expected a 2d array, got shape {X.shape}")
    lens = host_ints(method, ops, lengths, "lengths")
    offs = offsets_from_lengths(lens)
    short = numpy.flatnonzero(lens < min_length)
    over = numpy.flatnonzero(offs[1:] > X.shape[0])
    if short.size and (not over.size or short[0] <= over[0]):
        bound = "> 0" if min_length == 1 else f">= {min_length}"
        raise ValueError(f"{method}: all sequence lengths must be {bound}, got "
                         f"{lens[short[0]]}")
    if over.size or (exact and offs[-1] != X.shape[0]):
        raise IndexError(f"{method}: lengths must sum up to the number of rows "
                         f"({int(offs[-1])} vs {X.shape[0]})")
    return offs


def backprop_lengths(method: str, ops: Any, d: Any, lengths: Any, *,
                      min_length: int) -> numpy.ndarray:
    """The lengths for a reduction's backward pass, checked: each >= `min_length`, one per row of `d`."""
    lens = host_ints(method, ops, lengths, "lengths")
    if lens.size and lens.min() < min_length:
        bound = "> 0" if min_length == 1 else f">= {min_length}"
        raise ValueError(f"{method}: all sequence lengths must be {bound}, got {lens.min()}")
    if d.ndim != 2 or d.shape[0] != lens.shape[0]:
        raise ValueError(f"{method}: expected one gradient row per sequence "
                         f"({lens.shape[0]}), got shape {d.shape}")
    return lens


def check_indices(method: str, ops: Any, indices: Any, n_rows: int,
                   ndim: Optional[int] = None) -> None:
    """IndexError unless `indices` are ints in ``[0, n_rows)``."""
    if ndim is not None and indices.ndim != ndim:
        raise ValueError(f"{method}: expected {ndim}d indices, got shape {indices.shape}")
    if indices.dtype.kind not in "iu":
        raise IndexError(f"{method}: indices must be integers, got dtype {indices.dtype}")
    if indices.size:
        lo, hi = int(indices.min()), int(indices.max())
        if lo < 0 or hi >= n_rows:
            bad = lo if lo < 0 else hi
            raise IndexError(f"{method}: index {bad} is out of bounds for a table of "
                             f"{n_rows} rows")

