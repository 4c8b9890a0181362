"""SparseLinear: a linear layer over hashed sparse features (keys, values, lengths)."""

from typing import Any, Callable, List, Optional, Tuple

import numpy

from .._builtins import builtin
from ..model import Model
from ..types import ArrayXd, Floats2d
from ..util import get_width

InT = Tuple[ArrayXd, ArrayXd, ArrayXd]


@builtin("layers", "SparseLinear.v1")
def SparseLinear(nO: Optional[int] = None, length: int = 2 ** 18) -> Model:
    """Thinc's ``SparseLinear.v1``: as :func:`SparseLinear_v2`, but the weight
    of class c for bucket h is ``W[h & (length - 1) + c]`` (Thinc's original
    indexing, which uses only a corner of W; kept so v1 models load and score
    the same)."""
    return _sparse_linear(nO, length, v1_indexing=True)


@builtin("layers", "SparseLinear.v2")
def SparseLinear_v2(nO: Optional[int] = None, length: int = 2 ** 18) -> Model:
    """A linear model over sparse features, for bag-of-ngrams classifiers.

    The input is ``(keys, values, lengths)``: uint64 feature ids, their float
    values, and how many of them belong to each example. Each key is hashed
    twice (MurmurHash3_x86_32 with seeds 0 and 1, Thinc's values) into one of
    `length` buckets, and ``Y[e, c] = b[c] + sum over e's features of
    value * (W[c, h0] + W[c, h1])`` with W stored flat as (nO * length,). Both
    parameters start at zero. The backprop returns the input unchanged.
    """
    return _sparse_linear(nO, length, v1_indexing=False)


def _sparse_linear(nO: Optional[int], length: int, *, v1_indexing: bool) -> Model:
    if isinstance(length, bool) or not isinstance(length, (int, numpy.integer)) or length < 1:
        raise ValueError(f"SparseLinear: length must be an int >= 1, got {length!r}")
    return Model("sparse_linear", forward, init=init, params={"W": None, "b": None},
                 dims={"nO": nO, "length": int(length)}, attrs={"v1_indexing": v1_indexing})


def init(model: Model, X: Optional[InT] = None, Y: Optional[Floats2d] = None) -> None:
    if Y is not None and model.has_dim("nO") is None:
        model.set_dim("nO", get_width(Y))
    nO, length = model.get_dim("nO"), model.get_dim("length")
    model.set_param("W", model.ops.alloc1f(nO * length))
    model.set_param("b", model.ops.alloc1f(nO))


def forward(model: Model, X: InT, is_train: bool) -> Tuple[Floats2d, Callable]:
    ops = model.ops
    xp = ops.xp
    keys, values, lengths = _check_input(model, X)
    nO, length = model.get_dim("nO"), model.get_dim("length")
    W = model.get_param("W")
    n_used = int(lengths.sum())
    values = values[:n_used]
    h0, h1 = _buckets(xp, keys[:n_used], length, model.attrs["v1_indexing"])
    starts = _class_starts(model)
    # class c's weights are the slice W[start_c : start_c + length]; each key
    # adds the weights of its two buckets, times its value
    per_class = ops.alloc2f(nO, n_used)
    for c, start in enumerate(starts):
        W_c = W[start:start + length]
        xp.add(xp.take(W_c, h0), xp.take(W_c, h1), out=per_class[c])
    per_class *= values[None, :]
    scores = _segment_sums(ops, per_class, lengths)
    scores += model.get_param("b")

    def backprop(d_scores: Floats2d) -> InT:
        d_scores = _check_grad(model, d_scores, scores.shape)
        # each key's gradient per class: its example's row of d_scores, times its value
        reps = lengths if xp is numpy else ops.to_numpy(lengths).tolist()
        d_keys = xp.repeat(d_scores.T, reps, axis=1)
        d_keys *= values[None, :]
        dW = model.get_grad_buffer("W")
        for c, start in enumerate(starts):
            _scatter_add(ops, dW[start:start + length], h0, h1, d_keys[c])
        ops.inc_col_sums(d_scores, model.get_grad_buffer("b"))
        return X

    return scores, backprop


def _scatter_add(ops: Any, dW_c: Any, h0: Any, h1: Any, d: Any) -> None:
    """``dW_c[h0] += d`` and ``dW_c[h1] += d``, repeated buckets adding up
    (NumPy's ``add.at`` on the 1d slice; ``ops.scatter_add`` elsewhere)."""
    if ops.xp is numpy:
        numpy.add.at(dW_c, h0, d)
        numpy.add.at(dW_c, h1, d)
        return
    table = ops.reshape2(dW_c, dW_c.shape[0], 1)
    values = ops.reshape2(d, d.shape[0], 1)
    ops.scatter_add(table, h0, values)
    ops.scatter_add(table, h1, values)


