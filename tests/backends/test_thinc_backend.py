"""thinc_fast's Thinc backend (ThincFastOps) against the installed Thinc's NumpyOps:
the same results on the fast paths, Thinc's own behaviour on every other input,
Thinc's registry and spaCy's callback finding it, and the sgemm it installs in
Thinc's CBlas called the way spaCy's parser calls it. Runs where Thinc 8.3 or
9.1 is importable (the README's test command installs 9.1.1; CI runs this file
again beside spaCy 3.8 and Thinc 8.3)."""
from __future__ import annotations

import ctypes

import numpy
import pytest

thinc_api = pytest.importorskip("thinc.api", reason="the Thinc backend needs Thinc installed")
from thinc.backends.numpy_ops import NumpyOps as ThincNumpyOps  # noqa: E402

from thinc_fast.backends import set_num_threads  # noqa: E402
from thinc_fast.backends.thinc_backend import (ThincFastOps, cblas_status,  # noqa: E402
                                               stop_thinc_fast, use_thinc_fast)

RNG = numpy.random.default_rng(7)


@pytest.fixture(scope="module")
def ops():
    return ThincFastOps(), ThincNumpyOps()


def rand(*shape, dtype="float32"):
    return RNG.standard_normal(shape).astype(dtype)


def test_registered_with_thinc():
    ops = thinc_api.get_ops("thinc_fast")
    assert type(ops) is ThincFastOps and ops.name == "thinc_fast"
    assert isinstance(ops, ThincNumpyOps)
    with thinc_api.use_ops("thinc_fast"):
        assert isinstance(thinc_api.get_current_ops(), ThincFastOps)
        layer = thinc_api.Relu(4, 3)
        assert isinstance(layer.ops, ThincFastOps)
    assert type(thinc_api.get_ops("numpy")) is ThincNumpyOps, "Thinc's own stays Thinc's"


def test_alloc_is_thincs_on_a_cache_line(ops):
    """alloc (and Thinc's alloc1f..alloc4i, which call it) gives what Thinc's
    gives, with the data on a 64-byte boundary; shapes NumPy refuses get
    Thinc's own errors. (Thinc's initializers make weights with NumPy's
    random functions, not alloc: those stay where NumPy put them.)"""
    fast, thinc = ops
    for shape, dtype in [((5, 7), "float32"), ((3,), "int32"), ((2, 3, 4), "f"), (9, "float64"),
                         ((1000, 288), "float32")]:
        for zeros in (True, False):
            got, want = fast.alloc(shape, dtype=dtype, zeros=zeros), thinc.alloc(
                shape, dtype=dtype, zeros=zeros)
            assert got.shape == want.shape and got.dtype == want.dtype
            assert got.ctypes.data % 64 == 0 and got.flags.c_contiguous and got.flags.writeable
            if zeros:
                assert not got.any()
    assert fast.alloc2f(3, 4).ctypes.data % 64 == 0 and fast.alloc1i(6).dtype == numpy.int32
    for bad in [(3, -1), (2.5, 3), (True, 2), (2**40, 2**40), "ab"]:
        with pytest.raises((ValueError, TypeError)) as want:
            thinc.alloc(bad)
        with pytest.raises(want.type):
            fast.alloc(bad)


