"""Every kernel against a plain float64 NumPy reference, for NumpyOps, the base
Ops and CupyOps on the CPU stand-in for CuPy (tests/cupy_standin: host arrays in
and out, the kernels of kernels.cu compiled with g++)."""
import math

import cupy_standin  # loaded by conftest.py
import numpy
import pytest
from step_args import step_kw

from thinc_fast.api import NumpyOps, Ops, get_current_ops, get_ops, set_current_ops, use_ops
from thinc_fast.backends import context_ops


OPS = [NumpyOps(), Ops(), cupy_standin.HOST_OPS]
IDS = ["numpy", "base", "cupy-standin"]
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
    ops.adam_step(w, g, m, v, avg, **step_kw(**hp))
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
    ops.sgd_step(w, g, avg, **step_kw(learn_rate=0.1, grad_scale=0.5, l2_coupled=0.01, decay=0.001,
                                      avg_rate=0.2))
    w_ref = w64 - 0.1 * (g64 + 0.01 * w64) * 0.5
    w_ref -= 0.001 * w_ref
    numpy.testing.assert_allclose(w, w_ref, rtol=1e-6, atol=1e-7)
    numpy.testing.assert_allclose(avg, avg64 - 0.2 * (avg64 - w_ref), rtol=1e-6, atol=1e-7)
    assert not g.any()


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_adam_step_rejects_mismatched_shapes(ops):
    with pytest.raises(ValueError, match="mom1"):
        ops.adam_step(randn(5), randn(5), randn(4), randn(5), **step_kw(lr_hat=0.1, beta1=0.9,
                                                                        beta2=0.99, eps=1e-8))


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
    # Thinc's ends: None or 0 keeps everything, 1 drops everything
    assert (ops.get_dropout_mask((2, 2), None) == 1).all()
    assert (ops.get_dropout_mask((2, 2), 0.0) == 1).all()
    assert not ops.get_dropout_mask((2, 2), 1.0).any()
    for bad in (1.5, -0.1, float("nan"), "0.5"):
        with pytest.raises(ValueError, match="dropout rate 'drop'"):
            ops.get_dropout_mask((2, 2), bad)


def test_get_ops_and_use_ops():
    assert isinstance(get_ops("numpy"), NumpyOps)
    assert isinstance(get_current_ops(), NumpyOps)
    with use_ops("base") as ops:
        assert type(get_current_ops()) is Ops and ops is get_current_ops()
        assert context_ops.get() is ops  # Thinc 9's ContextVar of the same name
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
    """2 threads, every product and loop big enough to split splitting."""
    import thinc_fast
    from thinc_fast.backends.numpy_ops import gemm_options, set_gemm_options

    before, options = thinc_fast.get_num_threads(), gemm_options()
    thinc_fast.set_num_threads(2)
    set_gemm_options(adaptive_split=0)
    yield
    set_gemm_options(**options)
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
    NumpyOps().adam_step(w, g, m, v, avg, **step_kw(**hp))
    numpy.testing.assert_allclose(w, ref[0], rtol=1e-5, atol=1e-6)
    numpy.testing.assert_allclose(avg, ref[3], rtol=1e-5, atol=1e-6)
    assert not g.any()
    w2, g2, a2 = randn(n), randn(n), randn(n)
    w_ref = w2.astype("f8") - 0.1 * g2
    NumpyOps().sgd_step(w2, g2, a2, **step_kw(learn_rate=0.1))
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


@pytest.mark.parametrize("value", ["0", "-1", "abc", "1.5", "2 threads"])
def test_a_thread_count_in_the_environment_that_is_no_count_is_named(monkeypatch, value):
    """An unusable THINC_FAST_NUM_THREADS is skipped with a warning naming it;
    OMP_NUM_THREADS then counts, its first entry when it lists several."""
    from thinc_fast.backends.numpy_ops import default_num_threads

    monkeypatch.setenv("THINC_FAST_NUM_THREADS", value)
    monkeypatch.setenv("OMP_NUM_THREADS", "1,4")
    with pytest.warns(RuntimeWarning, match=f"THINC_FAST_NUM_THREADS={value!r}"):
        assert default_num_threads() == 1
    monkeypatch.delenv("THINC_FAST_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", value)
    with pytest.warns(RuntimeWarning, match="OMP_NUM_THREADS"):
        assert default_num_threads() == len(__import__("os").sched_getaffinity(0))


