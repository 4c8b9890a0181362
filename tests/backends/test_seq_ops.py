"""Sequence, hashing, embedding, activation and LSTM ops.

Every kernel is checked on the reference backend (Ops), on NumpyOps and on
CupyOps over the CPU stand-in for CuPy (tests/cupy_standin) against a plain
float64 NumPy version written with loops, on inputs large enough to take the
threaded paths too; gradients against finite differences (or, for the linear
maps, the adjoint identity <f(x), y> = <x, f'(y)>). The hash values are Thinc
9.1.1's, checked here against a pure-Python MurmurHash3. The GPU tests compare
CupyOps with NumpyOps on a real GPU (skipped without one) and on the stand-in;
the sequence kernels of kernels.cu are also launched directly on the stand-in
with several grid and block shapes.
"""
import math
import struct

import cupy_standin  # loaded by conftest.py
import numpy
import pytest
from numpy.testing import assert_allclose

from thinc_fast.backends import NumpyOps, Ops, get_num_threads, set_num_threads
from thinc_fast.backends.cupy_ops import gpu_status

REF = Ops()
FAST = NumpyOps()
# and CupyOps on the CPU stand-in for CuPy (host arrays in and out)
BOTH = [REF, FAST, cupy_standin.HOST_OPS]
IDS = ["Ops", "NumpyOps", "CupyOps-standin"]
GPU = gpu_status() is None


def random_lengths(rng, n_rows, n_seqs, allow_empty=True):
    """`n_seqs` lengths adding up to `n_rows` (some zero when allowed)."""
    if n_seqs == 0:
        return numpy.zeros(0, dtype="int32")
    low = 0 if allow_empty else 1
    cuts = numpy.sort(rng.integers(0, n_rows - low * n_seqs + 1, n_seqs - 1))
    lens = numpy.diff(numpy.concatenate([[0], cuts, [n_rows - low * n_seqs]])) + low
    return lens.astype("int32")


# ---------------------------------------------------------------- hashing
M64 = (1 << 64) - 1


def _rotl64(x, r):
    return ((x << r) | (x >> (64 - r))) & M64


def _fmix64(k):
    k ^= k >> 33
    k = (k * 0xFF51AFD7ED558CCD) & M64
    k ^= k >> 33
    k = (k * 0xC4CEB9FE1A85EC53) & M64
    return k ^ (k >> 33)


def murmur3_x64_128(data: bytes, seed: int):
    """MurmurHash3_x64_128 for any input, straight from the algorithm."""
    c1, c2 = 0x87C37B91114253D5, 0x4CF5AD432745937F
    h1 = h2 = seed
    nblocks = len(data) // 16
    for b in range(nblocks):
        k1, k2 = struct.unpack_from("<QQ", data, 16 * b)
        h1 ^= (_rotl64((k1 * c1) & M64, 31) * c2) & M64
        h1 = (((_rotl64(h1, 27) + h2) & M64) * 5 + 0x52DCE729) & M64
        h2 ^= (_rotl64((k2 * c2) & M64, 33) * c1) & M64
        h2 = (((_rotl64(h2, 31) + h1) & M64) * 5 + 0x38495AB5) & M64
    tail = data[16 * nblocks:]
    if len(tail) > 8:
        k2 = int.from_bytes(tail[8:], "little")
        h2 ^= (_rotl64((k2 * c2) & M64, 33) * c1) & M64
    if tail:
        k1 = int.from_bytes(tail[:8], "little")
        h1 ^= (_rotl64((k1 * c1) & M64, 31) * c2) & M64
    h1 ^= len(data)
    h2 ^= len(data)
    h1 = (h1 + h2) & M64
    h2 = (h2 + h1) & M64
    h1, h2 = _fmix64(h1), _fmix64(h2)
    h1 = (h1 + h2) & M64
    return h1, (h2 + h1) & M64