def test_asarray_copies_land_on_a_cache_line(ops):
    """asarray gives Thinc's values and dtype; a conversion it would copy
    anyway (an initializer's float64 draw to float32) lands on a 64-byte
    boundary, and an array already of the dtype asked is the same object, as
    in Thinc. So Thinc's weights start aligned under the backend."""
    fast, thinc = ops
    draw = RNG.uniform(-1, 1, (37, 29))  # float64, as Thinc's initializers draw
    for dtype in ("float32", "int32", "float64"):
        got, want = fast.asarray(draw, dtype=dtype), thinc.asarray(draw, dtype=dtype)
        assert got.dtype == want.dtype and got.shape == want.shape
        numpy.testing.assert_array_equal(got, want)
    assert fast.asarray_f(draw).ctypes.data % 64 == 0
    same = rand(5, 7)
    assert fast.asarray_f(same) is same and fast.asarray(same) is same
    fortran = numpy.asfortranarray(draw)
    numpy.testing.assert_array_equal(fast.asarray_f(fortran), thinc.asarray_f(fortran))
    assert fast.asarray([1, 2], dtype="int32").tolist() == [1, 2]
    with thinc_api.use_ops("thinc_fast"):
        model = thinc_api.chain(thinc_api.Relu(37), thinc_api.Softmax(10))
        model.initialize(X=rand(4, 29), Y=numpy.zeros((4, 10), "f"))
    for node in model.walk():
        for name in node.param_names:
            assert node.get_param(name).ctypes.data % 64 == 0, (node.name, name)


@pytest.mark.parametrize("shape", [(1, 5, 3), (600, 288, 288), (32, 10, 64), (7, 0, 4)])
@pytest.mark.parametrize("trans", [(False, False), (True, False), (False, True)])
def test_gemm_matches_float64(ops, threads, shape, trans):
    fast, _ = ops
    m, k, n = shape
    a = rand(*((k, m) if trans[0] else (m, k)))
    b = rand(*((n, k) if trans[1] else (k, n)))
    ref = (a.T if trans[0] else a).astype("f8") @ (b.T if trans[1] else b).astype("f8")
    got = fast.gemm(a, b, trans1=trans[0], trans2=trans[1])
    assert got.dtype == numpy.float32 and got.shape == (m, n)
    numpy.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * max(1, k) ** 0.5)
    out = numpy.full((m, n), numpy.nan, dtype="float32")
    assert fast.gemm(a, b, out=out, trans1=trans[0], trans2=trans[1]) is out
    numpy.testing.assert_array_equal(out, got)


def test_gemm_edge_cases_are_thincs(ops):
    fast, thinc = ops
    for x, y in [(rand(3, 4, 2), rand(4, 2)), (rand(3, 4), rand(5, 2))]:
        with pytest.raises(ValueError) as theirs:
            thinc.gemm(x, y)
        with pytest.raises(ValueError) as ours:
            fast.gemm(x, y)
        assert str(ours.value) == str(theirs.value)
    x64, y64 = rand(3, 4, dtype="float64"), rand(4, 2, dtype="float64")
    try:
        expected = thinc.gemm(x64, y64)
    except ValueError as err:  # Thinc 8.3: BLIS gemm requires float32
        with pytest.raises(ValueError, match=str(err)[:20]):
            fast.gemm(x64, y64)
    else:  # Thinc 9.1: NumPy
        numpy.testing.assert_array_equal(fast.gemm(x64, y64), expected)
    strided = rand(8, 6)[:, ::2]  # not contiguous: Thinc copies it first
    numpy.testing.assert_allclose(fast.gemm(strided, rand(3, 2)).shape, (8, 2))


def _thinc_sgemm(table):
    """Thinc's `sgemm(cblas)` (a cdef function of thinc.backends.cblas) as ctypes."""
    from thinc.backends import cblas as thinc_cblas

    capsule = thinc_cblas.__pyx_capi__["sgemm"]
    get_name = ctypes.pythonapi.PyCapsule_GetName
    get_name.restype, get_name.argtypes = ctypes.c_char_p, [ctypes.py_object]
    get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
    get_pointer.restype, get_pointer.argtypes = ctypes.c_void_p, [ctypes.py_object,
                                                                   ctypes.c_char_p]
    getter = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object)(
        get_pointer(capsule, get_name(capsule)))
    fp = ctypes.c_float
    proto = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                             ctypes.c_int, fp, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                             ctypes.c_int, fp, ctypes.c_void_p, ctypes.c_int)
    return getter(table), proto(getter(table))


