"""Every kernel against a plain float64 NumPy reference, for NumpyOps and the base Ops."""
import math

import numpy
import pytest

from thinc_fast.api import NumpyOps, Ops, get_current_ops, get_ops, set_current_ops, use_ops

OPS = [NumpyOps(), Ops()]
IDS = ["numpy", "base"]
rng = numpy.random.default_rng(42)


def randn(*shape, dtype="float32"):
    return rng.standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("ops", OPS, ids=IDS)
@pytest.mark.parametrize("trans1", [False, True])
@pytest.mark.parametrize("trans2", [False, True])
@pytest.mark.parametrize("m,k,n", [(7, 5, 3), (1, 9, 4), (6, 1, 2), (33, 65, 17), (4, 3, 1)])
def test_gemm_matches_float64(ops, trans1, trans2, m, k, n):
    A = randn(k, m) if trans1 else randn(m, k)
    B = randn(n, k) if trans2 else randn(k, n)
    ref = (A.T if trans1 else A).astype("f8") @ (B.T if trans2 else B).astype("f8")
    out = ops.gemm(A, B, trans1=trans1, trans2=trans2)
    assert out.shape == (m, n) and out.dtype == numpy.float32
    numpy.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("ops", OPS, ids=IDS)
@pytest.mark.parametrize("trans1", [False, True])
@pytest.mark.parametrize("trans2", [False, True])
def test_gemm_alpha_beta_accumulates(ops, trans1, trans2):
    A = randn(6, 6)
    B = randn(6, 6)
    C = randn(6, 6)
    C0 = C.astype("f8")
    out = ops.gemm(A, B, out=C, trans1=trans1, trans2=trans2, alpha=0.5, beta=1.0)
    assert out is C
    ref = 0.5 * (A.T if trans1 else A).astype("f8") @ (B.T if trans2 else B).astype("f8") + C0
    numpy.testing.assert_allclose(C, ref, rtol=1e-5, atol=1e-5)
    # beta=1 twice accumulates twice
    ops.gemm(A, B, out=C, trans1=trans1, trans2=trans2, alpha=0.5, beta=1.0)
    ref2 = ref + (ref - C0)
    numpy.testing.assert_allclose(C, ref2, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_gemm_beta_zero_ignores_nan_in_out(ops):
    A, B = randn(3, 4), randn(4, 2)
    C = numpy.full((3, 2), numpy.nan, dtype="float32")
    ops.gemm(A, B, out=C)
    numpy.testing.assert_allclose(C, A.astype("f8") @ B, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_gemm_non_contiguous_inputs_and_output(ops):
    big_a, big_b = randn(20, 30), randn(30, 42)
    A = big_a[::2, 3:17]          # strided rows, column slice
    B = big_b[1:15, ::3]          # non-unit column stride
    Af = numpy.asfortranarray(randn(10, 14))
    out_big = numpy.zeros((10, 42), dtype="float32")
    out = out_big[:, ::3]         # strided output
    ops.gemm(A, B, out=out)
    numpy.testing.assert_allclose(out_big[:, ::3], A.astype("f8") @ B.astype("f8"), rtol=1e-5, atol=1e-5)
    assert not out_big[:, 1::3].any(), "gemm wrote outside its output view"
    numpy.testing.assert_allclose(ops.gemm(Af, B), Af.astype("f8") @ B.astype("f8"), rtol=1e-5, atol=1e-5)
    Ar = A[::-1]                  # negative strides
    numpy.testing.assert_allclose(ops.gemm(Ar, B), Ar.astype("f8") @ B.astype("f8"), rtol=1e-5, atol=1e-5)


def test_gemm_float64_falls_back_to_reference():
    A, B = randn(4, 3, dtype="f8"), randn(3, 5, dtype="f8")
    out = NumpyOps().gemm(A, B)
    assert out.dtype == numpy.float64
    numpy.testing.assert_allclose(out, A @ B, rtol=1e-12)


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_gemm_shape_errors(ops):
    with pytest.raises(ValueError, match="inner dimensions"):
        ops.gemm(randn(3, 4), randn(5, 2))
    with pytest.raises(ValueError, match=r"expected \(3, 2\)"):
        ops.gemm(randn(3, 4), randn(4, 2), out=numpy.zeros((2, 3), dtype="f"))
    with pytest.raises(ValueError, match="beta"):
        ops.gemm(randn(3, 4), randn(4, 2), beta=1.0)


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_gemm_empty_dims(ops):
    C = randn(3, 2)
    ops.gemm(numpy.zeros((3, 0), "f"), numpy.zeros((0, 2), "f"), out=C, beta=0.0)
    assert (C == 0).all()
    assert ops.gemm(numpy.zeros((0, 4), "f"), randn(4, 2)).shape == (0, 2)


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_bias_add_and_bias_relu(ops):
    X, b = randn(9, 7), randn(7)
    ref = X.astype("f8") + b
    numpy.testing.assert_allclose(ops.bias_add(X, b), ref, rtol=1e-6)
    numpy.testing.assert_allclose(ops.bias_relu(X, b), numpy.maximum(ref, 0), rtol=1e-6)
    X2 = X.copy()
    out = ops.bias_relu(X2, b, inplace=True)
    assert out is X2
    numpy.testing.assert_allclose(X2, numpy.maximum(ref, 0), rtol=1e-6)
    with pytest.raises(ValueError, match="bias"):
        ops.bias_add(X, randn(6))


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_backprop_relu(ops):
    Y = numpy.maximum(randn(6, 5), 0)
    dY = randn(6, 5)
    numpy.testing.assert_array_equal(ops.backprop_relu(dY, Y), numpy.where(Y > 0, dY, 0))
    numpy.testing.assert_array_equal(ops.backprop_relu(dY[:, ::2], Y[:, ::2]),
                                     numpy.where(Y[:, ::2] > 0, dY[:, ::2], 0))
    with pytest.raises(ValueError, match="shape"):
        ops.backprop_relu(dY, Y[:3])


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_softmax(ops):
    X = randn(8, 10) * 10
    X[0, 0] = 80.0  # large values stay finite
    e = numpy.exp(X.astype("f8") - X.max(axis=1, keepdims=True))
    ref = e / e.sum(axis=1, keepdims=True)
    Y = ops.softmax(X)
    numpy.testing.assert_allclose(Y, ref, rtol=1e-5, atol=1e-7)
    numpy.testing.assert_allclose(Y.sum(axis=1), 1.0, rtol=1e-5)
    X2 = X.copy()
    assert ops.softmax(X2, inplace=True) is X2
    numpy.testing.assert_allclose(X2, ref, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_backprop_softmax_matches_jacobian(ops):
    X, dY = randn(3, 4).astype("f8"), randn(3, 4).astype("f8")
    Y = ops.softmax(X)
    ref = numpy.stack([(numpy.diag(y) - numpy.outer(y, y)) @ d for y, d in zip(Y, dY)])
    numpy.testing.assert_allclose(ops.backprop_softmax(Y, dY), ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_inc_col_sums_accumulates(ops):
    X = randn(13, 6)
    out = randn(6)
    ref = out.astype("f8") + X.astype("f8").sum(axis=0)
    assert ops.inc_col_sums(X, out) is out
    numpy.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
    big = randn(13, 12)
    out2 = numpy.zeros(6, "f")
    ops.inc_col_sums(big[:, ::2], out2)
    numpy.testing.assert_allclose(out2, big[:, ::2].astype("f8").sum(axis=0), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="column sums"):
        ops.inc_col_sums(X, numpy.zeros(5, "f"))


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_sum_of_squares(ops):
    g, w = randn(10001), randn(10001)
    assert math.isclose(ops.sum_of_squares(g), float((g.astype("f8") ** 2).sum()), rel_tol=1e-5)
    ref = float(((g.astype("f8") + 0.1 * w) ** 2).sum())
    assert math.isclose(ops.sum_of_squares(g, w, 0.1), ref, rel_tol=1e-5)
    g[5000] = numpy.nan
    assert math.isnan(ops.sum_of_squares(g))
    g[5000] = numpy.inf
    assert not math.isfinite(ops.sum_of_squares(g))


def adam_reference(w, g, m, v, avg, *, lr_hat, beta1, beta2, eps, grad_scale, l2_coupled, decay,
                   avg_rate):
    w, g, m, v = (a.astype("f8") for a in (w, g, m, v))
    g = (g + l2_coupled * w) * grad_scale
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    w = w - lr_hat * m / (numpy.sqrt(v) + eps)
    w = w - decay * w
    avg = None if avg is None else avg - avg_rate * (avg - w)
    return w, m, v, avg


@pytest.mark.parametrize("ops", OPS, ids=IDS)
@pytest.mark.parametrize("use_avg", [False, True])
@pytest.mark.parametrize("l2_coupled,decay,grad_scale", [(0.0, 0.0, 1.0), (0.01, 0.0, 0.5),
                                                          (0.0, 1e-3, 0.25)])
def test_adam_step_fused_matches_reference(ops, use_avg, l2_coupled, decay, grad_scale):
    n = 1037
    w, g = randn(n), randn(n)
    m, v = randn(n) * 0.1, numpy.abs(randn(n)) * 0.1
    avg = randn(n) if use_avg else None
    hp = dict(lr_hat=0.01, beta1=0.9, beta2=0.999, eps=1e-8, grad_scale=grad_scale,
              l2_coupled=l2_coupled, decay=decay, avg_rate=0.3 if use_avg else 0.0)
    ref = adam_reference(w, g, m, v, None if avg is None else avg.astype("f8"), **hp)
    ops.adam_step(w, g, m, v, avg, **hp)
    numpy.testing.assert_allclose(w, ref[0], rtol=1e-5, atol=1e-6)
    numpy.testing.assert_allclose(m, ref[1], rtol=1e-5, atol=1e-7)
    numpy.testing.assert_allclose(v, ref[2], rtol=1e-5, atol=1e-7)
    assert not g.any(), "the fused step must zero the gradient"
    if use_avg:
        numpy.testing.assert_allclose(avg, ref[3], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_sgd_step(ops):
    w, g, avg = randn(100), randn(100), randn(100)
    w64, g64, avg64 = w.astype("f8"), g.astype("f8"), avg.astype("f8")
    ops.sgd_step(w, g, avg, learn_rate=0.1, grad_scale=0.5, l2_coupled=0.01, decay=0.001,
                 avg_rate=0.2)
    w_ref = w64 - 0.1 * (g64 + 0.01 * w64) * 0.5
    w_ref -= 0.001 * w_ref
    numpy.testing.assert_allclose(w, w_ref, rtol=1e-6, atol=1e-7)
    numpy.testing.assert_allclose(avg, avg64 - 0.2 * (avg64 - w_ref), rtol=1e-6, atol=1e-7)
    assert not g.any()


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_adam_step_rejects_mismatched_shapes(ops):
    with pytest.raises(ValueError, match="mom1"):
        ops.adam_step(randn(5), randn(5), randn(4), randn(5), lr_hat=0.1, beta1=0.9,
                      beta2=0.99, eps=1e-8)


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_maxout_and_backprop(ops):
    X = randn(4, 3, 5)
    best, which = ops.maxout(X)
    numpy.testing.assert_array_equal(best, X.max(axis=-1))
    numpy.testing.assert_array_equal(which, X.argmax(axis=-1))
    dY = randn(4, 3)
    dX = ops.backprop_maxout(dY, which, 5)
    ref = numpy.zeros_like(X)
    for i in range(4):
        for j in range(3):
            ref[i, j, which[i, j]] = dY[i, j]
    numpy.testing.assert_array_equal(dX, ref)


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_dropout_mask(ops):
    mask = ops.get_dropout_mask((200, 100), 0.25)
    assert set(numpy.unique(mask)) <= {0.0, numpy.float32(1 / 0.75)}
    assert abs((mask == 0).mean() - 0.25) < 0.02
    with pytest.raises(ValueError, match="dropout rate"):
        ops.get_dropout_mask((2, 2), 1.0)


def test_get_ops_and_use_ops():
    assert isinstance(get_ops("numpy"), NumpyOps)
    assert isinstance(get_current_ops(), NumpyOps)
    with use_ops("base") as ops:
        assert type(get_current_ops()) is Ops and ops is get_current_ops()
    assert isinstance(get_current_ops(), NumpyOps)
    with pytest.raises(ValueError, match="Unknown ops name 'tpu'"):
        get_ops("tpu")
    with pytest.raises(TypeError):
        set_current_ops("numpy")
    previous = get_current_ops()
    set_current_ops(Ops())
    try:
        assert type(get_current_ops()) is Ops
    finally:
        set_current_ops(previous)


@pytest.fixture
def two_threads():
    import thinc_fast

    before = thinc_fast.get_num_threads()
    thinc_fast.set_num_threads(2)
    yield
    thinc_fast.set_num_threads(before)


@pytest.mark.parametrize("trans1", [False, True])
@pytest.mark.parametrize("trans2", [False, True])
@pytest.mark.parametrize("m,k,n", [(100, 300, 257), (257, 300, 100), (129, 784, 33)])
def test_threaded_gemm_blocks_match_float64(two_threads, trans1, trans2, m, k, n):
    A = randn(k, m) if trans1 else randn(m, k)
    B = randn(n, k) if trans2 else randn(k, n)
    C = randn(m, n)
    ref = (A.T if trans1 else A).astype("f8") @ (B.T if trans2 else B).astype("f8") + C
    NumpyOps().gemm(A, B, out=C, trans1=trans1, trans2=trans2, beta=1.0)
    numpy.testing.assert_allclose(C, ref, rtol=1e-4, atol=1e-3)


def test_threaded_streams_match_reference(two_threads):
    n = 200_003  # not a multiple of the block size
    w, g = randn(n), randn(n)
    m, v, avg = randn(n) * 0.1, numpy.abs(randn(n)) * 0.1, randn(n)
    hp = dict(lr_hat=0.01, beta1=0.9, beta2=0.999, eps=1e-8, grad_scale=0.5, l2_coupled=0.01,
              decay=1e-3, avg_rate=0.3)
    ref = adam_reference(w, g, m, v, avg.astype("f8"), **hp)
    assert math.isclose(NumpyOps().sum_of_squares(g, w, 0.01),
                        float(((g.astype("f8") + 0.01 * w) ** 2).sum()), rel_tol=1e-5)
    NumpyOps().adam_step(w, g, m, v, avg, **hp)
    numpy.testing.assert_allclose(w, ref[0], rtol=1e-5, atol=1e-6)
    numpy.testing.assert_allclose(avg, ref[3], rtol=1e-5, atol=1e-6)
    assert not g.any()
    w2, g2, a2 = randn(n), randn(n), randn(n)
    w_ref = w2.astype("f8") - 0.1 * g2
    NumpyOps().sgd_step(w2, g2, a2, learn_rate=0.1)
    numpy.testing.assert_allclose(w2, w_ref, rtol=1e-6, atol=1e-6)


def test_set_num_threads_validates():
    import thinc_fast

    with pytest.raises(ValueError, match="positive int"):
        thinc_fast.set_num_threads(0)
    before = thinc_fast.get_num_threads()
    thinc_fast.set_num_threads(None)
    assert thinc_fast.get_num_threads() >= 1
    thinc_fast.set_num_threads(before)


def test_thread_count_follows_environment(monkeypatch):
    from thinc_fast.backends.numpy_ops import default_num_threads

    monkeypatch.setenv("THINC_FAST_NUM_THREADS", "1")
    assert default_num_threads() == 1
    monkeypatch.setenv("THINC_FAST_NUM_THREADS", "999")
    assert 1 <= default_num_threads() <= len(__import__("os").sched_getaffinity(0))


def test_sum_of_squares_is_the_same_for_any_thread_count_and_does_not_overflow():
    import thinc_fast

    g = randn(1_000_003)
    before = thinc_fast.get_num_threads()
    try:
        totals = set()
        for threads in (1, 2, 3, 7):
            thinc_fast.set_num_threads(threads)
            totals.add(NumpyOps().sum_of_squares(g, g, 0.5))
        assert len(totals) == 1
    finally:
        thinc_fast.set_num_threads(before)
    big = numpy.zeros(10, "f")
    big[3] = 2e19  # its square overflows float32, not the float64 sum
    assert NumpyOps().sum_of_squares(big) == pytest.approx(4e38, rel=1e-6)


def test_get_array_ops_follows_the_array_not_the_context():
    from thinc_fast.backends import get_array_ops

    with use_ops("base"):
        assert isinstance(get_array_ops(numpy.zeros(3, "f")), NumpyOps)