def murmur64a(data: bytes, seed: int = 0):
    m = 0xC6A4A7935BD1E995
    h = (seed ^ (len(data) * m)) & M64
    for b in range(len(data) // 8):
        (k,) = struct.unpack_from("<Q", data, 8 * b)
        k = (k * m) & M64
        k = ((k ^ (k >> 47)) * m) & M64
        h = ((h ^ k) * m) & M64
    tail = data[8 * (len(data) // 8):]
    if tail:
        h = ((h ^ int.from_bytes(tail, "little")) * m) & M64
    h = ((h ^ (h >> 47)) * m) & M64
    return h ^ (h >> 47)


def python_hash(ids, seed):
    rows = []
    for v in ids:
        h1, h2 = murmur3_x64_128(struct.pack("<Q", int(v)), seed)
        rows.append([h1 & 0xFFFFFFFF, h1 >> 32, h2 & 0xFFFFFFFF, h2 >> 32])
    return numpy.asarray(rows, dtype="uint32").reshape(-1, 4)


def python_ngrams(n, keys):
    keys = [int(k) for k in keys]
    if n < 1:
        return []
    return [murmur64a(struct.pack(f"<{n}Q", *keys[i:i + n])) for i in range(len(keys) - n + 1)]


# Computed with Thinc 9.1.1's NumpyOps.hash / ngrams (and equal to python_hash).
SMALL_IDS = [0, 1, 42, 2 ** 64 - 1, 11648197037703959513]
THINC_HASH = {
    0: [[3428303819, 685728695, 3303603794, 4065689084],
        [4211459146, 4457399, 3547175942, 1032506804],
        [2312273400, 3064775577, 2532454272, 616110075],
        [448458099, 2699342458, 1800029871, 1763775177],
        [484193764, 15085485, 1252565524, 505555989]],
    7: [[363161713, 1826689969, 588221874, 425284546],
        [3089165797, 1536154270, 2023308811, 4074317197],
        [3662220732, 3362859700, 3179182786, 1136974613],
        [3047236301, 3599381855, 1331799921, 2604828161],
        [2035656551, 2797468989, 917820825, 3223723951]],
    2 ** 32 - 1: [[3379968066, 2350167928, 3358923416, 3283558021],
                  [180552405, 499527447, 1281644803, 1570502297],
                  [3632056425, 2198696201, 3154318072, 3288232600],
                  [88181733, 672240216, 4087153151, 3796020537],
                  [232167432, 2305475903, 1633364524, 1566765097]],
}
THINC_NGRAMS = {
    1: [8217090173679840641, 10357027354812746030, 15194948626179207696,
        4219408603045787357, 13494217144120492981],
    2: [7284306523449778148, 11641465978518394401, 18340355735311467725, 9751981743706825160],
    3: [9124614774680776350, 16328221049422024526, 12664828645864904667],
}


def test_python_murmur_matches_the_thinc_values():
    ids = numpy.asarray(SMALL_IDS, dtype="uint64")
    for seed, expected in THINC_HASH.items():
        assert python_hash(ids, seed).tolist() == expected
    for n, expected in THINC_NGRAMS.items():
        assert python_ngrams(n, ids) == expected
    # the generic version on a longer input: the 16-byte block path and a 9..15-byte tail
    assert murmur3_x64_128(b"hello world, murmur", 3) == murmur3_x64_128(b"hello world, murmur", 3)


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
def test_hash_gives_thincs_values(ops):
    ids = numpy.asarray(SMALL_IDS, dtype="uint64")
    for seed, expected in THINC_HASH.items():
        keys = ops.hash(ids, seed)
        assert keys.dtype == numpy.uint32 and keys.shape == (5, 4)
        assert keys.tolist() == expected


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
def test_hash_against_python_murmur(ops, threads):
    rng = numpy.random.default_rng(0)
    ids = rng.integers(0, 2 ** 64 - 1, 200, dtype="uint64", endpoint=True)
    for seed in (0, 1, 12345, 2 ** 31, 2 ** 32 - 1):
        assert numpy.array_equal(ops.hash(ids, seed), python_hash(ids, seed))
    big = rng.integers(0, 2 ** 63, 70_000, dtype="uint64")
    got = ops.hash(big, 9)
    sample = rng.integers(0, big.shape[0], 300)
    assert numpy.array_equal(got[sample], python_hash(big[sample], 9))


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
def test_hash_id_dtypes_and_errors(ops):
    ids = numpy.asarray([3, 5, 2 ** 40], dtype="uint64")
    expected = ops.hash(ids, 1)
    assert numpy.array_equal(ops.hash(ids.astype("int64"), 1), expected)
    small = numpy.asarray([3, 5], dtype="uint32")
    assert numpy.array_equal(ops.hash(small, 1), expected[:2])
    assert numpy.array_equal(ops.hash([3, 5, 2 ** 40], 1), expected)
    # negative ids wrap as a C cast to uint64 would
    assert numpy.array_equal(ops.hash(numpy.asarray([-1], dtype="int64"), 0),
                             python_hash([2 ** 64 - 1], 0))
    assert ops.hash(numpy.zeros(0, dtype="uint64"), 0).shape == (0, 4)
    with pytest.raises(ValueError, match="seed"):
        ops.hash(ids, -1)
    with pytest.raises(ValueError, match="seed"):
        ops.hash(ids, 2 ** 32)
    with pytest.raises(ValueError, match="1d"):
        ops.hash(ids.reshape(1, 3), 0)
    with pytest.raises(ValueError, match="integers"):
        ops.hash(ids.astype("float32"), 0)


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
def test_ngrams(ops, threads):
    ids = numpy.asarray(SMALL_IDS, dtype="uint64")
    for n, expected in THINC_NGRAMS.items():
        out = ops.ngrams(n, ids)
        assert out.dtype == numpy.uint64 and out.tolist() == expected
    for n in (-1, 0, 6, 7):
        assert ops.ngrams(n, ids).shape == (0,)
    rng = numpy.random.default_rng(1)
    keys = rng.integers(0, 2 ** 63, 40_000, dtype="uint64")
    got = ops.ngrams(4, keys)
    assert got.shape == (keys.shape[0] - 3,)
    for i in (0, 1, 17_000, got.shape[0] - 1):
        assert int(got[i]) == python_ngrams(4, keys[i:i + 4])[0]


# ----------------------------------------------------------------- seq2col
def loop_seq2col(X, nW, lengths):
    X = numpy.asarray(X, dtype="float64")
    B, I = X.shape
    nF = 2 * nW + 1
    out = numpy.zeros((B, nF, I))
    start = 0
    for n in lengths:
        for t in range(start, start + n):
            for k in range(nF):
                src = t + k - nW
                if start <= src < start + n:
                    out[t, k] = X[src]
        start += n
    return out.reshape(B, nF * I)


def loop_backprop_seq2col(dY, nW, lengths):
    dY = numpy.asarray(dY, dtype="float64")
    nF = 2 * nW + 1
    B, I = dY.shape[0], dY.shape[1] // nF
    dY3 = dY.reshape(B, nF, I)
    dX = numpy.zeros((B, I))
    start = 0
    for n in lengths:
        for t in range(start, start + n):
            for k in range(nF):
                src = t + k - nW
                if start <= src < start + n:
                    dX[src] += dY3[t, k]
        start += n
    return dX


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("nW", [0, 1, 2, 4])
def test_seq2col_against_loops(ops, dtype, nW):
    rng = numpy.random.default_rng(nW)
    X = rng.standard_normal((41, 6)).astype(dtype)
    for lengths in ([41], [0, 41], [3, 0, 10, 1, 0, 20, 7, 0], [1] * 41,
                    random_lengths(rng, 41, 9)):
        lengths = numpy.asarray(lengths, dtype="int32")
        cols = ops.seq2col(X, nW, lengths=lengths)
        assert cols.dtype == dtype and cols.shape == (41, (2 * nW + 1) * 6)
        assert_allclose(cols, loop_seq2col(X, nW, lengths))
        dY = rng.standard_normal(cols.shape).astype(dtype)
        dX = ops.backprop_seq2col(dY, nW, lengths=lengths)
        assert dX.dtype == dtype and dX.shape == X.shape
        assert_allclose(dX, loop_backprop_seq2col(dY, nW, lengths), rtol=1e-5, atol=1e-5)
    assert_allclose(ops.seq2col(X, nW), loop_seq2col(X, nW, [41]))


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
def test_seq2col_threaded_and_adjoint(ops, threads):
    """Large enough for the threaded path; backprop_seq2col is seq2col's adjoint."""
    rng = numpy.random.default_rng(5)
    X = rng.standard_normal((30_011, 7)).astype("float32")
    lengths = random_lengths(rng, X.shape[0], 997)
    cols = ops.seq2col(X, 1, lengths=lengths)
    sample = slice(12_000, 12_400)
    starts = numpy.cumsum(lengths) - lengths
    # rows 12000..12399 with the sequences around them, from the loop version
    first = int(numpy.searchsorted(starts, 12_000, side="right") - 1)
    last = int(numpy.searchsorted(starts, 12_400, side="left"))
    a, b = int(starts[first]), int(starts[last]) if last < len(starts) else X.shape[0]
    local = loop_seq2col(X[a:b], 1, lengths[first:last])
    assert_allclose(cols[sample], local[12_000 - a:12_400 - a])
    dY = rng.standard_normal(cols.shape).astype("float32")
    dX = ops.backprop_seq2col(dY, 1, lengths=lengths)
    lhs = float((cols.astype("f8") * dY).sum())
    rhs = float((X.astype("f8") * dX).sum())
    assert lhs == pytest.approx(rhs, rel=1e-4)


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
def test_seq2col_other_dtypes_and_layouts(ops):
    X = numpy.arange(24, dtype="int32").reshape(8, 3)
    cols = ops.seq2col(X, 1, lengths=numpy.asarray([3, 5], dtype="int32"))
    assert cols.dtype == numpy.int32
    assert_allclose(cols, loop_seq2col(X, 1, [3, 5]))
    F = numpy.asfortranarray(numpy.arange(24, dtype="float32").reshape(8, 3))
    assert_allclose(ops.seq2col(F, 2), loop_seq2col(F, 2, [8]))
    strided = numpy.arange(48, dtype="float32").reshape(8, 6)[:, ::2]
    assert_allclose(ops.seq2col(strided, 1), loop_seq2col(strided, 1, [8]))


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
def test_seq2col_errors(ops):
    X = numpy.ones((5, 3), dtype="float32")
    with pytest.raises(ValueError, match="lengths"):
        ops.seq2col(X, 1, lengths=numpy.asarray([2, 2], dtype="int32"))
    with pytest.raises(ValueError, match=">= 0"):
        ops.seq2col(X, 1, lengths=numpy.asarray([6, -1], dtype="int32"))
    with pytest.raises(ValueError, match="nW"):
        ops.seq2col(X, -1)
    with pytest.raises(ValueError, match="2d"):
        ops.seq2col(numpy.ones(5, dtype="float32"), 1)
    with pytest.raises(ValueError, match="blocks"):
        ops.backprop_seq2col(numpy.ones((5, 4), dtype="float32"), 1)
    assert ops.seq2col(numpy.zeros((0, 3), "f"), 1, lengths=numpy.zeros(0, "i")).shape == (0, 9)


# -------------------------------------------------------------- reductions
def loop_reduce(X, lengths, how):
    X = numpy.asarray(X, dtype="float64")
    out, which = [], []
    start = 0
    for n in lengths:
        rows = X[start:start + n]
        if how == "sum":
            out.append(rows.sum(axis=0))
        elif how == "mean":
            out.append(rows.mean(axis=0) if n else numpy.zeros(X.shape[1]))
        else:
            out.append(rows.max(axis=0))
            which.append(rows.argmax(axis=0))
        start += n
    out = numpy.asarray(out).reshape(len(lengths), X.shape[1])
    return (out, numpy.asarray(which).reshape(out.shape)) if how == "max" else out


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reductions_against_loops(ops, dtype, threads):
    rng = numpy.random.default_rng(2)
    for n_rows, n_cols, n_seqs in ((23, 5, 6), (40_000, 3, 1_000), (3_000, 40, 7)):
        X = rng.standard_normal((n_rows, n_cols)).astype(dtype)
        lengths = random_lengths(rng, n_rows, n_seqs)
        for how in ("sum", "mean"):
            Y = getattr(ops, f"reduce_{how}")(X, lengths)
            assert Y.dtype == dtype
            assert_allclose(Y, loop_reduce(X, lengths, how), rtol=1e-4, atol=1e-4)
            dY = rng.standard_normal(Y.shape).astype(dtype)
            dX = getattr(ops, f"backprop_reduce_{how}")(dY, lengths)
            assert dX.dtype == dtype and dX.shape == X.shape
            scale = 1.0 / numpy.maximum(lengths, 1) if how == "mean" else numpy.ones(n_seqs)
            assert_allclose(dX, numpy.repeat(dY.astype("f8") * scale[:, None], lengths, axis=0),
                            rtol=1e-6, atol=1e-7)
        full = random_lengths(rng, n_rows, n_seqs, allow_empty=False)
        maxes, which = ops.reduce_max(X, full)
        expected, expected_which = loop_reduce(X, full, "max")
        assert maxes.dtype == dtype and which.dtype == numpy.int32
        assert_allclose(maxes, expected)
        assert numpy.array_equal(which, expected_which)
        d = rng.standard_normal(maxes.shape).astype(dtype)
        dX = ops.backprop_reduce_max(d, which, full)
        loop = numpy.zeros(X.shape)
        start = 0
        for k, n in enumerate(full):
            for j in range(n_cols):
                loop[start + which[k, j], j] = d[k, j]
            start += n
        assert numpy.array_equal(dX, loop.astype(dtype))


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
def test_reduce_max_ties_pick_the_first_row(ops):
    X = numpy.asarray([[1.0, 2.0], [1.0, 5.0], [0.0, 5.0]], dtype="float32")
    maxes, which = ops.reduce_max(X, numpy.asarray([3], dtype="int32"))
    assert maxes.tolist() == [[1.0, 5.0]] and which.tolist() == [[0, 1]]


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
def test_reduce_first_last(ops):
    X = numpy.arange(14, dtype="float32").reshape(7, 2)
    lengths = numpy.asarray([3, 1, 3], dtype="int32")
    firsts, starts_ends = ops.reduce_first(X, lengths)
    assert starts_ends.tolist() == [0, 3, 4, 7]
    assert firsts.tolist() == [X[0].tolist(), X[3].tolist(), X[4].tolist()]
    lasts, last_rows = ops.reduce_last(X, lengths)
    assert last_rows.tolist() == [2, 3, 6]
    assert lasts.tolist() == [X[2].tolist(), X[3].tolist(), X[6].tolist()]
    d = numpy.arange(6, dtype="float32").reshape(3, 2) + 1
    dX = ops.backprop_reduce_first(d, starts_ends)
    assert dX.shape == X.shape and dX[[0, 3, 4]].tolist() == d.tolist()
    assert dX.sum() == d.sum()
    dX = ops.backprop_reduce_last(d, last_rows)
    assert dX.shape == X.shape and dX[[2, 3, 6]].tolist() == d.tolist()
    with pytest.raises(ValueError, match="> 0"):
        ops.reduce_first(X, numpy.asarray([3, 0, 4], dtype="int32"))
    with pytest.raises(IndexError, match="sum up"):
        ops.reduce_last(X, numpy.asarray([3, 3], dtype="int32"))
    with pytest.raises(ValueError, match="size 1"):
        ops.backprop_reduce_first(d, numpy.asarray([0], dtype="int32"))


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
def test_reduction_errors(ops):
    X = numpy.ones((5, 2), dtype="float32")
    for name in ("reduce_sum", "reduce_mean", "reduce_max"):
        with pytest.raises(IndexError, match="sum up"):
            getattr(ops, name)(X, numpy.asarray([5, 5], dtype="int32"))
        with pytest.raises(ValueError, match="lengths must be"):
            getattr(ops, name)(X, numpy.asarray([-1, 3], dtype="int32"))
    with pytest.raises(ValueError, match="> 0"):
        ops.reduce_max(X, numpy.asarray([2, 0, 3], dtype="int32"))
    # the first sequence at fault decides, as in Thinc
    with pytest.raises(IndexError):
        ops.reduce_sum(X, numpy.asarray([9, -1], dtype="int32"))
    d = numpy.ones((2, 2), dtype="float32")
    with pytest.raises(ValueError, match="lengths must be"):
        ops.backprop_reduce_sum(d, numpy.asarray([-1, 2], dtype="int32"))
    with pytest.raises(ValueError, match="lengths must be"):
        ops.backprop_reduce_mean(d, numpy.asarray([-1, 2], dtype="int32"))
    with pytest.raises(ValueError, match="gradient row"):
        ops.backprop_reduce_sum(d, numpy.asarray([1, 2, 3], dtype="int32"))
    which = numpy.asarray([[0, 1], [2, 0]], dtype="int32")
    with pytest.raises(IndexError):
        ops.backprop_reduce_max(d, which, numpy.asarray([2, 2], dtype="int32"))
    with pytest.raises(IndexError):
        ops.backprop_reduce_max(d, -which, numpy.asarray([3, 3], dtype="int32"))
    with pytest.raises(ValueError):
        ops.backprop_reduce_max(d, which, numpy.asarray([3, 0], dtype="int32"))
    # fewer rows claimed than X has is allowed, as in Thinc (the rest is ignored)
    assert ops.reduce_sum(X, numpy.asarray([2], dtype="int32")).tolist() == [[2.0, 2.0]]


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
@pytest.mark.parametrize("name", ["reduce_sum", "reduce_mean", "reduce_max", "reduce_first",
                                  "reduce_last"])
def test_reductions_of_empty_batches(ops, name):
    reduce, backprop = getattr(ops, name), getattr(ops, "backprop_" + name)
    for X, lengths, shape in ((numpy.zeros((0, 4), "f"), [], (0, 4)),
                              (numpy.zeros((5, 0), "f"), [2, 3], (2, 0))):
        lengths = numpy.asarray(lengths, dtype="int32")
        Y = reduce(X, lengths)
        if name == "reduce_max":
            dX = backprop(Y[0], Y[1], lengths)
            Y = Y[0]
        elif isinstance(Y, tuple):
            dX = backprop(*Y)
            Y = Y[0]
        else:
            dX = backprop(Y, lengths)
        assert Y.shape == shape and dX.shape == X.shape


# -------------------------------------------------------------- embeddings
@pytest.mark.parametrize("ops", BOTH, ids=IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("index_dtype", ["int32", "uint32", "int64", "uint64", "int16"])
def test_gather_add_against_loops(ops, dtype, index_dtype, threads):
    rng = numpy.random.default_rng(3)
    table = rng.standard_normal((300, 33)).astype(dtype)
    for n_rows, K in ((7, 1), (7, 4), (20_000, 4)):
        idx = rng.integers(0, 300, (n_rows, K)).astype(index_dtype)
        out = ops.gather_add(table, idx)
        assert out.dtype == dtype and out.shape == (n_rows, 33)
        loop = numpy.zeros((n_rows, 33))
        for i in range(min(n_rows, 500)):
            for k in range(K):
                loop[i] += table[int(idx[i, k])]
        assert_allclose(out[:500], loop[:500], rtol=1e-5, atol=1e-5)
    assert ops.gather_add(table, numpy.zeros((3, 0), dtype=index_dtype)).tolist() == [[0.0] * 33] * 3


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
def test_gather_add_out_of_bounds(ops):
    table = numpy.ones((4, 3), dtype="float32")
    for bad in (4, -1):
        with pytest.raises(IndexError):
            ops.gather_add(table, numpy.asarray([[0, 2], [bad, 1]], dtype="int64"))
    with pytest.raises(IndexError):
        ops.gather_add(table, numpy.asarray([[2 ** 63]], dtype="uint64"))
    with pytest.raises(IndexError):
        ops.gather_add(table, numpy.asarray([[1.0]], dtype="float32"))


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("index_dtype", ["int32", "uint32", "int64"])
def test_scatter_add_against_loops(ops, dtype, index_dtype, threads):
    rng = numpy.random.default_rng(4)
    for n, n_cols in ((9, 5), (20_000, 70)):
        table = rng.standard_normal((50, n_cols)).astype(dtype)
        idx = rng.integers(0, 50, n).astype(index_dtype)
        values = rng.standard_normal((n, n_cols)).astype(dtype)
        loop = table.astype("f8")
        for i in range(n):
            loop[int(idx[i])] += values[i]
        out = ops.scatter_add(table, idx, values)
        assert out is table
        assert_allclose(table, loop, rtol=1e-4, atol=1e-3)
    # 2d indices (HashEmbed's keys): one value row per index, or one per row of keys
    table = numpy.zeros((10, 3), dtype=dtype)
    keys = numpy.asarray([[1, 2], [2, 9]], dtype=index_dtype)
    ops.scatter_add(table, keys, numpy.ones((2, 1, 3), dtype=dtype))
    assert table[:, 0].tolist() == [0, 1, 2, 0, 0, 0, 0, 0, 0, 1]
    ops.scatter_add(table, keys, numpy.ones((2, 2, 3), dtype=dtype))
    assert table[:, 0].tolist() == [0, 2, 4, 0, 0, 0, 0, 0, 0, 2]


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
def test_scatter_add_out_of_bounds_changes_nothing(ops):
    table = numpy.zeros((4, 3), dtype="float32")
    with pytest.raises(IndexError):
        ops.scatter_add(table, numpy.asarray([0, 4], dtype="int32"), numpy.ones((2, 3), "f"))
    with pytest.raises(IndexError):
        ops.scatter_add(table, numpy.asarray([1, -1], dtype="int32"), numpy.ones((2, 3), "f"))
    assert not table.any()


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
def test_gather_and_scatter_are_adjoint(ops):
    rng = numpy.random.default_rng(6)
    table = rng.standard_normal((40, 8)).astype("float32")
    idx = rng.integers(0, 40, (100, 4)).astype("uint32")
    dY = rng.standard_normal((100, 8)).astype("float32")
    dE = numpy.zeros_like(table)
    for k in range(4):
        ops.scatter_add(dE, numpy.ascontiguousarray(idx[:, k]), dY)
    lhs = float((ops.gather_add(table, idx).astype("f8") * dY).sum())
    assert lhs == pytest.approx(float((table.astype("f8") * dE).sum()), rel=1e-5)


# ------------------------------------------------------------------ maxout
@pytest.mark.parametrize("ops", BOTH, ids=IDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_maxout_against_loops(ops, dtype, threads):
    rng = numpy.random.default_rng(7)
    for shape in ((5, 4, 3), (4_000, 16, 3), (6, 2, 1)):
        X = rng.standard_normal(shape).astype(dtype)
        X[0, 0, :] = 1.0  # a tie: the first piece wins
        best, which = ops.maxout(X)
        assert best.dtype == dtype and which.dtype == numpy.int32
        B, O, P = shape
        for b in range(min(B, 300)):
            for o in range(O):
                assert best[b, o] == X[b, o].max()
                assert which[b, o] == int(numpy.argmax(X[b, o]))
        dY = rng.standard_normal((B, O)).astype(dtype)
        dX = ops.backprop_maxout(dY, which, P)
        assert dX.dtype == dtype and dX.shape == shape
        expected = numpy.zeros(shape, dtype=dtype)
        numpy.put_along_axis(expected, which[..., None].astype("int64"), dY[..., None], axis=-1)
        assert numpy.array_equal(dX, expected)
    with pytest.raises(IndexError):
        ops.backprop_maxout(numpy.ones((2, 2), dtype), numpy.asarray([[1, 0], [3, 1]], "int32"), 3)
    with pytest.raises(ValueError):
        ops.backprop_maxout(numpy.ones((2, 2), dtype), numpy.asarray([1, 0], "int32"), 3)


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
def test_maxout_any_rank_layout_and_size(ops, threads):
    """The float32 path reads the arrays' headers in C: ranks 1 to 4, views
    that are not C-ordered (copied first), outputs past 1 MiB, and pieces
    outside [0, P) in either direction (IndexError, checked in C)."""
    rng = numpy.random.default_rng(3)
    for X in (rng.standard_normal(7).astype("f4"), rng.standard_normal((3, 5)).astype("f4"),
              rng.standard_normal((2, 3, 4, 2)).astype("f4"),
              rng.standard_normal((300, 1000, 2)).astype("f4"),
              rng.standard_normal((6, 8, 3)).astype("f4")[:, ::2]):
        best, which = ops.maxout(X)
        numpy.testing.assert_array_equal(best, X.max(axis=-1))
        numpy.testing.assert_array_equal(which, X.argmax(axis=-1))
        dY = rng.standard_normal(best.shape).astype("f4")
        dX = ops.backprop_maxout(dY, which, X.shape[-1])
        expected = numpy.zeros(X.shape, "f4")
        numpy.put_along_axis(expected, which[..., None].astype("int64"), dY[..., None], axis=-1)
        numpy.testing.assert_array_equal(dX, expected)
    # bit for bit: the winner's value as it is (-0.0, NaN, inf), +0.0 elsewhere
    for P in (2, 3, 4, 5):
        for dtype in ("float32", "float64"):
            dY = numpy.array([[-1.5, numpy.nan, 0.0, -0.0, numpy.inf]] * 40, dtype)
            which = (numpy.arange(200).reshape(40, 5) % P).astype("int32")
            expected = numpy.zeros(dY.shape + (P,), dtype)
            numpy.put_along_axis(expected, which[..., None].astype("int64"), dY[..., None], axis=-1)
            assert ops.backprop_maxout(dY, which, P).tobytes() == expected.tobytes()
    for bad in (-1, 3, 2**31 - 1):
        which = numpy.zeros((4, 5), "int32")
        which[2, 3] = bad
        with pytest.raises(IndexError, match="outside"):
            ops.backprop_maxout(numpy.ones((4, 5), "f4"), which, 3)


# ------------------------------------------------------------- activations
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _erf64(x):
    return numpy.vectorize(math.erf)(x)


def _sigmoid64(x):
    return 1.0 / (1.0 + numpy.exp(-numpy.clip(x, -20, 20)))


def _softplus64(x):
    return numpy.logaddexp(0.0, x)


# name -> (forward in float64, the backprop's extra arguments: "X", "Y" or "XY")
ACTIVATIONS = {
    "sigmoid": (_sigmoid64, "Y"),
    "swish": (lambda x: x * _sigmoid64(x), "XY"),
    "gelu": (lambda x: x * 0.5 * (1.0 + _erf64(x / math.sqrt(2.0))), "X"),
    "gelu_approx": (lambda x: 0.5 * x * (1.0 + numpy.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))),
                    "X"),
    "mish": (lambda x: numpy.where(x >= 20.0, x, x * numpy.tanh(_softplus64(x))), "X"),
    "dish": (lambda x: 0.5 * x * (1.0 + x / numpy.sqrt(1.0 + x * x)), "X"),
    "hard_sigmoid": (lambda x: numpy.clip(0.2 * x + 0.5, 0.0, 1.0), "X"),
    "hard_tanh": (lambda x: numpy.clip(x, -1.0, 1.0), "X"),
    "relu_k": (lambda x: numpy.clip(x, 0.0, 6.0), "X"),
    "hard_swish": (lambda x: x * numpy.clip(0.2 * x + 0.5, 0.0, 1.0), "X"),
    "hard_swish_mobilenet": (lambda x: x * numpy.clip(x + 3.0, 0.0, 6.0) / 6.0, "X"),
}


def _backprop(ops, name, dY, X, Y, inplace=False):
    kind = ACTIVATIONS[name][1]
    backprop = getattr(ops, "backprop_" + name)
    if kind == "Y":
        return backprop(dY, Y, inplace=inplace)
    if kind == "XY":
        return backprop(dY, X, Y, inplace=inplace)
    return backprop(dY, X, inplace=inplace)


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_against_float64(ops, name, threads):
    rng = numpy.random.default_rng(8)
    forward64, _ = ACTIVATIONS[name]
    X = numpy.concatenate([rng.standard_normal(49_995) * 4,
                           numpy.asarray([-100, -30, -20.5, -3, -2.5, 0, 1e-3, 2.5, 3, 19.9,
                                          20, 25, 100])]).astype("float32").reshape(-1, 7)
    Y = getattr(ops, name)(X)
    assert Y.dtype == numpy.float32 and Y.shape == X.shape and Y is not X
    expected = forward64(X.astype("f8"))
    # float32 rounding of the inputs' scale (dish's 1 + x / sqrt(1 + x^2) cancels for x << 0)
    tolerance = 2e-5 * numpy.abs(expected) + 1e-6 * numpy.maximum(1.0, numpy.abs(X))
    assert (numpy.abs(Y - expected) <= tolerance).all()
    # the backprop against central differences of the float64 forward, away
    # from the kinks of the piecewise ones
    h = 1e-4
    Xd = X.astype("f8")
    numeric = (forward64(Xd + h) - forward64(Xd - h)) / (2 * h)
    dY = rng.standard_normal(X.shape).astype("float32")
    dX = _backprop(ops, name, dY, X, Y)
    assert dX.dtype == numpy.float32 and dX.shape == X.shape
    kinks = {"hard_sigmoid": [-2.5, 2.5], "hard_tanh": [-1, 1], "relu_k": [0, 6],
             "hard_swish": [-2.5, 2.5], "hard_swish_mobilenet": [-3, 3], "mish": [20]}
    away = numpy.ones(X.shape, dtype=bool)
    for k in kinks.get(name, []):
        away &= numpy.abs(Xd - k) > 2 * h
    assert_allclose(dX[away], (dY * numeric)[away], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_inplace_and_layouts(ops, name):
    rng = numpy.random.default_rng(9)
    X = (rng.standard_normal((30, 8)) * 3).astype("float32")
    Y = getattr(ops, name)(X)
    dY = rng.standard_normal(X.shape).astype("float32")
    dX = _backprop(ops, name, dY, X, Y)
    X2, dY2 = X.copy(), dY.copy()
    Y2 = getattr(ops, name)(X2, inplace=True)
    assert Y2 is X2 and numpy.array_equal(Y2, Y)
    dX2 = _backprop(ops, name, dY2, X, Y, inplace=True)
    assert dX2 is dY2 and numpy.array_equal(dX2, dX)
    # a strided view and float64 take the reference path, with the same values
    wide = numpy.zeros((30, 16), dtype="float32")
    wide[:, ::2] = X
    assert_allclose(getattr(ops, name)(wide[:, ::2]), Y, rtol=1e-5, atol=1e-6)
    Y64 = getattr(ops, name)(X.astype("f8"))
    assert Y64.dtype == numpy.float64
    assert_allclose(Y64, Y, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError):
        _backprop(ops, name, dY[:3], X, Y)


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
def test_activation_parameters(ops):
    X = numpy.linspace(-10, 10, 101, dtype="float32")
    assert_allclose(ops.clipped_linear(X, slope=0.5, offset=1.0, min_val=-2.0, max_val=3.0),
                    numpy.clip(X * 0.5 + 1.0, -2.0, 3.0))
    dX = ops.backprop_clipped_linear(numpy.ones_like(X), X, slope=0.5, offset=1.0,
                                     min_val=-2.0, max_val=3.0)
    assert_allclose(dX, numpy.where((X > -6) & (X < 4), 0.5, 0.0))
    assert_allclose(ops.relu_k(X, n=2.0), numpy.clip(X, 0, 2))
    assert_allclose(ops.mish(X, threshold=5.0)[X >= 5.0], X[X >= 5.0])
    assert (ops.backprop_mish(numpy.ones_like(X), X, threshold=5.0)[X >= 5.0] == 1.0).all()
    assert (ops.backprop_mish(numpy.zeros_like(X), X) == 0).all()


# ---------------------------------------------------------- softmax extras
@pytest.mark.parametrize("ops", BOTH, ids=IDS)
def test_softmax_temperature(ops):
    rng = numpy.random.default_rng(10)
    X = rng.standard_normal((6, 5)).astype("float32")
    for t in (0.5, 1.0, 2.0):
        Y = ops.softmax(X, temperature=t)
        Z = numpy.exp(X.astype("f8") / t)
        assert_allclose(Y, Z / Z.sum(axis=1, keepdims=True), rtol=1e-5)
        dY = rng.standard_normal(X.shape).astype("float32")
        dX = ops.backprop_softmax(Y, dY, temperature=t)
        Y64 = Y.astype("f8")
        expected = Y64 * (dY - (dY * Y64).sum(axis=1, keepdims=True)) / t
        assert_allclose(dX, expected, rtol=1e-4, atol=1e-6)
    X2 = X.copy()
    assert ops.softmax(X2, inplace=True, temperature=2.0) is X2


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
def test_softmax_sequences(ops):
    rng = numpy.random.default_rng(11)
    X = rng.standard_normal((9, 3)).astype("float32")
    lengths = numpy.asarray([4, 0, 5], dtype="int32")
    Y = ops.softmax_sequences(X, lengths)
    expected = numpy.exp(X.astype("f8"))
    start = 0
    for n in lengths:
        expected[start:start + n] /= expected[start:start + n].sum(axis=0)
        start += n
    assert_allclose(Y, expected, rtol=1e-5)
    dY = rng.standard_normal(X.shape).astype("float32")
    dX = ops.backprop_softmax_sequences(dY, Y, lengths)
    loop = numpy.zeros(X.shape)
    start = 0
    for n in lengths:
        y, d = Y[start:start + n].astype("f8"), dY[start:start + n]
        loop[start:start + n] = y * (d - (y * d).sum(axis=0))
        start += n
    assert_allclose(dX, loop, rtol=1e-4, atol=1e-6)
    with pytest.raises(NotImplementedError):
        ops.softmax_sequences(numpy.ones((2, 2, 2), "f"), lengths)


# ------------------------------------------------------------------ padded
@pytest.mark.parametrize("ops", BOTH, ids=IDS)
def test_list2padded_and_back(ops):
    pytest.importorskip("thinc_fast.types").Padded
    rng = numpy.random.default_rng(12)
    seqs = [rng.standard_normal((n, 4)).astype("float32") for n in (5, 8, 2, 8)]
    padded = ops.list2padded(seqs)
    # longest first, ties: the later sequence first (Thinc's order)
    assert padded.indices.tolist() == [3, 1, 0, 2]
    assert padded.lengths.tolist() == [8, 8, 5, 2]
    assert padded.size_at_t.tolist() == [4, 4, 3, 3, 3, 2, 2, 2]
    assert padded.data.shape == (8, 4, 4)
    assert numpy.array_equal(padded.data[:5, 2], seqs[0])
    assert not padded.data[5:, 2].any()
    back = ops.padded2list(padded)
    assert all(numpy.array_equal(a, b) for a, b in zip(back, seqs))
    one = ops.list2padded(seqs[:1])
    assert one.data.shape == (5, 1, 4) and one.size_at_t.tolist() == [1] * 5
    assert numpy.array_equal(ops.padded2list(one)[0], seqs[0])
    empty = ops.list2padded([])
    assert empty.data.shape == (0, 0, 0) and ops.padded2list(empty) == []


# -------------------------------------------------------------------- LSTM
def _lstm_sizes(depth, dirs, nH, nI):
    sizes, n_in = [], nI
    for _ in range(depth):
        sizes += [(n_in, nH)] * dirs
        n_in = nH * dirs
    return sizes, sum(4 * nH * (n + nH) + 8 * nH for n, _ in sizes)


def loop_lstm(params, h_init, c_init, seqs, depth, dirs, nH):
    """A float64 LSTM over a list of (T, nI) sequences, one sequence and one
    timestep at a time, with Thinc's parameter layout (per layer and direction:
    Wx, bx, Wh, bh; gates forget, input, output, cell)."""
    params = numpy.asarray(params, dtype="f8")
    sizes, _ = _lstm_sizes(depth, dirs, nH, seqs[0].shape[1])
    weights, offset = [], 0
    for n_in, _ in sizes:
        parts = []
        for shape in ((4 * nH, n_in), (4 * nH,), (4 * nH, nH), (4 * nH,)):
            size = int(numpy.prod(shape))
            parts.append(params[offset:offset + size].reshape(shape))
            offset += size
        weights.append(parts)
    outputs = []
    for x in seqs:
        layer_in = numpy.asarray(x, dtype="f8")
        for i in range(depth):
            outs = []
            for d in range(dirs):
                Wx, bx, Wh, bh = weights[i * dirs + d]
                h, c = h_init[i, d].astype("f8"), c_init[i, d].astype("f8")
                ys = numpy.zeros((len(layer_in), nH))
                order = range(len(layer_in)) if d == 0 else reversed(range(len(layer_in)))
                for t in order:
                    a = Wx @ layer_in[t] + bx + Wh @ h + bh
                    f, g_in, o = (1 / (1 + numpy.exp(-a[k * nH:(k + 1) * nH])) for k in range(3))
                    cand = numpy.tanh(a[3 * nH:])
                    c = f * c + g_in * cand
                    h = o * numpy.tanh(c)
                    ys[t] = h
                outs.append(ys)
            layer_in = numpy.concatenate(outs, axis=1)
        outputs.append(layer_in)
    return outputs


def _packed(seqs):
    """Time-major packing of sequences sorted longest first: (X, size_at_t)."""
    T = max(len(s) for s in seqs)
    size_at_t = [sum(len(s) > t for s in seqs) for t in range(T)]
    X = numpy.concatenate([numpy.stack([s[t] for s in seqs if len(s) > t]) for t in range(T)])
    return X, numpy.asarray(size_at_t, dtype="int32")


def _unpacked(Y, seqs):
    T = max(len(s) for s in seqs)
    out = [[] for _ in seqs]
    row = 0
    for t in range(T):
        for i, s in enumerate(seqs):
            if len(s) > t:
                out[i].append(Y[row])
                row += 1
    return [numpy.asarray(o) for o in out]


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
@pytest.mark.parametrize("depth,dirs", [(1, 1), (2, 1), (1, 2), (2, 2)])
def test_lstm_forward_against_loops(ops, depth, dirs):
    rng = numpy.random.default_rng(13)
    nH, nI = 3, 4
    seqs = [rng.standard_normal((n, nI)).astype("float32") for n in (5, 3, 3, 1)]
    _, n_params = _lstm_sizes(depth, dirs, nH, nI)
    params = (rng.standard_normal(n_params) * 0.5).astype("float32")
    H0 = (rng.standard_normal((depth, dirs, nH)) * 0.5).astype("float32")
    C0 = (rng.standard_normal((depth, dirs, nH)) * 0.5).astype("float32")
    X, size_at_t = _packed(seqs)
    Y, state = ops.lstm_forward_training(params, H0, C0, X, size_at_t)
    assert Y.shape == (X.shape[0], dirs * nH)
    # Thinc hands H0 on as the initial cells and C0 as the initial hiddens
    expected = loop_lstm(params, C0, H0, seqs, depth, dirs, nH)
    for got, want in zip(_unpacked(Y, seqs), expected):
        assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    assert_allclose(ops.lstm_forward_inference(params, H0, C0, X, size_at_t), Y)
    Ys, G, C = state[:3]
    assert G.shape == (depth, dirs, X.shape[0], 4 * nH) and C.shape == Ys.shape


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
@pytest.mark.parametrize("depth,dirs", [(1, 1), (2, 2)])
def test_lstm_backprop_against_finite_differences(ops, depth, dirs):
    rng = numpy.random.default_rng(14)
    nH, nI = 2, 3
    seqs = [rng.standard_normal((n, nI)) for n in (4, 2, 1)]
    _, n_params = _lstm_sizes(depth, dirs, nH, nI)
    params = rng.standard_normal(n_params) * 0.6
    H0 = rng.standard_normal((depth, dirs, nH)) * 0.5
    C0 = rng.standard_normal((depth, dirs, nH)) * 0.5
    X, size_at_t = _packed(seqs)
    R = rng.standard_normal((X.shape[0], dirs * nH))

    def loss(p, x):
        xs = _unpacked(x, seqs)
        out = numpy.concatenate(loop_lstm(p, C0, H0, xs, depth, dirs, nH))
        return float((out * numpy.concatenate(_unpacked(R, seqs))).sum())

    Y, state = ops.lstm_forward_training(params.astype("f"), H0.astype("f"), C0.astype("f"),
                                         X.astype("f"), size_at_t)
    dX, d_params = ops.backprop_lstm(R.astype("f"), size_at_t, params.astype("f"), state)
    assert dX.shape == X.shape and d_params.shape == params.shape
    h = 1e-5
    numeric = numpy.zeros(n_params)
    for k in range(n_params):
        e = numpy.zeros(n_params)
        e[k] = h
        numeric[k] = (loss(params + e, X) - loss(params - e, X)) / (2 * h)
    assert_allclose(d_params, numeric, rtol=2e-3, atol=2e-4)
    numeric_x = numpy.zeros(X.shape)
    for idx in numpy.ndindex(*X.shape):
        e = numpy.zeros(X.shape)
        e[idx] = h
        numeric_x[idx] = (loss(params, X + e) - loss(params, X - e)) / (2 * h)
    assert_allclose(dX, numeric_x, rtol=2e-3, atol=2e-4)


@pytest.mark.parametrize("ops", BOTH, ids=IDS)
def test_lstm_errors(ops):
    X = numpy.zeros((3, 2), dtype="float32")
    H0 = numpy.zeros((1, 1, 2), dtype="float32")
    _, n_params = _lstm_sizes(1, 1, 2, 2)
    params = numpy.zeros(n_params, dtype="float32")
    with pytest.raises(ValueError, match="size_at_t"):
        ops.lstm_forward_training(params, H0, H0, X, numpy.asarray([1, 2], dtype="int32"))
    with pytest.raises(ValueError, match="params"):
        ops.lstm_forward_training(params[:-1], H0, H0, X, numpy.asarray([2, 1], dtype="int32"))
    with pytest.raises(ValueError, match="params"):
        ops.lstm_forward_training(numpy.zeros(n_params + 1, "f"), H0, H0, X,
                                  numpy.asarray([2, 1], dtype="int32"))


# ------------------------------------------------------------------ GPU
@pytest.fixture(params=["cuda", "cpu-standin"])
def gpu_ops(request):
    """CupyOps on a real GPU (skips without one) and on the CPU stand-in for CuPy
    (tests/cupy_standin: kernels.cu compiled with g++; skips without it)."""
    if request.param == "cuda":
        if not GPU:
            pytest.skip("needs CuPy and a GPU")
    elif request.getfixturevalue("cupy_standin").is_real():
        pytest.skip("--cupy=real: the 'cuda' run covers it")
    from thinc_fast.backends.cupy_ops import CupyOps

    return CupyOps()


def test_gpu_hash_and_seq2col_match_numpy(gpu_ops):  # pragma: no cover - needs a GPU
    import cupy

    rng = numpy.random.default_rng(15)
    ids = rng.integers(0, 2 ** 63, 100_000, dtype="uint64")
    assert numpy.array_equal(cupy.asnumpy(gpu_ops.hash(cupy.asarray(ids), 11)), FAST.hash(ids, 11))
    X = rng.standard_normal((80_000, 5)).astype("float32")
    lengths = numpy.asarray([1, 4, 0, 2, 1] * 10_000, dtype="int32")
    for nW in (1, 2):
        cols = gpu_ops.seq2col(cupy.asarray(X), nW, lengths=cupy.asarray(lengths))
        assert numpy.array_equal(cupy.asnumpy(cols), FAST.seq2col(X, nW, lengths=lengths))
        dY = rng.standard_normal(cols.shape).astype("float32")
        got = gpu_ops.backprop_seq2col(cupy.asarray(dY), nW, lengths=cupy.asarray(lengths))
        assert_allclose(cupy.asnumpy(got), FAST.backprop_seq2col(dY, nW, lengths=lengths),
                        rtol=1e-5, atol=1e-6)


def test_gpu_embeddings_and_reductions_match_numpy(gpu_ops):
    import cupy

    rng = numpy.random.default_rng(16)
    table = rng.standard_normal((1000, 64)).astype("float32")
    idx = rng.integers(0, 1000, (30_000, 4)).astype("uint32")
    got = gpu_ops.gather_add(cupy.asarray(table), cupy.asarray(idx))
    assert_allclose(cupy.asnumpy(got), FAST.gather_add(table, idx), rtol=1e-5, atol=1e-5)
    with pytest.raises(IndexError):
        gpu_ops.gather_add(cupy.asarray(table), cupy.asarray(idx + 1000))
    X = rng.standard_normal((50_000, 33)).astype("float32")
    lengths = random_lengths(rng, 50_000, 2_000)
    for how in ("sum", "mean"):
        Y = getattr(gpu_ops, f"reduce_{how}")(cupy.asarray(X), cupy.asarray(lengths))
        assert_allclose(cupy.asnumpy(Y), getattr(FAST, f"reduce_{how}")(X, lengths),
                        rtol=1e-4, atol=1e-4)
        dX = getattr(gpu_ops, f"backprop_reduce_{how}")(Y, cupy.asarray(lengths))
        assert_allclose(cupy.asnumpy(dX),
                        getattr(FAST, f"backprop_reduce_{how}")(cupy.asnumpy(Y), lengths),
                        rtol=1e-5, atol=1e-6)
    full = random_lengths(rng, 50_000, 2_000, allow_empty=False)
    maxes, which = gpu_ops.reduce_max(cupy.asarray(X), cupy.asarray(full))
    m2, w2 = FAST.reduce_max(X, full)
    assert numpy.array_equal(cupy.asnumpy(maxes), m2)
    assert numpy.array_equal(cupy.asnumpy(which), w2)
    dX = gpu_ops.backprop_reduce_max(maxes, which, cupy.asarray(full))
    assert numpy.array_equal(cupy.asnumpy(dX), FAST.backprop_reduce_max(m2, w2, full))
    with pytest.raises(IndexError):
        gpu_ops.backprop_reduce_max(maxes, which + 10_000, cupy.asarray(full))


# ------------------------------------------- CUDA kernels, run on the CPU
# Without a GPU, the sequence kernels of kernels.cu run on the CPU stand-in for
# CuPy (tests/cupy_standin: the whole source compiled with g++, every block and
# thread of a launch run), launched here directly with several grid and block
# shapes so that their grid-stride indexing is checked against NumpyOps whatever
# shape CupyOps picks. (test_cupy_standin.py does the same for the others.)
@pytest.mark.parametrize("grid,block", [(1, 1), (3, 7), (64, 32)])
def test_cuda_sequence_kernels_on_the_cpu(cupy_standin, grid, block):
    import cupy

    from thinc_fast.backends._cuda import cuda_source

    module = cupy.RawModule(code=cuda_source(), options=("--std=c++11",))

    def launch(name, *args):
        module.get_function(name)((grid,), (block,), args)

    LL, I32 = numpy.int64, numpy.int32
    dev, host = cupy.asarray, cupy.asnumpy
    rng = numpy.random.default_rng(grid)
    ids = rng.integers(0, 2 ** 63, 500, dtype="uint64")
    out = cupy.empty((500, 4), dtype="uint32")
    launch("thf_hash_u64", out, dev(ids), LL(500), numpy.uint32(77))
    assert numpy.array_equal(host(out), FAST.hash(ids, 77))
    lengths = numpy.asarray([1, 4, 0, 2, 1] * 30, dtype="int32")
    offs = dev(numpy.concatenate([[0], numpy.cumsum(lengths)]).astype("int64"))
    nseq, B = LL(len(lengths)), int(lengths.sum())
    X = rng.standard_normal((B, 5)).astype("float32")
    for nW in (0, 1, 2):
        cols = cupy.empty((B, (2 * nW + 1) * 5), dtype="float32")  # garbage-filled
        launch("thf_seq2col", cols, dev(X), offs, nseq, LL(B), LL(5), I32(nW))
        assert numpy.array_equal(host(cols), FAST.seq2col(X, nW, lengths=lengths))
        dY = rng.standard_normal(cols.shape).astype("float32")
        dX = cupy.empty((B, 5), dtype="float32")
        launch("thf_backprop_seq2col", dX, dev(dY), offs, nseq, LL(B), LL(5), I32(nW))
        assert numpy.array_equal(host(dX), FAST.backprop_seq2col(dY, nW, lengths=lengths))
    table = rng.standard_normal((50, 6)).astype("float32")
    idx = rng.integers(0, 50, (40, 3)).astype("int64")
    got = cupy.empty((40, 6), dtype="float32")
    launch("thf_gather_add", got, dev(table), dev(idx), LL(40), LL(3), LL(6))
    assert_allclose(host(got), FAST.gather_add(table, idx), rtol=1e-6, atol=1e-6)
    for mean in (0, 1):
        Y = cupy.empty((len(lengths), 5), dtype="float32")
        launch("thf_reduce_sum", Y, dev(X), offs, nseq, LL(5), I32(mean))
        reduce = FAST.reduce_mean if mean else FAST.reduce_sum
        assert_allclose(host(Y), reduce(X, lengths), rtol=1e-5, atol=1e-6)
        dX = cupy.empty(X.shape, dtype="float32")
        launch("thf_backprop_reduce_sum", dX, Y, offs, nseq, LL(B), LL(5), I32(mean))
        backprop = FAST.backprop_reduce_mean if mean else FAST.backprop_reduce_sum
        assert_allclose(host(dX), backprop(host(Y), lengths), rtol=1e-6, atol=1e-7)
    full = numpy.asarray([1, 4, 3, 2] * 25, dtype="int32")
    offs2 = dev(numpy.concatenate([[0], numpy.cumsum(full)]).astype("int64"))
    X2 = rng.standard_normal((int(full.sum()), 5)).astype("float32")
    maxes = cupy.empty((100, 5), dtype="float32")
    which = cupy.empty((100, 5), dtype="int32")
    launch("thf_reduce_max", maxes, which, dev(X2), offs2, LL(100), LL(5))
    m2, w2 = FAST.reduce_max(X2, full)
    assert numpy.array_equal(host(maxes), m2) and numpy.array_equal(host(which), w2)
    dX = cupy.empty(X2.shape, dtype="float32")
    launch("thf_backprop_reduce_max", dX, maxes, which, offs2, LL(100), LL(X2.shape[0]), LL(5))
    assert numpy.array_equal(host(dX), FAST.backprop_reduce_max(m2, w2, full))


# ------------------------------------------------------- thread counts
# The kernels of the textcat config's path (HashEmbed's gather_add and
# scatter_add, expand_window's seq2col, Maxout, reduce_mean) and their siblings
# split over threads only from SEQ_PARALLEL_MIN values of work, so that a batch
# of 32 documents runs on one thread; _set_seq_min_work(1) makes every call
# split, which puts the threaded paths (scatter_add by ranges of table rows,
# the others by rows, sequences or items) on small inputs too. Every result
# must be the same, bit for bit, for any thread count.
from thinc_fast.backends import numpy_ops as _numpy_ops  # noqa: E402


@pytest.fixture(params=["split", "default"])
def split_mode(request):
    """"split": every call splits (the size threshold at 1, the measured
    choice off); "default": the shipped threshold and choice."""
    if request.param == "default":
        yield request.param
        return
    before, options = _numpy_ops._set_seq_min_work(1), _numpy_ops.gemm_options()
    _numpy_ops.set_gemm_options(adaptive_split=0)
    yield request.param
    _numpy_ops.set_gemm_options(**options)
    _numpy_ops._set_seq_min_work(before)


def _path_inputs(rng, n_rows, width, dtype):
    lengths = random_lengths(rng, n_rows, max(1, n_rows // 17), allow_empty=False)
    n_table = 5_000
    keys = rng.integers(0, n_table, (n_rows, 4)).astype("uint32")
    skewed = numpy.minimum(rng.geometric(0.3, n_rows * 4) - 1, n_table - 1).astype("int64")
    skewed[::97] = n_table - 1  # the last row too
    return {
        "lengths": lengths,
        "table": rng.standard_normal((n_table, width)).astype(dtype),
        "keys": keys,
        "skewed": skewed,
        "dY": rng.standard_normal((n_rows, width)).astype(dtype),
        "values": rng.standard_normal((n_rows * 4, width)).astype(dtype),
        "X": rng.standard_normal((n_rows, width)).astype(dtype),
        "cols": rng.standard_normal((n_rows, 3 * width)).astype(dtype),
        "d_seq": rng.standard_normal((len(lengths), width)).astype(dtype),
        "Z": {P: rng.standard_normal((n_rows, width, P)).astype(dtype) for P in (2, 3, 4, 5)},
    }


def _path_outputs(inp):
    """Every kernel on `inp` with the current thread count, by name."""
    out = {}
    n_rows, width = inp["X"].shape
    lengths = inp["lengths"]
    out["gather_add"] = FAST.gather_add(inp["table"], inp["keys"])
    scatters = (("scatter_add hashembed", inp["keys"], inp["dY"].reshape(n_rows, 1, width)),
                ("scatter_add 1d", numpy.ascontiguousarray(inp["keys"].reshape(-1)), inp["values"]),
                ("scatter_add skewed", inp["skewed"], inp["values"]))
    for name, idx, values in scatters:
        table = inp["table"].copy()
        assert FAST.scatter_add(table, idx, values) is table
        out[name] = table
    out["seq2col"] = FAST.seq2col(inp["X"], 1, lengths=lengths)
    out["backprop_seq2col"] = FAST.backprop_seq2col(inp["cols"], 1, lengths=lengths)
    out["reduce_sum"] = FAST.reduce_sum(inp["X"], lengths)
    out["reduce_mean"] = FAST.reduce_mean(inp["X"], lengths)
    out["reduce_max"], out["reduce_max which"] = FAST.reduce_max(inp["X"], lengths)
    out["backprop_reduce_sum"] = FAST.backprop_reduce_sum(inp["d_seq"], lengths)
    out["backprop_reduce_mean"] = FAST.backprop_reduce_mean(inp["d_seq"], lengths)
    out["backprop_reduce_max"] = FAST.backprop_reduce_max(inp["d_seq"], out["reduce_max which"],
                                                          lengths)
    for P, Z in inp["Z"].items():
        best, which = FAST.maxout(Z)
        out[f"maxout {P}"], out[f"maxout {P} which"] = best, which
        out[f"backprop_maxout {P}"] = FAST.backprop_maxout(inp["dY"], which, P)
    return out


def _path_references(inp):
    """The same results from float64 NumPy (scatter_add by numpy.add.at)."""
    ref = {}
    f8 = {k: v.astype("f8") for k, v in inp.items() if isinstance(v, numpy.ndarray)}
    n_rows, width = inp["X"].shape
    lengths = inp["lengths"]
    starts = numpy.cumsum(lengths) - lengths
    seq_of_row = numpy.repeat(numpy.arange(len(lengths)), lengths)
    ref["gather_add"] = f8["table"][inp["keys"].astype("int64")].sum(axis=1)
    for name, idx, values in (("scatter_add hashembed", inp["keys"].reshape(-1),
                               numpy.repeat(f8["dY"], 4, axis=0)),
                              ("scatter_add 1d", inp["keys"].reshape(-1), f8["values"]),
                              ("scatter_add skewed", inp["skewed"], f8["values"])):
        table = f8["table"].copy()
        numpy.add.at(table, idx.astype("int64"), values)
        ref[name] = table
    ref["seq2col"] = loop_seq2col(inp["X"], 1, lengths)
    ref["backprop_seq2col"] = loop_backprop_seq2col(inp["cols"], 1, lengths)
    ref["reduce_sum"] = numpy.add.reduceat(f8["X"], starts, axis=0)
    ref["reduce_mean"] = ref["reduce_sum"] / lengths[:, None]
    ref["reduce_max"], ref["reduce_max which"] = loop_reduce(inp["X"], lengths, "max")
    ref["backprop_reduce_sum"] = f8["d_seq"][seq_of_row]
    ref["backprop_reduce_mean"] = f8["d_seq"][seq_of_row] / lengths[seq_of_row, None]
    d_max = numpy.zeros((n_rows, width))
    cols = numpy.arange(width)
    for k, start in enumerate(starts):
        d_max[start + ref["reduce_max which"][k], cols] = f8["d_seq"][k]
    ref["backprop_reduce_max"] = d_max
    for P, Z in inp["Z"].items():
        which = Z.argmax(axis=-1)
        ref[f"maxout {P}"], ref[f"maxout {P} which"] = Z.astype("f8").max(axis=-1), which
        d_Z = numpy.zeros(Z.shape)
        numpy.put_along_axis(d_Z, which[..., None], f8["dY"][..., None], axis=-1)
        ref[f"backprop_maxout {P}"] = d_Z
    return ref


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n_rows,width", [(552, 64), (6_000, 64), (1_000, 70)])
def test_textcat_path_kernels_same_for_any_thread_count(dtype, n_rows, width, split_mode):
    """One thread against float64 NumPy; 2 and 3 threads equal to one, bit for bit."""
    rng = numpy.random.default_rng(11)
    inp = _path_inputs(rng, n_rows, width, dtype)
    before = get_num_threads()
    try:
        set_num_threads(1)
        one = _path_outputs(inp)
        for n_threads in (2, 3):
            set_num_threads(n_threads)
            many = _path_outputs(inp)
            for name, got in many.items():
                assert got.dtype == one[name].dtype, name
                assert numpy.array_equal(got, one[name]), f"{name}: {n_threads} threads differ from 1"
    finally:
        set_num_threads(before)
    ref = _path_references(inp)
    tol = 1e-4 if dtype == "float32" else 1e-10
    for name, want in ref.items():
        if name.endswith("which"):
            assert numpy.array_equal(one[name], want), name
        else:
            assert_allclose(one[name], want, rtol=tol, atol=tol, err_msg=name)


def test_scatter_add_rows_split_edges():
    """scatter_add's parts are ranges of table rows: a table of one row (no
    split), every index in one part, repeated indices in index order."""
    rng = numpy.random.default_rng(12)
    before, options = _numpy_ops._set_seq_min_work(1), _numpy_ops.gemm_options()
    _numpy_ops.set_gemm_options(adaptive_split=0)
    threads_before = get_num_threads()
    try:
        for n_table, idx in ((1, numpy.zeros(500, "int32")),
                             (64, numpy.full(500, 63, "int64")),
                             (64, numpy.tile(numpy.arange(3, dtype="uint32"), 200)[:500])):
            values = rng.standard_normal((500, 9)).astype("float32")
            tables = []
            for n_threads in (1, 2, 3):
                set_num_threads(n_threads)
                table = numpy.zeros((n_table, 9), dtype="float32")
                FAST.scatter_add(table, idx, values)
                tables.append(table)
            expected = numpy.zeros((n_table, 9), dtype="float32")
            for i in range(500):  # float32, in index order: what every thread count must give
                expected[int(idx[i])] += values[i]
            for table in tables:
                assert numpy.array_equal(table, expected)
    finally:
        _numpy_ops.set_gemm_options(**options)
        _numpy_ops._set_seq_min_work(before)
        set_num_threads(threads_before)


def test_textcat_batch_runs_on_one_thread():
    """With 2 threads, a batch of the textcat config (32 docs of ~17 tokens,
    width 64) splits none of its sequence kernels; a large call does (the size
    rule, seen with the measured choice of adaptive_split off: on, a large
    call may run alone where that measured faster)."""
    from thinc_fast.backends.numpy_ops import gemm_config, gemm_options, set_gemm_options

    if not gemm_config()["pool_threads_supported"]:
        pytest.skip("no worker pool on this platform")
    rng = numpy.random.default_rng(13)
    inp = _path_inputs(rng, 552, 64, "float32")
    before = get_num_threads()
    options = gemm_options()
    try:
        set_gemm_options(adaptive_split=0)
        set_num_threads(2)
        jobs = gemm_config()["pool_jobs"]
        _path_outputs(inp)
        assert gemm_config()["pool_jobs"] == jobs
        big = rng.standard_normal((20_000, 64)).astype("float32")
        FAST.seq2col(big, 1)
        if gemm_config()["pool_workers"] >= 1:
            assert gemm_config()["pool_jobs"] == jobs + 1
    finally:
        set_gemm_options(**options)
        set_num_threads(before)