@pytest.mark.parametrize("transA,transB", [(0, 0), (0, 1), (1, 0), (1, 1)])
@pytest.mark.parametrize("m,k,n", [(5, 64, 6), (400, 288, 96), (1, 3, 1)])
def test_cblas_sgemm_is_thinc_fasts(ops, threads, transA, transB, m, k, n):
    """spaCy's parser calls sgemm(cblas)(transA, transB, M, N, K, alpha, A, lda, B, ldb,
    beta, C, ldc) on row-major arrays: the function Thinc's CBlas hands out is ours
    and computes alpha * op(A) @ op(B) + beta * C."""
    fast, thinc = ops
    assert cblas_status() == "thinc_fast's sgemm installed in Thinc's CBlas"
    address, sgemm = _thinc_sgemm(fast.cblas())
    plain_address, _ = _thinc_sgemm(thinc.cblas())
    assert address != plain_address, "Thinc's own CBlas keeps Thinc's sgemm"
    A = rand(*((k, m) if transA else (m, k)))
    B = rand(*((n, k) if transB else (k, n)))
    C = rand(m, n)
    expected = 0.5 * ((A.T if transA else A).astype("f8") @ (B.T if transB else B).astype("f8"))
    expected += -2.0 * C
    sgemm(transA, transB, m, n, k, 0.5, A.ctypes.data, A.shape[1], B.ctypes.data, B.shape[1],
          -2.0, C.ctypes.data, n)
    numpy.testing.assert_allclose(C, expected, rtol=1e-4, atol=1e-4 * k ** 0.5)


def test_own_numpy_ops_hand_out_thincs_cblas_with_our_sgemm(threads):
    """thinc_fast's own NumpyOps (thinc_fast.api) answer cblas() as Thinc's do:
    a new Thinc CBlas per call, for Cython code built against Thinc, here with
    our sgemm in it; the other ops raise Thinc's NotImplementedError."""
    from thinc.backends.cblas import CBlas

    from thinc_fast.api import CupyOps, NumpyOps, Ops

    ours = NumpyOps()
    table = ours.cblas()
    assert type(table) is CBlas and ours.cblas() is not table
    address, sgemm = _thinc_sgemm(table)
    assert address == _thinc_sgemm(ThincFastOps().cblas())[0]
    assert address != _thinc_sgemm(ThincNumpyOps().cblas())[0]
    A, B, C = rand(40, 30), rand(20, 30), rand(40, 20)
    expected = 2.0 * (A.astype("f8") @ B.T.astype("f8")) + 0.5 * C
    sgemm(0, 1, 40, 20, 30, 2.0, A.ctypes.data, 30, B.ctypes.data, 30, 0.5, C.ctypes.data, 20)
    numpy.testing.assert_allclose(C, expected, rtol=1e-4, atol=1e-4)
    for other in (Ops(), CupyOps.__new__(CupyOps)):
        with pytest.raises(NotImplementedError, match="does not provide C BLAS functions"):
            other.cblas()


def test_own_numpy_ops_cblas_without_thinc_says_what_to_install(monkeypatch):
    import sys

    from thinc_fast.api import NumpyOps

    monkeypatch.setitem(sys.modules, "thinc.backends.cblas", None)  # import fails
    with pytest.raises(NotImplementedError, match=r"Thinc cannot be imported.*pip install"):
        NumpyOps().cblas()


