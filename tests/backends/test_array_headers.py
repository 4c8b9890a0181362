"""NumpyOps' kernels read array headers through NumPy's C API (arrays.pxd)
rather than taking buffers: these check that every array the fast paths
refuse (read-only, byte-swapped, strided, wrong dtype, subclasses) still gets
the right numbers (the reference path, or a new array) or a clear error, and
never a write into memory it must not touch."""
import numpy
import pytest
from step_args import step_kw

from thinc_fast.api import NumpyOps, Ops

ops = NumpyOps()
rng = numpy.random.default_rng(7)


def randn(*shape, dtype="float32"):
    return rng.standard_normal(shape).astype(dtype)


def read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def swapped(a):
    """The same values stored big-endian (non-native byte order)."""
    return a.astype(a.dtype.newbyteorder())


def test_bias_ops_refuse_to_write_a_read_only_array_in_place():
    X, b = read_only(randn(5, 3)), randn(3)
    before = X.copy()
    for method in (ops.bias_add, ops.bias_relu):
        with pytest.raises(ValueError, match="read-only"):
            method(X, b, inplace=True)
        numpy.testing.assert_array_equal(X, before)
    # not in place: a new array, the input untouched
    numpy.testing.assert_allclose(ops.bias_relu(X, b), numpy.maximum(before + b, 0), rtol=1e-6)
    numpy.testing.assert_array_equal(X, before)


@pytest.mark.parametrize("kind", ["swapped", "strided_b", "float64", "subclass"])
def test_bias_ops_odd_inputs_match_float64(kind):
    X, b = randn(6, 4), randn(4)
    ref = numpy.maximum(X.astype("f8") + b.astype("f8"), 0)
    if kind == "swapped":
        X = swapped(X)
    elif kind == "strided_b":
        b = numpy.repeat(b, 2)[::2]
        assert not b.flags.c_contiguous
    elif kind == "float64":
        X = X.astype("f8")
    elif kind == "subclass":
        X = X.view(type("Sub", (numpy.ndarray,), {}))
    out = ops.bias_relu(X, b)
    numpy.testing.assert_allclose(numpy.asarray(out, dtype="f8"), ref, rtol=1e-6, atol=1e-7)


def test_bias_shape_mismatch_names_both_shapes():
    with pytest.raises(ValueError, match=r"\(5,\).*\(2, 4\)"):
        ops.bias_add(randn(2, 4), randn(5))
    with pytest.raises(ValueError, match=r"\(1, 4\)"):
        ops.bias_relu(randn(2, 4), randn(1, 4))


def test_backprop_relu_read_only_and_strided():
    Y = randn(6, 5)
    dY = randn(6, 5)
    ref = dY.astype("f8") * (Y > 0)
    dY_ro = read_only(dY)
    out = ops.backprop_relu(dY_ro, Y, inplace=True)  # a new array: dY may not be written
    numpy.testing.assert_allclose(out, ref, rtol=1e-7)
    numpy.testing.assert_array_equal(dY_ro, dY)
    out = ops.backprop_relu(numpy.asfortranarray(dY), Y[:, :])
    numpy.testing.assert_allclose(out, ref, rtol=1e-7)
    out = ops.backprop_relu(swapped(dY), swapped(Y))
    numpy.testing.assert_allclose(numpy.asarray(out, "f8"), ref, rtol=1e-7)
    inplace = dY.copy()
    assert ops.backprop_relu(inplace, Y, inplace=True) is inplace


def test_softmax_read_only_fortran_and_temperature():
    X = randn(4, 7)
    ref = numpy.exp(X.astype("f8") / 2.0)
    ref /= ref.sum(axis=1, keepdims=True)
    for arr in (read_only(X), numpy.asfortranarray(X), swapped(X)):
        out = ops.softmax(arr, inplace=True, temperature=2.0)
        numpy.testing.assert_allclose(numpy.asarray(out, "f8"), ref, rtol=1e-5, atol=1e-7)
    numpy.testing.assert_array_equal(read_only(X), X)
    inplace = X.copy()
    assert ops.softmax(inplace, inplace=True) is inplace