def test_the_thread_count_warning_at_import_names_the_users_line(tmp_path):
    """The warning comes while thinc_fast is imported: it names the user's
    line that imported it, not Python's import machinery or thinc_fast."""
    import os
    import subprocess
    import sys

    script = tmp_path / "user_script.py"
    script.write_text("x = 1\nimport thinc_fast.api\n")
    env = dict(os.environ, THINC_FAST_NUM_THREADS="abc")
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    done = subprocess.run([sys.executable, "-W", "always", str(script)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    warning = [line for line in done.stderr.splitlines() if "THINC_FAST_NUM_THREADS" in line]
    assert warning, done.stderr
    assert warning[0].startswith(f"{script}:2: RuntimeWarning: thinc_fast: "
                                 "THINC_FAST_NUM_THREADS='abc'"), warning


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


# ------------------------------------------------------------------------------------------
# Thinc's Ops surface: construction, typed allocation/conversion, batching, activations

import inspect  # noqa: E402
import types  # noqa: E402

from thinc_fast.api import CupyOps, fix_random_seed, warmup_linear  # noqa: E402
from thinc_fast.backends import SizedGenerator  # noqa: E402


def test_construction_forms():
    assert Ops(numpy).xp is numpy and Ops(numpy).device_type == "cpu"
    ops = NumpyOps(use_blis=True)
    assert ops.use_blis and ops.device_type == "cpu" and ops.device_id == -1
    assert NumpyOps("cpu", 0).device_id == 0
    fake_cupy = types.ModuleType("cupy")
    assert Ops(fake_cupy).device_type == "gpu"
    with pytest.raises(ValueError, match="'device_type'"):
        NumpyOps(fake_cupy)
    with pytest.raises(TypeError, match="'device_id'"):
        Ops("cpu", "0")
    with pytest.raises(TypeError, match="unexpected settings"):
        NumpyOps(use_gpu=True)


@pytest.mark.parametrize("cls", [NumpyOps, CupyOps])
def test_backends_keep_the_base_signatures(cls):
    """Thinc's consistency rule: a backend's public methods exist on Ops, with the same
    parameters, defaults and annotations (CupyOps is checked without a GPU)."""
    for attr in (a for a in dir(cls) if not a.startswith("_")):
        assert hasattr(Ops, attr), attr
        method = getattr(cls, attr)
        if not callable(method) or isinstance(method, (type, types.ModuleType)):
            continue
        ours = list(inspect.signature(method).parameters.values())[1:]
        base = list(inspect.signature(getattr(Ops, attr)).parameters.values())[1:]
        assert [p.name for p in ours] == [p.name for p in base], attr
        assert [p.default for p in ours] == [p.default for p in base], attr
        for p, q in zip(ours, base):
            if p.annotation is not p.empty and q.annotation is not q.empty:
                assert str(p.annotation) == str(q.annotation), attr


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_typed_alloc_reshape_asarray(ops):
    for n in range(1, 5):
        shape = tuple(range(2, 2 + n))
        f = getattr(ops, f"alloc{n}f")(*shape)
        i = getattr(ops, f"alloc{n}i")(*shape)
        assert f.shape == i.shape == shape and f.dtype == "float32" and i.dtype == "int32"
        assert not f.any() and not i.any()
        assert getattr(ops, f"alloc{n}f")(*shape, dtype="float64").dtype == "float64"
        flat = numpy.arange(numpy.prod(shape))
        assert getattr(ops, f"reshape{n}f")(flat.astype("f"), *shape).shape == shape
        assert getattr(ops, f"reshape{n}i")(flat.astype("i"), *shape).shape == shape
        assert getattr(ops, f"reshape{n}")(flat, *shape).shape == shape
        nested = flat.reshape(shape).tolist()
        assert getattr(ops, f"asarray{n}f")(nested).dtype == "float32"
        assert getattr(ops, f"asarray{n}i")(nested).dtype == "int32"
        assert getattr(ops, f"asarray{n}f")(nested, dtype="float64").dtype == "float64"
    assert ops.alloc_f((2, 3)).dtype == "float32" and ops.alloc_i((2,)).dtype == "int32"
    assert ops.reshape_f(numpy.zeros(6, "f"), (2, 3)).shape == (2, 3)
    assert ops.alloc(3).shape == (3,)
    assert ops.alloc((numpy.int64(2), 0)).shape == (2, 0)
    for bad in [(2, -1), (2.0, 3), ("2",)]:
        with pytest.raises(ValueError, match=r"alloc: invalid shape .*non-negative ints"):
            ops.alloc(bad)
    with pytest.raises(ValueError, match="asarray2f: expected a 2d array"):
        ops.asarray2f([1.0, 2.0])
    big = [16, 11648197037703959513]
    assert list(ops.asarray(big, dtype="uint64")) == big
    X = numpy.zeros((3, 4), "f")
    assert ops.asarray(X) is X and ops.as_contig(X) is X
    assert ops.asarray(X, "f8").dtype == "f8", "dtype by position, as Thinc's NumpyOps takes it"
    assert ops.as_contig(X.T).flags.c_contiguous and ops.as_contig(X, "float64").dtype == "f8"


@pytest.mark.parametrize("ops", OPS, ids=IDS)
@pytest.mark.parametrize("order", [">", "<", "=", "|", None])
def test_to_numpy_byte_order(ops, order):
    x = numpy.asarray([1.5, -2.25])
    y = ops.to_numpy(x, byte_order=order)
    numpy.testing.assert_array_equal(y, x)
    if order in (">", "<"):
        assert y.dtype == x.dtype.newbyteorder(order)
    else:
        assert y.dtype.byteorder == x.dtype.byteorder
    assert isinstance(ops.to_numpy([1, 2]), numpy.ndarray)


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_minibatch_kinds_and_sizes(ops):
    items = [1, 2, 3, 4, 5, 6, 7]
    batches = ops.minibatch(3, items)
    assert isinstance(batches, SizedGenerator) and len(batches) == 3
    assert list(batches) == [[1, 2, 3], [4, 5, 6], [7]] == list(batches), "re-iterable"
    assert list(ops.minibatch(3, tuple(items))) == [(1, 2, 3), (4, 5, 6), (7,)]
    assert list(ops.minibatch(3, range(7))) == [range(0, 3), range(3, 6), range(6, 7)]
    arr = numpy.arange(14, dtype="f").reshape(7, 2)
    got = list(ops.minibatch(numpy.int64(4), arr))
    assert [b.shape for b in got] == [(4, 2), (3, 2)] and numpy.shares_memory(got[0], arr)
    sizes = (s for s in (3, 2, 1, 5))
    assert list(ops.minibatch(sizes, items)) == [[1, 2, 3], [4, 5], [6], [7]]
    # a schedule draws one size per batch (and moves on); floats are truncated as in Thinc
    sched = warmup_linear(4.0, 2, 100)  # 0.0, 2.0, 4.0, 3.96, ...
    with pytest.raises(ValueError, match="'size'"):
        ops.minibatch(sched, items)  # its first size is 0
    sched.step = 1
    assert [len(b) for b in ops.minibatch(sched, items)] == [2, 4, 1] and sched.step == 4
    assert len(ops.minibatch(3, [])) == 0 and list(ops.minibatch(3, [])) == []


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_minibatch_shuffle_matches_thincs_draws_and_buffers(ops):
    items = list(range(10))
    fix_random_seed(3)
    got = list(ops.minibatch(4, items, shuffle=True))
    fix_random_seed(3)
    order = numpy.arange(10)
    numpy.random.shuffle(order)
    assert got == [order[:4].tolist(), order[4:8].tolist(), order[8:].tolist()]
    arr = numpy.arange(10) * 10
    fix_random_seed(3)
    shuffled = list(ops.minibatch(4, arr, shuffle=True))
    assert all(b.flags.c_contiguous for b in shuffled)
    numpy.testing.assert_array_equal(numpy.concatenate(shuffled), order * 10)
    batches = ops.minibatch(4, range(10), shuffle=True)
    first, second = list(batches), list(batches)
    assert sorted(sum(first, [])) == sorted(sum(second, [])) == items and first != second
    assert list(ops.minibatch(2, items, buffer=3)) == list(ops.minibatch(2, items))


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_multibatch(ops):
    X = numpy.arange(10).reshape(5, 2)
    Y = ["a", "b", "c", "d", "e"]
    batches = ops.multibatch(2, X, Y)
    assert len(batches) == 3
    got = list(batches)
    assert [y for _, y in got] == [["a", "b"], ["c", "d"], ["e"]]
    numpy.testing.assert_array_equal(got[2][0], [[8, 9]])
    fix_random_seed(0)
    for x, y in ops.multibatch(2, X, Y, shuffle=True):
        assert [Y[row[0] // 2] for row in x] == y, "rows stay paired"
    # Thinc's rule: the first sequence sets the length; a longer later one is cut
    longer = Y + ["f", "g"]
    assert [y for _, y in ops.multibatch(2, X, longer)] == [["a", "b"], ["c", "d"], ["e"]]
    assert len(ops.multibatch(2, X, longer)) == 3


@pytest.mark.parametrize("ops", OPS, ids=IDS)
@pytest.mark.parametrize("call,message", [
    (lambda o: o.minibatch(3, (i for i in range(5))), "sequence"),
    (lambda o: o.minibatch(3, True), "sequence"),
    (lambda o: o.minibatch(0, [1, 2]), "'size'"),
    (lambda o: o.minibatch(True, [1, 2]), "'size'"),
    (lambda o: o.minibatch("3", [1, 2]), "'size'"),
    (lambda o: o.minibatch(iter([1]), [1, 2, 3]), "'size' ran out"),
    (lambda o: o.minibatch(iter([1, -1]), [1, 2, 3]), "'size'"),
    (lambda o: o.minibatch(2, [1, 2], buffer=0), "'buffer'"),
    (lambda o: o.multibatch(2, [1, 2], (i for i in range(2))), "sequence 2"),
    (lambda o: o.multibatch(2, [1, 2, 3], [1, 2]), "sequence 2 has 2 items, fewer"),
])
def test_batching_errors_name_the_argument(ops, call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(ops)


def _derivative(f, x, h=1e-6):
    return (f(x + h) - f(x - h)) / (2 * h)


_PHI = numpy.vectorize(lambda v: 0.5 * (1 + math.erf(v / math.sqrt(2))))
ACTIVATIONS = {  # name: float64 reference of the forward
    "sigmoid": lambda x: 1 / (1 + numpy.exp(-x)),
    "relu_k": lambda x: numpy.clip(x, 0, 6),
    "hard_sigmoid": lambda x: numpy.clip(0.2 * x + 0.5, 0, 1),
    "hard_tanh": lambda x: numpy.clip(x, -1, 1),
    "swish": lambda x: x / (1 + numpy.exp(-x)),
    "hard_swish": lambda x: x * numpy.clip(0.2 * x + 0.5, 0, 1),
    "hard_swish_mobilenet": lambda x: x * numpy.clip(x + 3, 0, 6) / 6,
    "dish": lambda x: 0.5 * x * (1 + x / numpy.sqrt(1 + x * x)),
    "gelu": lambda x: x * _PHI(x),
    "gelu_approx": lambda x: 0.5 * x * (1 + numpy.tanh(math.sqrt(2 / math.pi)
                                                      * (x + 0.044715 * x ** 3))),
    "mish": lambda x: numpy.where(x >= 20, x, x * numpy.tanh(numpy.log1p(numpy.exp(
        numpy.minimum(x, 20))))),
}


@pytest.mark.parametrize("ops", OPS, ids=IDS)
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activations_against_float64_references(ops, name):
    # points away from the kinks of the piecewise ones (where the derivative jumps)
    x64 = numpy.array([-25.0, -7.3, -2.71, -1.3, -0.37, 0.21, 0.77, 1.9, 2.6, 4.4, 21.0])
    ref = ACTIVATIONS[name](x64)
    forward = getattr(ops, name)
    backward = getattr(ops, "backprop_" + name)
    for dtype, tol in (("float64", 1e-6), ("float32", 2e-6)):
        X = x64.astype(dtype)
        Y = forward(X.copy())
        assert Y.dtype == dtype and Y.shape == X.shape
        numpy.testing.assert_allclose(Y, ref, rtol=tol, atol=tol)
        Xi = X.copy()
        assert forward(Xi, inplace=True) is Xi
        numpy.testing.assert_allclose(Xi, Y, rtol=1e-6, atol=1e-7)
    # gradients: dY * f'(x), f' by central differences of the float64 reference
    dY = numpy.linspace(-1.0, 1.0, x64.size)
    want = dY * _derivative(ACTIVATIONS[name], x64)
    params = set(inspect.signature(backward).parameters)
    Y64 = ACTIVATIONS[name](x64)
    if name == "sigmoid":
        args = {"Y": Y64}
    elif "Y" in params:
        args = {"X": x64, "Y": Y64}
    else:
        args = {"X": x64}
    got = backward(dY.copy(), **args)
    numpy.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    dYi = dY.copy()
    assert backward(dYi, inplace=True, **args) is dYi
    numpy.testing.assert_allclose(dYi, got, rtol=1e-12)
    with pytest.raises(ValueError, match="incompatible shapes"):
        backward(dY[:3], **args)


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_clipped_linear_erf_dtanh_logloss(ops):
    x = numpy.linspace(-3, 3, 13)
    numpy.testing.assert_allclose(ops.clipped_linear(x, slope=2.0, offset=0.5, min_val=-1,
                                                     max_val=2), numpy.clip(2 * x + 0.5, -1, 2))
    d = ops.backprop_clipped_linear(numpy.ones_like(x), x, slope=2.0, offset=0.5, min_val=-1,
                                    max_val=2)
    numpy.testing.assert_array_equal(d, numpy.where((2 * x + 0.5 > -1) & (2 * x + 0.5 < 2), 2, 0))
    numpy.testing.assert_allclose(ops.erf(x), [math.erf(v) for v in x], atol=2e-7)
    Y = numpy.tanh(x)
    numpy.testing.assert_allclose(ops.dtanh(Y), 1 - Y ** 2)
    numpy.testing.assert_allclose(ops.dsigmoid(numpy.array([0.25])), [0.1875])
    numpy.testing.assert_allclose(ops.sechsq(x), 1 / numpy.cosh(x) ** 2)
    p, t = numpy.array([0.9, 0.2]), numpy.array([1.0, 0.0])
    numpy.testing.assert_allclose(ops.logloss(t, p), -numpy.log(numpy.array([0.9, 0.8]) + 1e-8),
                                  rtol=1e-7)


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_backprop_softmax_and_maxout_check_their_inputs(ops):
    with pytest.raises(ValueError, match="incompatible shapes"):
        ops.backprop_softmax(numpy.zeros((2, 3), "f"), numpy.zeros((2, 4), "f"))
    dY = numpy.ones((2, 2), "f")
    with pytest.raises(IndexError, match="outside"):
        ops.backprop_maxout(dY, numpy.array([[1, 0], [3, 1]], "i"), 3)
    with pytest.raises(IndexError, match="outside"):
        ops.backprop_maxout(dY, numpy.array([[1, 0], [-1, 1]], "i"), 3)
    with pytest.raises(ValueError, match="which has shape"):
        ops.backprop_maxout(dY, numpy.zeros((2,), "i"), 3)
    assert ops.backprop_maxout(dY.astype("f8"), numpy.zeros((2, 2), "i"), 3).dtype == "f8"


@pytest.mark.parametrize("ops", OPS, ids=IDS)
def test_flatten_unflatten_pad_gather_scatter(ops):
    seqs = [randn(2, 3), randn(0, 3), randn(4, 3)]
    flat = ops.flatten(seqs)
    numpy.testing.assert_array_equal(flat, numpy.concatenate(seqs))
    for pad in (0, 2):
        flat = ops.flatten(seqs, pad=pad, dtype="float64")
        assert flat.shape == (6 + 3 * pad, 3) and flat.dtype == "f8"
        back = ops.unflatten(flat, [2, 0, 4], pad=pad)
        for a, b in zip(back, seqs):
            numpy.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="'lengths'"):
        ops.unflatten(ops.flatten(seqs), [2, 0, 3])
    assert ops.flatten([]).shape == (0, 0) and ops.flatten([], ndim_if_empty=1).shape == (0,)
    padded = ops.pad([numpy.arange(1, 3), numpy.arange(1, 5)], round_to=3)
    numpy.testing.assert_array_equal(padded, [[1, 2, 0, 0, 0, 0], [1, 2, 3, 4, 0, 0]])
    assert [u.tolist() for u in ops.unpad(padded, [2, 4])] == [[1, 2], [1, 2, 3, 4]]
    with pytest.raises(ValueError, match="Rounding"):
        ops.pad([numpy.arange(3)], round_to=0)
    numpy.testing.assert_array_equal(ops.insert_into((2, 3), [numpy.ones(2), numpy.ones(3)]),
                                     [[1, 1, 0], [1, 1, 1]])
    table = numpy.arange(12, dtype="f").reshape(4, 3)
    idx = numpy.array([[0, 2], [3, 1], [0, 0]], dtype="uint32")
    numpy.testing.assert_array_equal(ops.gather_add(table, idx),
                                     table[idx.astype("i8")].astype("f8").sum(1))
    with pytest.raises(IndexError):
        ops.gather_add(table, numpy.array([[4, 0]], "i"))
    out = ops.scatter_add(numpy.zeros((3, 2), "f"), numpy.array([0, 2, 0]), numpy.ones((3, 2), "f"))
    numpy.testing.assert_array_equal(out, [[2, 2], [0, 0], [1, 1]])
    numpy.testing.assert_array_equal(ops.tile(numpy.array([1, 2]), 2), [1, 2, 1, 2])


def test_param_server_keys_increments_and_proxy():
    """thinc_fast.backends.ParamServer (Thinc 9's thinc.backends.ParamServer):
    grad_keys lists the parameters that have a gradient, in param order; the
    first inc_grad stores a copy, later ones add; a proxy holds the values."""
    from thinc_fast.backends import ParamServer

    a, b = numpy.ones(3, "f"), numpy.zeros(3, "f")
    server = ParamServer({(1, "W"): a, (2, "b"): b}, {(2, "b"): b, (3, "x"): b})
    assert server.param_keys == ((1, "W"), (2, "b"))
    assert server.grad_keys == ((2, "b"),)
    g = numpy.full(3, 2.0, "f")
    server.inc_grad(1, "W", g)
    server.inc_grad(1, "W", g)
    numpy.testing.assert_array_equal(server.get_grad(1, "W"), [4, 4, 4])
    numpy.testing.assert_array_equal(g, [2, 2, 2])  # the caller's array is untouched
    assert server.grad_keys == ((1, "W"), (2, "b"))
    assert server.has_param(1, "W") and not server.has_grad(9, "W")
    with pytest.raises(KeyError):
        server.get_param(9, "W")
    assert ParamServer().param_keys == () and ParamServer().grad_keys == ()

    class Remote:
        def __init__(self):
            self.calls = []

        def get_param(self, i, name):
            return numpy.full(2, float(i), "f")

        def __getattr__(self, method):
            return lambda *args: self.calls.append(method)

    remote = Remote()
    proxied = ParamServer(proxy=remote)
    numpy.testing.assert_array_equal(proxied.get_param(5, "W"), [5, 5])
    proxied.set_param(5, "W", a)
    proxied.set_grad(5, "W", a)
    proxied.inc_grad(5, "W", a)
    assert remote.calls == ["set_param", "set_grad", "inc_grad"]
    assert not proxied.has_grad(5, "W")  # the proxy holds the gradient