def test_sequence_kernels_match_thinc(ops, threads):
    fast, thinc = ops
    X = rand(200, 9)
    lengths = numpy.array([3, 0, 100, 97], dtype="int32")
    for nW in (1, 2):
        numpy.testing.assert_array_equal(fast.seq2col(X, nW, lengths=lengths),
                                         thinc.seq2col(X, nW, lengths=lengths))
        numpy.testing.assert_array_equal(fast.seq2col(X, nW), thinc.seq2col(X, nW))
        dY = rand(200, 9 * (2 * nW + 1))
        numpy.testing.assert_allclose(fast.backprop_seq2col(dY, nW, lengths=lengths),
                                      thinc.backprop_seq2col(dY, nW, lengths=lengths),
                                      rtol=1e-6, atol=1e-6)
    P = rand(300, 96, 3)
    best, which = fast.maxout(P)
    t_best, t_which = thinc.maxout(P)
    numpy.testing.assert_array_equal(best, t_best)
    numpy.testing.assert_array_equal(which, t_which)
    dY = rand(300, 96)
    numpy.testing.assert_array_equal(fast.backprop_maxout(dY, which, 3),
                                     thinc.backprop_maxout(dY, t_which, 3))
    ids = RNG.integers(0, 2**63, size=1000, dtype="uint64")
    numpy.testing.assert_array_equal(fast.hash(ids, 17), thinc.hash(ids, 17))
    lengths = numpy.array([3, 1, 100, 96], dtype="int32")
    for name in ("reduce_sum", "reduce_mean"):
        numpy.testing.assert_allclose(getattr(fast, name)(X, lengths),
                                      getattr(thinc, name)(X, lengths), rtol=1e-6, atol=1e-6)
        d = rand(4, 9)
        numpy.testing.assert_allclose(getattr(fast, "backprop_" + name)(d, lengths),
                                      getattr(thinc, "backprop_" + name)(d, lengths),
                                      rtol=1e-6, atol=1e-6)
    maxes, which = fast.reduce_max(X, lengths)
    t_maxes, t_which = thinc.reduce_max(X, lengths)
    numpy.testing.assert_array_equal(maxes, t_maxes)
    numpy.testing.assert_array_equal(which, t_which)
    d = rand(4, 9)
    numpy.testing.assert_array_equal(fast.backprop_reduce_max(d, which, lengths),
                                     thinc.backprop_reduce_max(d, t_which, lengths))


@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_gather_scatter_match_thinc(ops, threads, dtype):
    fast, thinc = ops
    table = rand(50, 96)
    idx = RNG.integers(0, 50, size=(300, 4)).astype(dtype)
    # Thinc's own gather_add refuses int64 indices ("ambiguous argument types"):
    # the backend sums them as it does int32 ones
    expected = table.astype("f8")[idx].sum(axis=1)
    numpy.testing.assert_allclose(fast.gather_add(table, idx), expected, rtol=1e-5, atol=1e-5)
    if dtype == "int32":
        numpy.testing.assert_allclose(fast.gather_add(table, idx), thinc.gather_add(table, idx),
                                      rtol=1e-6, atol=1e-6)
    ids = RNG.integers(0, 50, size=300).astype(dtype)
    values = rand(300, 96)
    ours, theirs = table.copy(), table.copy()
    fast.scatter_add(ours, ids, values)
    thinc.scatter_add(theirs, ids, values)
    numpy.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


def test_scatter_add_negative_ids_as_thinc(ops):
    """spaCy's parser sends id -1 for a missing token. Thinc's int32 kernel
    skips negative ids; its NumPy path (numpy.add.at, taken for int64 ids)
    adds -1 to the last row. The backend does what Thinc does for each."""
    fast, thinc = ops
    table = rand(10, 8)
    values = rand(5, 8)
    for dtype in ("int32", "int64"):
        ids = numpy.array([0, -1, 3, -1, 9], dtype=dtype)
        ours, theirs = table.copy(), table.copy()
        fast.scatter_add(ours, ids, values)
        thinc.scatter_add(theirs, ids, values)
        numpy.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
        last = table[9] + values[4] + (values[1] + values[3] if dtype == "int64" else 0)
        numpy.testing.assert_allclose(ours[9], last, rtol=1e-6)
    # a negative int32 id past the start: skipped too, as Thinc's kernel does
    ours, theirs = table.copy(), table.copy()
    fast.scatter_add(ours, numpy.array([0, -11], dtype="int32"), values[:2])
    thinc.scatter_add(theirs, numpy.array([0, -11], dtype="int32"), values[:2])
    numpy.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-7)
    # past the end (Thinc's kernel would write outside the table), or
    # before the start on NumPy's path: NumPy's IndexError, nothing added
    for bad, dtype in (([0, 10], "int32"), ([0, 10], "int64"), ([0, -11], "int64")):
        target = table.copy()
        with pytest.raises(IndexError):
            fast.scatter_add(target, numpy.array(bad, dtype=dtype), values[:2])
        numpy.testing.assert_array_equal(target, table)