def test_inc_col_sums_strides_and_errors():
    X = randn(9, 6)
    out = randn(6)
    ref = out.astype("f8") + X.astype("f8").sum(axis=0)
    res = ops.inc_col_sums(X[::-1], out)  # a negative row stride
    numpy.testing.assert_allclose(res, ref, rtol=1e-5)
    with pytest.raises(ValueError, match="read-only"):
        ops.inc_col_sums(X, read_only(numpy.zeros(6, "f")))
    with pytest.raises(ValueError, match=r"\(9, 6\).*\(5,\)"):
        ops.inc_col_sums(X, numpy.zeros(5, "f"))


def test_gemm_odd_outputs():
    A, B = randn(5, 3), randn(3, 4)
    ref = A.astype("f8") @ B.astype("f8")
    with pytest.raises(ValueError, match="read-only"):
        ops.gemm(A, B, out=read_only(numpy.zeros((5, 4), "f")))
    out = numpy.zeros((4, 5), "f").T  # column-major output: blis takes its strides
    ops.gemm(A, B, out=out)
    numpy.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    numpy.testing.assert_allclose(ops.gemm(swapped(A), B), ref, rtol=1e-5, atol=1e-6)
    wide = numpy.zeros((5, 8), "f")[:, ::2]  # every other column: not a blis layout
    ops.gemm(A, B, out=wide)
    numpy.testing.assert_allclose(wide, ref, rtol=1e-5, atol=1e-6)


def test_adam_step_read_only_state_is_refused_and_left_unchanged():
    n = 40
    w, g, m, v = randn(n), randn(n), numpy.zeros(n, "f"), numpy.zeros(n, "f")
    kw = step_kw(lr_hat=0.1, beta1=0.9, beta2=0.999, eps=1e-8)
    for which in range(4):
        arrays = [a.copy() for a in (w, g, m, v)]
        arrays[which] = read_only(arrays[which])
        with pytest.raises(ValueError, match=r"`%s` is read-only" %
                           ["weights", "gradient", "mom1", "mom2"][which]):
            ops.adam_step(*arrays, **kw)
        for got, was in zip(arrays, (w, g, m, v)):  # nothing written, the state kept whole
            numpy.testing.assert_array_equal(got, was)
    # float64 state (the reference path) is refused alike, before any write,
    # and so is any state given to the base Ops (the check is shared)
    for backend in (ops, Ops()):
        arrays = [a.astype("f8") for a in (w, g, m, v)]
        arrays[0] = read_only(arrays[0])
        with pytest.raises(ValueError, match="read-only"):
            backend.adam_step(*arrays, **kw)
        assert not arrays[2].any() and not arrays[3].any()


def test_segment_scales_from_a_list_or_an_array_agree():
    n = 50
    segs = numpy.array([0, 20, 50], dtype=numpy.intp)
    for scales in ([0.5, 2.0], numpy.array([0.5, 2.0], "f"), (0.5, 2.0)):
        w, g = randn(n), randn(n)
        w0, g0 = w.copy(), g.copy()
        ops.sgd_step(w, g, **step_kw(0.1, grad_scale=scales, segments=segs))
        expect = w0.astype("f8") - 0.1 * g0 * numpy.repeat([0.5, 2.0], [20, 30])
        numpy.testing.assert_allclose(w, expect, rtol=1e-6, atol=1e-7)
        assert not g.any()
    with pytest.raises(ValueError, match="one scale per segment"):
        ops.sgd_step(randn(n), randn(n), **step_kw(0.1, grad_scale=[1.0], segments=segs))
    with pytest.raises(ValueError, match="rise from 0"):
        ops.sgd_step(randn(n), randn(n), **step_kw(0.1, grad_scale=[1.0, 1.0],
                                                    segments=numpy.array([0, 30, 20, 50])))


def test_segment_sum_of_squares_strided_and_int32_segments():
    g, w = randn(30), randn(30)
    segs32 = numpy.array([0, 10, 30], dtype=numpy.int32)
    ref = [float(((g[a:b].astype("f8") + 0.1 * w[a:b]) ** 2).sum()) for a, b in [(0, 10), (10, 30)]]
    numpy.testing.assert_allclose(ops.segment_sum_of_squares(g, w, 0.1, segs32), ref, rtol=1e-6)
    big_g = numpy.repeat(g, 2)[::2]  # strided: the reference path
    numpy.testing.assert_allclose(ops.segment_sum_of_squares(big_g, w, 0.1, segs32), ref,
                                  rtol=1e-6)