def _segment_sums(ops: Any, per_class: Any, lengths: Any) -> Floats2d:
    """(n_examples, nO): the sums of the columns of `per_class` (nO, n) over
    each example's keys (zeros for an example without keys). On NumPy one
    ``add.reduceat`` along the rows (no transpose); other backends use
    ``ops.reduce_sum``."""
    xp = ops.xp
    if xp is not numpy:
        return ops.reduce_sum(ops.as_contig(per_class.T), lengths)
    nO = per_class.shape[0]
    out = ops.alloc2f(lengths.shape[0], nO)
    present = numpy.flatnonzero(lengths)
    if present.size:
        starts = numpy.cumsum(lengths, dtype="int64") - lengths
        # the keys of the examples with keys are contiguous runs starting at these offsets
        out[present] = numpy.add.reduceat(per_class, starts[present], axis=1).T
    return out


def _class_starts(model: Model) -> List[int]:
    """Where each class's `length` weights start in the flat W: Thinc's v2
    layout is class-major (``c * length``); v1 indexing shifts by one per class."""
    nO, length = model.get_dim("nO"), model.get_dim("length")
    step = 1 if model.attrs["v1_indexing"] else length
    return [c * step for c in range(nO)]


def _buckets(xp: Any, keys: Any, length: int, v1_indexing: bool) -> Tuple[Any, Any]:
    """Each key's two buckets in [0, length) (intp arrays), from its
    MurmurHash3_x86_32 values with seeds 0 and 1 (masked with ``length - 1``
    under v1 indexing, modulo `length` otherwise)."""
    out = []
    for seed in (0, 1):
        h = murmurhash3_x86_32_uint64(xp, keys, seed)
        h = h & xp.uint32(length - 1) if v1_indexing else h % xp.uint32(length)
        out.append(h.astype(xp.intp))
    return out[0], out[1]


def murmurhash3_x86_32_uint64(xp: Any, keys: Any, seed: int) -> Any:
    """MurmurHash3_x86_32 of the 8 bytes of each uint64 key (little-endian)
    with `seed`, vectorised: the values of Thinc's SparseLinear."""
    u32 = xp.uint32
    c1, c2 = u32(0xCC9E2D51), u32(0x1B873593)
    h = xp.full(keys.shape, seed, dtype="uint32")
    for half in ((keys & xp.uint64(0xFFFFFFFF)), (keys >> xp.uint64(32))):
        k = half.astype("uint32") * c1
        k = ((k << u32(15)) | (k >> u32(17))) * c2
        h ^= k
        h = ((h << u32(13)) | (h >> u32(19))) * u32(5) + u32(0xE6546B64)
    h ^= u32(8)
    h ^= h >> u32(16)
    h *= u32(0x85EBCA6B)
    h ^= h >> u32(13)
    h *= u32(0xC2B2AE35)
    h ^= h >> u32(16)
    return h


def _check_input(model: Model, X: Any) -> Tuple[Any, Any, Any]:
    if not isinstance(X, (tuple, list)) or len(X) != 3:
        raise TypeError(f"Model {model.name!r} expects a tuple (keys, values, lengths), got "
                        f"{type(X).__name__}" + (f" of {len(X)} items"
                                                 if isinstance(X, (tuple, list)) else ""))
    ops = model.ops
    keys, values, lengths = X
    for name, arr in (("keys", keys), ("values", values), ("lengths", lengths)):
        if getattr(arr, "ndim", None) != 1:
            raise ValueError(f"Model {model.name!r}: {name} must be a 1d array, got "
                             f"{type(arr).__name__} of shape {getattr(arr, 'shape', None)}")
    if keys.dtype.kind not in "iu":
        raise TypeError(f"Model {model.name!r}: keys must be integers (uint64), got {keys.dtype}")
    if lengths.dtype.kind not in "iu":
        raise TypeError(f"Model {model.name!r}: lengths must be integers, got {lengths.dtype}")
    if values.dtype.kind != "f":
        raise TypeError(f"Model {model.name!r}: values must be floats, got {values.dtype}")
    if values.shape[0] != keys.shape[0]:
        raise ValueError(f"Model {model.name!r}: {keys.shape[0]} keys but {values.shape[0]} "
                         "values")
    if lengths.shape[0] and int(lengths.min()) < 0:
        raise ValueError(f"Model {model.name!r}: lengths must be >= 0, got {int(lengths.min())}")
    if int(lengths.sum()) > keys.shape[0]:
        raise ValueError(f"Model {model.name!r}: the lengths add up to {int(lengths.sum())}, "
                         f"but there are {keys.shape[0]} keys")
    keys = ops.asarray(keys).astype("uint64", copy=False)
    values = ops.asarray(values, dtype="float32")
    return keys, values, ops.asarray(lengths, dtype="int32")


def _check_grad(model: Model, dY: Any, shape: Tuple[int, ...]) -> Any:
    got = getattr(dY, "shape", None)
    if got is None or tuple(got) != tuple(shape):
        raise ValueError(f"backprop of model {model.name!r}: gradient has shape "
                         f"{None if got is None else tuple(got)}, but the output had shape "
                         f"{tuple(shape)}")
    return model.ops.asarray(dY, dtype="float32")