def test_scatter_add_skips_negative_ids_on_any_thread_count(ops, threads):
    """The int32 path checks in C and runs the split kernel (a table large
    enough to split on 2 threads): negative ids skipped, bit for bit Thinc's."""
    fast, thinc = ops
    table = rand(3000, 96)
    ids = RNG.integers(0, 3000, size=6000).astype("int32")
    ids[::9] = -1
    ids[5] = -3000
    values = rand(6000, 96)
    ours, theirs = table.copy(), table.copy()
    assert fast.scatter_add(ours, ids, values) is ours
    thinc.scatter_add(theirs, ids, values)
    numpy.testing.assert_array_equal(ours, theirs)
    ids[7] = 3000  # past the end: nothing added
    before = ours.copy()
    with pytest.raises(IndexError, match="3000"):
        fast.scatter_add(ours, ids, values)
    numpy.testing.assert_array_equal(ours, before)


@pytest.mark.parametrize("shape", [(32, 64, 2), (3, 64, 2), (600, 96, 3), (40, 7, 5), (9, 4, 1),
                                   (1200, 300, 2)])
def test_maxout_and_backprop_are_thincs(ops, threads, shape):
    """Small calls (spaCy's parser: 32 x 64 x 2 each step) and large ones (the
    last: outputs past 1 MiB, from the reuse cache) give Thinc's arrays."""
    fast, thinc = ops
    X = rand(*shape)
    X[0, 0, :] = 0.5  # a tie: the first piece wins in both
    best, which = fast.maxout(X)
    t_best, t_which = thinc.maxout(X)
    numpy.testing.assert_array_equal(best, t_best)
    numpy.testing.assert_array_equal(which, t_which)
    assert best.dtype == numpy.float32 and which.dtype == numpy.int32
    dY = rand(*shape[:2])
    numpy.testing.assert_array_equal(fast.backprop_maxout(dY, which, shape[2]),
                                     thinc.backprop_maxout(dY, t_which, shape[2]))
    # float64, non-contiguous: Thinc's or the reference path, the same values
    X64 = X.astype("float64")
    numpy.testing.assert_array_equal(fast.maxout(X64)[0], X64.max(axis=-1))
    Xs = X[:, ::2]  # Thinc's typed memoryview refuses it: so does the backend
    with pytest.raises(ValueError) as want:
        thinc.maxout(Xs)
    with pytest.raises(ValueError) as got:
        fast.maxout(Xs)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("rows, cols, n_seqs", [(1000, 1, 50), (1000, 64, 50), (19, 96, 2),
                                                 (6000, 64, 40), (0, 8, 0)])
def test_sum_and_mean_reductions_are_thincs(ops, threads, rows, cols, n_seqs):
    """The float32 reductions (checked in C, offsets made once) against
    Thinc's, sequences of length 0 included, split over 2 threads for the
    large one; lengths that Thinc refuses get Thinc's own error."""
    fast, thinc = ops
    X = rand(rows, cols)
    lengths = (RNG.multinomial(rows, [1 / n_seqs] * n_seqs) if n_seqs else
               numpy.zeros(0)).astype("int32")
    if n_seqs > 2:
        lengths[1] += lengths[0]
        lengths[0] = 0
    for name in ("reduce_sum", "reduce_mean"):
        numpy.testing.assert_allclose(getattr(fast, name)(X, lengths),
                                      getattr(thinc, name)(X, lengths), rtol=1e-5, atol=1e-6)
        d = rand(n_seqs, cols)
        numpy.testing.assert_array_equal(getattr(fast, "backprop_" + name)(d, lengths),
                                         getattr(thinc, "backprop_" + name)(d, lengths))
    if n_seqs > 2:
        for bad in (numpy.concatenate([lengths[:-1], [lengths[-1] + 1]]).astype("int32"),
                    numpy.concatenate([[-1], lengths[1:]]).astype("int32")):
            with pytest.raises(Exception) as want:
                thinc.reduce_mean(X, bad)
            with pytest.raises(want.type):
                fast.reduce_mean(X, bad)


def test_unflatten_is_thincs(ops):
    """unflatten cuts by slicing: the same views as Thinc's, quirks included
    (lengths that add up to fewer rows drop the rest, to more cut the last
    pieces short, a negative one counts from the end)."""
    fast, thinc = ops
    X = rand(20, 3)
    cases = [([4, 0, 7, 9], 0), ([4, 0, 7, 9], 1), ([3, 2], 0), ([15, 10], 0), ([], 0),
             (numpy.array([5, 5, 2], dtype="int32"), 2), ([20], 0), ([2, -1, 5], 0)]
    for lengths, pad in cases:
        rows = X if pad == 0 else rand(20 + pad * 4, 3)
        ours, theirs = fast.unflatten(rows, lengths, pad=pad), thinc.unflatten(rows, lengths, pad=pad)
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs):
            assert a.shape == b.shape and numpy.shares_memory(a, rows) == numpy.shares_memory(b, rows)
            numpy.testing.assert_array_equal(a, b)


def test_cblas_is_built_once_per_ops(ops):
    fast, _ = ops
    assert fast.cblas() is fast.cblas()


def test_ops_pickle_and_deepcopy_after_cblas(ops):
    """The CBlas that cblas() keeps holds a C pointer and cannot be pickled:
    the ops (and so any model on them, or a spaCy pipeline that ran its parser)
    still pickle and deep-copy, and the copy builds its own table with our sgemm."""
    import copy
    import pickle

    fast, _ = ops
    address, _ = _thinc_sgemm(fast.cblas())
    model = thinc_api.Linear(3, 4)
    model.ops = fast
    for clone in (pickle.loads(pickle.dumps(fast)), copy.deepcopy(fast),
                  pickle.loads(pickle.dumps(model)).ops, copy.deepcopy(model).ops):
        assert type(clone) is ThincFastOps and clone is not fast
        assert _thinc_sgemm(clone.cblas())[0] == address
        assert clone.cblas() is clone.cblas()
    assert fast.cblas() is fast.cblas()  # the original keeps its table


def test_bad_input_gets_thincs_errors(ops):
    fast, thinc = ops
    for call in (lambda o: o.seq2col(rand(10, 4)[:, ::2], 1),
                 lambda o: o.seq2col(rand(10, 4), 1, lengths=numpy.array([3, 3], dtype="i")),
                 lambda o: o.seq2col(rand(10, 4, 2), 1)):
        with pytest.raises(Exception) as theirs:
            call(thinc)
        with pytest.raises(type(theirs.value)) as ours:
            call(fast)
        assert str(ours.value) == str(theirs.value)


def test_clear_errors_where_thincs_kernels_would_read_or_write_outside(ops):
    """Inputs on which Thinc's own kernels read or write past an array (a heap
    corruption, or garbage from outside the table) get an error naming the
    problem instead; Thinc's exception types are kept where it raises (the
    cases found by a probe of the backend, each of which crashed or returned
    garbage on Thinc's NumpyOps too)."""
    fast, _ = ops
    x, y = rand(5, 7), rand(7, 3)
    for shape in [(5, 2), (3, 3), (6, 4), (15,)]:
        out = numpy.full(shape, -1.0, dtype="float32")
        with pytest.raises(ValueError, match=r"gemm: out has shape .* the product is \(5, 3\)"):
            fast.gemm(x, y, out=out)
        assert (out == -1.0).all()  # nothing written
    with pytest.raises(ValueError, match=r"gemm: out has shape \(5, 7\), but the product is \(7, 7\)"):
        fast.gemm(x, x, out=numpy.empty((5, 7), dtype="float32"), trans1=True)
    table = rand(10, 4)
    for ids in ([[0, -1]], [[0, 10]], [[0, 11]]):
        strided = numpy.repeat(numpy.array(ids, dtype="int32"), 2, axis=1)[:, ::2]
        assert not strided.flags.c_contiguous  # Thinc's own method's path
        for idx in (numpy.array(ids, dtype="int32"), strided):
            with pytest.raises(IndexError, match=r"gather_add: index -?1[01]? is out of bounds"):
                fast.gather_add(table, idx)
    with pytest.raises(ValueError, match=r"which has shape \(4, 2\) and dY \(4, 3\)"):
        fast.backprop_maxout(rand(4, 3), numpy.zeros((4, 2), dtype="int32"), 2)
    # negative pieces / rows: Thinc's kernels write before dX (a double free later)
    with pytest.raises(IndexError, match=r"backprop_maxout: which holds pieces outside \[0, 2\)"):
        fast.backprop_maxout(rand(64, 64), numpy.full((64, 64), -1, dtype="int32"), 2)
    with pytest.raises(IndexError, match="backprop_reduce_max: which holds a row outside"):
        fast.backprop_reduce_max(rand(2, 2), numpy.array([[0, -1], [3, 2]], dtype="int32"),
                                 numpy.array([2, 4], dtype="int32"))
    # more lengths than rows: Thinc reads past d's end into the gradient
    for name in ("backprop_reduce_sum", "backprop_reduce_mean"):
        for d in (rand(2, 4), numpy.asfortranarray(rand(2, 4))):
            with pytest.raises(ValueError, match=f"{name}: 3 lengths but 2 rows"):
                getattr(fast, name)(d, numpy.array([2, 4, 1], dtype="int32"))


def test_results_do_not_depend_on_threads(ops):
    fast, _ = ops
    a, b = rand(700, 288), rand(288, 288)
    outs = []
    for n in (1, 2, 3):
        set_num_threads(n)
        try:
            outs.append(fast.gemm(a, b))
        finally:
            set_num_threads(None)
    numpy.testing.assert_array_equal(outs[0], outs[1])
    numpy.testing.assert_array_equal(outs[0], outs[2])


def test_thinc_model_trains_the_same(ops):
    """A Thinc Maxout/seq2col model, a few Adam steps on each backend: the same
    parameters to float32 rounding (the gemm sums in another order)."""
    results = []
    for backend in ("thinc_fast", "numpy"):
        thinc_api.fix_random_seed(0)
        with thinc_api.use_ops(backend):
            model = thinc_api.chain(thinc_api.expand_window(1),
                                    thinc_api.Maxout(32, nP=3, normalize=True),
                                    thinc_api.Softmax(5))
        X = numpy.random.default_rng(0).standard_normal((64, 16)).astype("float32")
        Y = numpy.eye(5, dtype="float32")[numpy.arange(64) % 5]
        model.initialize(X=X, Y=Y)
        opt = thinc_api.Adam(0.01)
        for _ in range(5):
            Yh, backprop = model.begin_update(X)
            backprop(Yh - Y)
            model.finish_update(opt)
        results.append(numpy.concatenate([node.get_param(name).ravel()
                                          for node in model.walk()
                                          for name in node.param_names
                                          if node.has_param(name)]))
    assert results[0].size > 1000
    numpy.testing.assert_allclose(results[0], results[1], rtol=1e-4, atol=1e-5)


def test_use_thinc_fast_routes_thincs_optimizer(ops):
    """Thinc's Optimizer takes its ops per parameter (Thinc's NumpyOps for NumPy
    arrays): use_thinc_fast points it at the backend, whose fused Adam gives
    Thinc's update to float32 rounding; stop_thinc_fast undoes it."""
    from thinc import optimizers as thinc_optimizers

    calls = []
    original_adam = ThincFastOps.adam

    def counting_adam(self, *args, **kwargs):
        calls.append(len(args[0]))
        return original_adam(self, *args, **kwargs)

    rng = numpy.random.default_rng(3)
    start = rng.standard_normal(1000).astype("float32")
    grads = [rng.standard_normal(1000).astype("float32") for _ in range(3)]
    results = []
    for routed in (False, True):
        if routed:
            use_thinc_fast()
        try:
            ThincFastOps.adam = counting_adam
            opt = thinc_api.Adam(0.01)
            weights = start.copy()
            for g in grads:
                weights, _ = opt((0, "W"), weights, g.copy())
            results.append(weights)
        finally:
            ThincFastOps.adam = original_adam
            if routed:
                assert isinstance(thinc_optimizers.get_array_ops(weights), ThincFastOps)
                stop_thinc_fast()
    assert calls == [1000, 1000, 1000], calls  # only the routed run used the backend
    assert not isinstance(thinc_optimizers.get_array_ops(start), ThincFastOps)
    assert not isinstance(thinc_api.get_current_ops(), ThincFastOps)
    numpy.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)
    assert not numpy.array_equal(results[0], start)


def test_use_thinc_fast_makes_thincs_cpu_ops_the_backend():
    """Once use_thinc_fast ran, Thinc's get_ops("cpu") (behind use_ops("cpu")
    and require_cpu(), where spaCy builds its parser's output layer) gives the
    backend, so layers built later land on it; other names keep Thinc's answer;
    stop_thinc_fast restores Thinc's get_ops."""
    import thinc.backends

    original = thinc.backends.get_ops
    use_thinc_fast()
    try:
        with thinc_api.use_ops("cpu"):
            layer = thinc_api.Linear(3, 4)
        assert type(layer.ops) is ThincFastOps
        assert type(thinc_api.get_ops("cpu")) is ThincFastOps
        assert type(thinc_api.get_ops("numpy")) is thinc_api.NumpyOps
        with pytest.raises(ValueError):
            thinc_api.get_ops("no such ops")
        thinc_api.require_cpu()
        assert type(thinc_api.get_current_ops()) is ThincFastOps
        use_thinc_fast()  # twice: still one level of wrapping
    finally:
        stop_thinc_fast()
    assert thinc.backends.get_ops is original and thinc_api.get_ops is original
    with thinc_api.use_ops("cpu"):
        assert type(thinc_api.Linear(3, 4).ops) is thinc_api.NumpyOps


def test_stop_thinc_fast_puts_back_the_ops_that_were_current():
    """stop_thinc_fast gives back the ops current before the first
    use_thinc_fast (here Thinc's NumpyOps without blis), not a new default
    NumpyOps, also when use_thinc_fast ran again inside a use_ops block; ops
    that are not the backend's (a use_ops block's) stay current."""
    before = thinc_api.NumpyOps(use_blis=False)
    thinc_api.set_current_ops(before)
    try:
        use_thinc_fast()
        with thinc_api.use_ops("numpy"):
            use_thinc_fast()  # inside a block: the ops before the first still come back
        assert type(thinc_api.get_current_ops()) is ThincFastOps
        stop_thinc_fast()
        assert thinc_api.get_current_ops() is before
        use_thinc_fast()
        with thinc_api.use_ops("numpy"):
            block_ops = thinc_api.get_current_ops()
            stop_thinc_fast()
            assert thinc_api.get_current_ops() is block_ops
    finally:
        stop_thinc_fast()
        thinc_api.set_current_ops(thinc_api.NumpyOps())


def test_use_thinc_fast_leaves_gpu_ops_alone():
    """A GPU run (current ops not a CPU NumpyOps) stays as it is, with a warning."""
    base = thinc_api.Ops(numpy)  # stands for CupyOps: not a NumpyOps
    thinc_api.set_current_ops(base)
    try:
        with pytest.warns(UserWarning, match="not a CPU NumpyOps: left as they are"):
            assert use_thinc_fast("target") == "target"
        assert thinc_api.get_current_ops() is base
        stop_thinc_fast()
        assert thinc_api.get_current_ops() is base  # a GPU run stays on the GPU
    finally:
        stop_thinc_fast()
        thinc_api.set_current_ops(thinc_api.NumpyOps())
