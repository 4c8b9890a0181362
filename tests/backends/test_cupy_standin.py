"""CupyOps on the CPU stand-in for CuPy (tests/cupy_standin; its docstring says
what it emulates and what it cannot catch).

1. The stand-in itself: it must catch the mistakes it claims to catch (a
   missing barrier, divergent barriers, writes outside arrays and shared
   memory, arguments of the wrong width or kind, launch shapes CUDA refuses,
   host arrays where device arrays belong).
2. Every kernel of kernels.cu launched directly with several grid and block
   shapes (their grid-stride loops must not depend on the shape) and thread
   orders, against NumPy. (The sequence kernels: tests/backends/test_seq_ops.py.)
3. Every CupyOps method on its kernel path and on its fallbacks (strided,
   float64, other ranks), with in-place outputs, errors, and a check that
   every kernel is launched by some method.
4. gemm: cuBLAS and matmul paths, alpha/beta, NaN in `out`, layouts.
5. The fused optimizer (Adam, SGD, RAdam; global and per-parameter clipping,
   L2, averages) over a model's arena, and Thinc's per-key call.
6. A few training steps of an MLP, a Maxout CNN tagger and the textcat model,
   on CupyOps and on NumpyOps from the same weights: equal to float tolerance.

The rest of the suite runs on the stand-in too: tests/backends/test_ops.py and
tests/backends/test_seq_ops.py (CupyOps behind host arrays), tests/backends/test_gpu.py.
"""
import math
import sys

import cupy_standin as standin  # loaded by conftest.py
import numpy
import pytest
from step_args import step_kw
from numpy.testing import assert_allclose

from thinc_fast.api import (SGD, Adam, Maxout, NumpyOps, RAdam, Relu, Softmax, chain,
                            fix_random_seed, use_ops)
from thinc_fast.backends._cuda import KERNEL_NAMES, cuda_source


CPU = NumpyOps()
rng = numpy.random.default_rng(7)


def randn(*shape, dtype="float32"):
    return rng.standard_normal(shape).astype(dtype)


@pytest.fixture
def cupy(cupy_standin):
    import cupy

    return cupy


@pytest.fixture
def ops(cupy_standin):
    from thinc_fast.backends.cupy_ops import CupyOps

    return CupyOps()


@pytest.fixture
def launches(ops, monkeypatch):
    """The names of the kernels CupyOps launches during the test, in order."""
    from thinc_fast.backends import cupy_ops

    seen = []
    real = cupy_ops.get_kernel

    def spy(name):
        seen.append(name)
        return real(name)

    monkeypatch.setattr(cupy_ops, "get_kernel", spy)
    return seen


# ================================================================ 1. the stand-in
TOY = r"""
extern "C" {
__global__ void block_sums(const float* x, float* out, long long n)
{
    __shared__ float buf[64];
    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    buf[threadIdx.x] = i < n ? x[i] : 0.0f;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s)
            buf[threadIdx.x] += buf[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0)
        out[blockIdx.x] = buf[0];
}

__global__ void neighbour_racy(float* out)
{
    __shared__ float buf[64];
    buf[threadIdx.x] = (float)threadIdx.x;
    out[threadIdx.x] = buf[(threadIdx.x + 1) % blockDim.x];  // no barrier before the read
}

__global__ void neighbour(float* out)
{
    __shared__ float buf[64];
    buf[threadIdx.x] = (float)threadIdx.x;
    __syncthreads();
    out[threadIdx.x] = buf[(threadIdx.x + 1) % blockDim.x];
}

__global__ void last_writer(float* out)
{
    out[0] = (float)(blockIdx.x * blockDim.x + threadIdx.x);  // a race between all threads
}

__global__ void divergent(float* out)
{
    if (threadIdx.x < 16)
        __syncthreads();
    out[threadIdx.x] = 1.0f;
}

__global__ void one_past_the_end(float* out, long long n)
{
    out[n] = 1.0f;
}

__global__ void shared_overflow(float* out)
{
    __shared__ float buf[32];
    buf[threadIdx.x + 1] = 1.0f;
    out[threadIdx.x] = 0.0f;
}

__global__ void dynamic_scratch(float* out)
{
    extern __shared__ float scratch[];
    scratch[threadIdx.x] = (float)threadIdx.x;
    __syncthreads();
    out[threadIdx.x] = scratch[blockDim.x - 1 - threadIdx.x];
}

__global__ void typed(float* out, const long long* idx, int n, double scale, unsigned char flag)
{
    for (int i = 0; i < n; ++i)
        out[i] = (float)(idx[i] * scale) + flag;
}
}

__global__ void mangled(float* out) { out[0] = 1.0f; }
"""


@pytest.fixture
def toy(cupy):
    module = cupy.RawModule(code=TOY, options=("--std=c++11",))
    return module.get_function


def test_barriers_hold_for_every_thread_order(cupy, cupy_standin, toy):
    x = cupy.asarray(numpy.arange(200, dtype="float32"))
    for order in ("forward", "reverse", "shuffle"):
        out = cupy.empty(4, dtype="float32")
        with cupy_standin.thread_order(order):
            toy("block_sums")((4,), (64,), (x, out, numpy.int64(200)))
        assert cupy.asnumpy(out).tolist() == [float(sum(range(a, min(a + 64, 200))))
                                              for a in range(0, 256, 64)]


@pytest.mark.standin_only
def test_a_missing_barrier_reads_garbage_and_the_order_changes_a_race(cupy, cupy_standin, toy):
    out = cupy.zeros(32, dtype="float32")
    toy("neighbour")((1,), (32,), (out,))
    assert cupy.asnumpy(out).tolist() == [float((t + 1) % 32) for t in range(32)]
    toy("neighbour_racy")((1,), (32,), (out,))
    assert numpy.isnan(cupy.asnumpy(out)[:31]).all(), "the neighbour's slot was not written yet"
    results = set()
    for order in ("forward", "reverse", "shuffle"):
        with cupy_standin.thread_order(order):
            toy("last_writer")((3,), (8,), (out,))
        results.add(float(out[0]))
    assert len(results) > 1, "the last writer depends on the order: a race shows up"


@pytest.mark.standin_only
def test_divergent_barrier_out_of_bounds_and_shared_overflow_are_errors(cupy, cupy_standin, toy):
    emulation_error = cupy_standin._emulator.EmulationError
    out = cupy.zeros(32, dtype="float32")
    with pytest.raises(emulation_error, match="divergent __syncthreads"):
        toy("divergent")((1,), (32,), (out,))
    with pytest.raises(emulation_error, match="wrote outside the array passed as out"):
        toy("one_past_the_end")((1,), (1,), (out, numpy.int64(32)))
    with pytest.raises(emulation_error, match="outside its __shared__ array buf"):
        toy("shared_overflow")((1,), (32,), (out,))
    toy("dynamic_scratch")((1,), (32,), (out,), shared_mem=32 * 4)
    assert cupy.asnumpy(out).tolist() == [float(31 - t) for t in range(32)]
    with pytest.raises(emulation_error, match="outside its dynamic shared memory"):
        toy("dynamic_scratch")((1,), (32,), (out,), shared_mem=16 * 4)


@pytest.mark.standin_only
def test_arguments_must_match_the_kernel_signature(cupy, cupy_standin, toy):
    emulation_error = cupy_standin._emulator.EmulationError
    kernel = toy("typed")
    out = cupy.zeros(3, dtype="float32")
    idx = cupy.asarray([1, 2, 3], dtype="int64")
    good = (out, idx, numpy.int32(3), 0.5, numpy.uint8(1))  # a Python float is a double
    kernel((1,), (1,), good)
    assert cupy.asnumpy(out).tolist() == [1.5, 2.0, 2.5]
    bad = [
        ((out, idx, 3, 0.5, numpy.uint8(1)), "Python int, which CuPy passes as int64"),
        ((out, idx, numpy.int32(3), numpy.float32(0.5), numpy.uint8(1)), "float32 value"),
        ((out.astype("float64"), idx, numpy.int32(3), 0.5, numpy.uint8(1)), "dtype float64"),
        ((out, idx.astype("int32"), numpy.int32(3), 0.5, numpy.uint8(1)), "dtype int32"),
        ((out, cupy.asnumpy(idx), numpy.int32(3), 0.5, numpy.uint8(1)), "numpy.ndarray"),
        ((cupy.zeros(6, "float32")[::2], idx, numpy.int32(3), 0.5, numpy.uint8(1)),
         "non-C-contiguous"),
        ((out, idx, numpy.int32(3), 0.5), "takes 5 arguments"),
        ((out, idx, out, 0.5, numpy.uint8(1)), "cupy.ndarray for a scalar"),
        ((numpy.int64(0), idx, numpy.int32(3), 0.5, numpy.uint8(1)), "for a pointer"),
    ]
    for args, message in bad:
        with pytest.raises((emulation_error, TypeError), match=message):
            kernel((1,), (1,), args)


def test_launch_configuration_is_checked_as_cuda_does(cupy, toy):
    out = cupy.zeros(32, dtype="float32")
    kernel = toy("neighbour")
    with pytest.raises(TypeError, match="expected tuple"):
        kernel([1], (32,), (out,))
    with pytest.raises(TypeError, match="expected tuple"):
        kernel((1,), 32, (out,))
    with pytest.raises(cupy.cuda.driver.CUDADriverError, match="INVALID_VALUE"):
        kernel((1,), (2048,), (out,))
    with pytest.raises(cupy.cuda.driver.CUDADriverError, match="INVALID_VALUE"):
        kernel((1,), (32, 32, 2), (out,))
    with pytest.raises(cupy.cuda.driver.CUDADriverError, match="INVALID_VALUE"):
        toy("dynamic_scratch")((1,), (32,), (out,), shared_mem=64 * 1024)
    kernel((0,), (32,), (out,))  # CuPy runs max(1, d) blocks
    with pytest.raises(cupy.cuda.driver.CUDADriverError, match="named symbol not found"):
        toy("mangled")  # (NVRTC mangles a name outside extern "C")
    with pytest.raises(cupy.cuda.driver.CUDADriverError, match="named symbol not found"):
        toy("no_such_kernel")


def test_device_arrays_keep_cupys_rules(cupy):
    host = randn(4, 3)
    dev = cupy.asarray(host)
    host[0, 0] = 9.0
    assert float(dev[0, 0]) != 9.0, "asarray copies host memory"
    assert type(dev).__module__ == "cupy" and dev.flags.c_contiguous
    with pytest.raises(TypeError, match="Implicit conversion"):
        numpy.asarray(dev)
    for mixed in (lambda: dev + host, lambda: host * dev, lambda: cupy.maximum(dev, host),
                  lambda: cupy.concatenate([dev, host]), lambda: numpy.exp(dev) + host):
        with pytest.raises(TypeError, match="Unsupported type"):
            mixed()
    assert bool(cupy.any(dev)) and cupy.all(dev).shape == () and cupy.abs(dev).shape == (4, 3)
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray"):
        dev[...] = host  # (still refused once cupy.any & co. are cached in the namespace)
    with pytest.raises(ValueError, match="non-scalar numpy.ndarray"):
        dev[1:3] = host[1:3]
    dev[numpy.arange(4)] = host  # advanced indexing takes host values, as CuPy
    assert numpy.array_equal(dev.get(), host)
    assert type(dev.sum()) is cupy.ndarray and dev.sum().shape == ()
    assert type(dev[0, 0]) is cupy.ndarray and type(numpy.exp(dev)) is cupy.ndarray
    if cupy.__version__.startswith("13."):  # the stand-in's names are CuPy 13.0's
        with pytest.raises(AttributeError, match="put_along_axis"):
            cupy.put_along_axis  # noqa: B018  (CuPy 14 added it; [cuda12x] allows 13)
    with pytest.raises(TypeError, match="incorrect type"):
        cupy.ascontiguousarray(host)
    with pytest.raises(ValueError, match="repeats"):
        cupy.repeat(dev, cupy.asarray([1, 1, 1, 1]), axis=0)
    if not standin.is_real():  # a GPU's empty() holds whatever was there
        assert numpy.isnan(cupy.empty(5, dtype="float32").get()).all(), "empty is garbage"
        assert (cupy.empty(3, dtype="int32").get() == -1).all()
    assert cupy.get_array_module(dev) is cupy and cupy.get_array_module(host) is numpy
    assert cupy.asnumpy(host) is host or numpy.array_equal(cupy.asnumpy(host), host)


def test_activation_is_undone():
    if standin.is_real():
        pytest.skip("checks the CPU stand-in itself (--cupy=real)")
    from thinc_fast import util
    from thinc_fast.backends import cupy_ops

    before = (sys.modules.get("cupy"), cupy_ops.cupy, util.cupy, cupy_ops.gpu_status())
    with standin.active() as fake:
        assert sys.modules["cupy"] is fake and cupy_ops.cupy is fake and util.cupy is fake
        assert cupy_ops.gpu_status() is None
        with standin.active():  # nested
            assert cupy_ops.cupy is fake
        assert cupy_ops.cupy is fake and standin.is_active()
    assert not standin.is_active()
    assert (sys.modules.get("cupy"), cupy_ops.cupy, util.cupy, cupy_ops.gpu_status()) == before


# ====================================================== 2. kernels, any launch shape
SHAPES = [((1,), (1,)), ((3,), (7,)), ((64,), (32,)), ((5000,), (256,))]


@pytest.fixture
def module(cupy):
    return cupy.RawModule(code=cuda_source(), options=("--std=c++11",))


@pytest.mark.parametrize("grid,block", SHAPES, ids=lambda s: str(s[0]))
def test_elementwise_kernels_with_any_launch_shape(cupy, module, grid, block):
    X, b = randn(37, 29), randn(29)
    dev = cupy.asarray
    L = numpy.int64
    Y = dev(X)
    module.get_function("thf_bias_add")(grid, block, (Y, dev(b), L(37), L(29)))
    assert_allclose(Y.get(), X + b, rtol=1e-6)
    Y = dev(X)
    module.get_function("thf_bias_relu")(grid, block, (Y, dev(b), L(37), L(29)))
    assert_allclose(Y.get(), numpy.maximum(X + b, 0), rtol=1e-6)
    dY = randn(37, 29)
    dX = cupy.empty_like(Y)
    module.get_function("thf_relu_backward")(grid, block, (dX, dev(dY), Y, L(Y.size)))
    assert_allclose(dX.get(), numpy.where(Y.get() > 0, dY, 0))
    out = dev(randn(29))
    expected = out.get() + X.sum(axis=0)
    module.get_function("thf_colsum_inc")(grid, block, (out, dev(X), L(37), L(29)))
    assert_allclose(out.get(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("grid,block", SHAPES, ids=lambda s: str(s[0]))
def test_optimizer_kernels_with_any_launch_shape(cupy, module, grid, block):
    n = 1003
    w, g, m, v, avg = randn(n), randn(n), randn(n) * 0.1, numpy.abs(randn(n)) * 0.1, randn(n)
    offsets = numpy.asarray([0, 10, 10, 500, n], dtype="int64")
    scales = numpy.asarray([0.5, 2.0, 1.0, 0.25], dtype="float32")
    f = numpy.float32
    hp = dict(lr_hat=0.01, beta1=0.9, beta2=0.999, eps=1e-8, l2_coupled=0.01, decay=1e-3,
              avg_rate=0.2)
    refs = [a.copy() for a in (w, g, m, v, avg)]
    CPU.adam_step(*refs, **step_kw(**hp, grad_scale=scales, segments=offsets))
    dw, dg, dm, dv, davg = (cupy.asarray(a) for a in (w, g, m, v, avg))
    module.get_function("thf_adam")(grid, block, (
        dw, dg, dm, dv, davg, numpy.int32(1), numpy.int64(n), cupy.asarray(scales),
        cupy.asarray(offsets), numpy.int32(4), f(0.01), f(0.01), f(0.9), f(0.999), f(1e-8),
        f(1e-3), f(0.2), numpy.int32(1)))
    for got, want in zip((dw, dg, dm, dv, davg), refs):
        assert_allclose(got.get(), want, rtol=1e-5, atol=1e-6)
    refs = [a.copy() for a in (w, g, avg)]
    CPU.sgd_step(*refs, **step_kw(learn_rate=0.1, grad_scale=scales, l2_coupled=0.01, decay=1e-3,
                                  avg_rate=0.2, segments=offsets))
    dw, dg, davg = (cupy.asarray(a) for a in (w, g, avg))
    module.get_function("thf_sgd")(grid, block, (
        dw, dg, davg, numpy.int32(1), numpy.int64(n), cupy.asarray(scales), cupy.asarray(offsets),
        numpy.int32(4), f(0.01), f(0.1), f(0.0), f(0.0), f(0.0), f(1e-3), f(0.2),
        numpy.int32(1)))
    for got, want in zip((dw, dg, davg), refs):
        assert_allclose(got.get(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("order", ["forward", "reverse", "shuffle"])
def test_reduction_kernels_for_every_block_size_and_order(cupy, cupy_standin, module, order):
    X = randn(9, 300) * 5
    e = numpy.exp(X.astype("f8") - X.max(axis=1, keepdims=True))
    want = e / e.sum(axis=1, keepdims=True)
    softmax = module.get_function("thf_softmax_rows")
    with cupy_standin.thread_order(order):
        for threads in (1, 2, 32, 256, 1024):
            for blocks in (1, 4, 9):
                Y = cupy.empty((9, 300), dtype="float32")
                softmax((blocks,), (threads,), (Y, cupy.asarray(X), numpy.int64(9),
                                                numpy.int64(300)), shared_mem=threads * 4)
                assert_allclose(Y.get(), want, rtol=1e-5, atol=1e-7)
        g, w = randn(20_011), randn(20_011)
        for blocks in (1, 7, 79):
            partial = cupy.zeros(blocks, dtype="float64")
            module.get_function("thf_sumsq")((blocks,), (256,), (
                cupy.asarray(g), cupy.asarray(w), numpy.float32(0.1), numpy.int64(g.size),
                partial))
            assert math.isclose(float(partial.sum()),
                                float(((g.astype("f8") + numpy.float32(0.1) * w) ** 2).sum()),
                                rel_tol=1e-6)


def test_every_kernel_is_exported_unmangled(module):
    for name in KERNEL_NAMES:
        assert module.get_function(name).name == name


# ============================================== 3. every CupyOps method, both paths
def _dev(cupy, *arrays):
    return [cupy.asarray(a) for a in arrays]


def test_elementwise_methods_launch_kernels_and_fall_back(cupy, ops, launches):
    X, b = randn(13, 33), randn(33)
    dX, db = _dev(cupy, X, b)
    Y = ops.bias_relu(dX, db)
    assert launches[-1] == "thf_bias_relu" and Y is not dX
    assert_allclose(Y.get(), CPU.bias_relu(X, b))
    assert ops.bias_add(dX, db, inplace=True) is dX and launches[-1] == "thf_bias_add"
    assert_allclose(dX.get(), X + b, rtol=1e-6)
    n = len(launches)
    big = cupy.asarray(randn(13, 66))
    strided = big[:, ::2]  # not contiguous: the reference path, same result
    assert_allclose(ops.bias_relu(strided, db).get(), CPU.bias_relu(big.get()[:, ::2], b))
    assert_allclose(ops.bias_add(dX.astype("float64"), db).get(), X + 2 * b, rtol=1e-6)
    assert len(launches) == n, "strided and float64 inputs take the reference path"
    with pytest.raises(ValueError, match="bias"):
        ops.bias_add(dX, db[:5])
    Yr = cupy.maximum(dX, 0)
    dY = cupy.asarray(randn(13, 33))
    got = ops.backprop_relu(dY, Yr)
    assert launches[-1] == "thf_relu_backward"
    assert_allclose(got.get(), numpy.where(Yr.get() > 0, dY.get(), 0))
    assert ops.backprop_relu(dY, Yr, inplace=True) is dY
    assert_allclose(ops.backprop_relu(dY[:, ::2], Yr[:, ::2]).get(), got.get()[:, ::2])
    S = ops.softmax(dX)
    assert launches[-1] == "thf_softmax_rows"
    assert_allclose(S.get(), CPU.softmax(dX.get()), rtol=1e-5, atol=1e-7)
    assert_allclose(ops.softmax(dX, temperature=2.0).get(), CPU.softmax(dX.get(), temperature=2.0),
                    rtol=1e-5, atol=1e-7)
    assert_allclose(ops.softmax(dX, axis=0).get(), CPU.softmax(dX.get(), axis=0), rtol=1e-5,
                    atol=1e-7)
    wide = cupy.asarray(randn(3, 5000))
    assert_allclose(ops.softmax(wide).get(), CPU.softmax(wide.get()), rtol=1e-5, atol=1e-9)
    S2 = dX.copy()
    assert ops.softmax(S2, inplace=True) is S2
    out = cupy.asarray(randn(33))
    want = out.get() + dX.get().sum(axis=0)
    assert ops.inc_col_sums(dX, out) is out and launches[-1] == "thf_colsum_inc"
    assert_allclose(out.get(), want, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="column sums"):
        ops.inc_col_sums(dX, cupy.zeros(5, "float32"))


def test_norms_and_fused_steps(cupy, ops, launches):
    g, w = randn(100_003), randn(100_003)
    dg, dw = _dev(cupy, g, w)
    assert math.isclose(ops.sum_of_squares(dg), CPU.sum_of_squares(g), rel_tol=1e-6)
    assert launches[-1] == "thf_sumsq"
    assert math.isclose(ops.sum_of_squares(dg, dw, 0.01), CPU.sum_of_squares(g, w, 0.01),
                        rel_tol=1e-6)
    assert math.isclose(ops.sum_of_squares(dg.astype("float64")), CPU.sum_of_squares(g),
                        rel_tol=1e-6)
    assert ops.sum_of_squares(cupy.zeros(0, "float32")) == 0.0
    bad = dg.copy()
    bad[77] = numpy.nan
    assert math.isnan(ops.sum_of_squares(bad))
    bounds = numpy.asarray([0, 3, 3, 50_000, 100_003])
    got = ops.segment_sum_of_squares(dg, dw, 0.01, bounds)
    assert_allclose(cupy.asnumpy(got), CPU.segment_sum_of_squares(g, w, 0.01, bounds), rtol=1e-6)
    # a NaN in one tensor (77 is in the third) leaves the others' norms alone, as on the CPU
    got = cupy.asnumpy(ops.segment_sum_of_squares(bad, None, 0.0, bounds))
    want = CPU.segment_sum_of_squares(cupy.asnumpy(bad), None, 0.0, bounds)
    assert numpy.isnan(got[2]) and numpy.isnan(want[2])
    assert_allclose(got[[0, 1, 3]], want[[0, 1, 3]], rtol=1e-6)
    m, v, avg = randn(100_003) * 0.1, numpy.abs(randn(100_003)) * 0.1, randn(100_003)
    hp = dict(lr_hat=0.01, beta1=0.9, beta2=0.999, eps=1e-8, l2_coupled=0.01, decay=1e-3,
              avg_rate=0.2, grad_scale=[0.5, 1.0, 2.0, 0.25], segments=bounds)
    for dtype, kernel in (("float32", "thf_adam"), ("float64", None)):
        host = [a.astype(dtype) for a in (w, g, m, v, avg)]
        dev = _dev(cupy, *host)
        CPU.adam_step(*host, **step_kw(**hp))
        n = len(launches)
        ops.adam_step(*dev, **step_kw(**hp))
        assert (launches[-1] == kernel) if kernel else len(launches) == n
        for got, want in zip(dev, host):
            assert_allclose(got.get(), want, rtol=1e-5, atol=1e-6)
        host = [a.astype(dtype) for a in (w, g, avg)]
        dev = _dev(cupy, *host)
        CPU.sgd_step(*host, **step_kw(learn_rate=0.1, grad_scale=0.5, l2_coupled=0.01, decay=1e-3,
                                      avg_rate=0.2))
        ops.sgd_step(*dev, **step_kw(learn_rate=0.1, grad_scale=0.5, l2_coupled=0.01, decay=1e-3,
                                     avg_rate=0.2))
        for got, want in zip(dev, host):
            assert_allclose(got.get(), want, rtol=1e-5, atol=1e-6)
    dw, dg, dm, dv = _dev(cupy, w, g, m, v)
    ops.adam_step(dw, dg, dm, dv, **step_kw(lr_hat=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
                                            use_denominator=False))
    w2, g2, m2, v2 = w.copy(), g.copy(), m.copy(), v.copy()
    CPU.adam_step(w2, g2, m2, v2, **step_kw(lr_hat=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
                                            use_denominator=False))
    assert_allclose(dw.get(), w2, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="grad_scale"):
        ops.adam_step(dw, dg, dm, dv, **step_kw(lr_hat=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
                                                grad_scale=[1.0, 1.0], segments=bounds))
    with pytest.raises(ValueError, match="grad_scale"):
        ops.sgd_step(dw, dg, **step_kw(learn_rate=0.1, grad_scale=[1.0], segments=[0, 10]))


def test_sequence_methods_take_kernel_and_reference_paths(cupy, ops, launches):
    lengths = numpy.asarray([3, 0, 5, 1, 4], dtype="int32")
    X = randn(13, 6)
    dX, dlen = _dev(cupy, X, lengths)
    for nW in (0, 1, 2):
        cols = ops.seq2col(dX, nW, lengths=dlen)
        assert launches[-1] == "thf_seq2col"
        assert_allclose(cols.get(), CPU.seq2col(X, nW, lengths=lengths))
        assert_allclose(ops.seq2col(dX, nW, lengths=lengths).get(), cols.get())  # host lengths
        back = ops.backprop_seq2col(cols, nW, lengths=dlen)
        assert launches[-1] == "thf_backprop_seq2col"
        assert_allclose(back.get(), CPU.backprop_seq2col(cols.get(), nW, lengths=lengths),
                        rtol=1e-6)
    assert_allclose(ops.seq2col(dX.astype("float64"), 1).get(), CPU.seq2col(X.astype("f8"), 1))
    for how in ("sum", "mean"):
        Y = getattr(ops, f"reduce_{how}")(dX, dlen)
        assert launches[-1] == "thf_reduce_sum"
        assert_allclose(Y.get(), getattr(CPU, f"reduce_{how}")(X, lengths), rtol=1e-6)
        d = getattr(ops, f"backprop_reduce_{how}")(Y, dlen)
        assert launches[-1] == "thf_backprop_reduce_sum"
        assert_allclose(d.get(), getattr(CPU, f"backprop_reduce_{how}")(Y.get(), lengths),
                        rtol=1e-6)
    full = numpy.asarray([3, 5, 1, 4], dtype="int32")
    maxes, which = ops.reduce_max(dX, cupy.asarray(full))
    assert launches[-1] == "thf_reduce_max" and which.dtype == "int32"
    m2, w2 = CPU.reduce_max(X, full)
    assert numpy.array_equal(maxes.get(), m2) and numpy.array_equal(which.get(), w2)
    d = ops.backprop_reduce_max(maxes, which, full)
    assert launches[-1] == "thf_backprop_reduce_max"
    assert numpy.array_equal(d.get(), CPU.backprop_reduce_max(m2, w2, full))
    with pytest.raises(IndexError):
        ops.backprop_reduce_max(maxes, which + 10, full)
    table = randn(50, 8)
    idx = rng.integers(0, 50, (20, 3)).astype("uint32")
    dt, di = _dev(cupy, table, idx)
    got = ops.gather_add(dt, di)
    assert launches[-1] == "thf_gather_add"
    assert_allclose(got.get(), CPU.gather_add(table, idx), rtol=1e-6)
    with pytest.raises(IndexError):
        ops.gather_add(dt, di + 50)
    values = randn(20, 3, 8)
    ref = CPU.scatter_add(table.copy(), idx, values)
    assert ops.scatter_add(dt, di, cupy.asarray(values)) is dt
    assert_allclose(dt.get(), ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(IndexError):
        ops.scatter_add(dt, di + 50, cupy.asarray(values))
    ids = numpy.asarray([0, 1, 42, 2 ** 63, 7], dtype="uint64")
    assert numpy.array_equal(ops.hash(cupy.asarray(ids), 5).get(), CPU.hash(ids, 5))
    assert launches[-1] == "thf_hash_u64"
    assert numpy.array_equal(ops.hash([3, 5, 2 ** 40], 1).get(), CPU.hash([3, 5, 2 ** 40], 1))
    assert ops.hash(cupy.zeros(0, "uint64"), 0).shape == (0, 4)


def test_maxout_and_other_inherited_methods_run_on_cupy_13(cupy, ops):
    X = randn(6, 4, 3)
    best, which = ops.maxout(cupy.asarray(X))
    assert numpy.array_equal(best.get(), X.max(axis=-1))
    dY = randn(6, 4)
    got = ops.backprop_maxout(cupy.asarray(dY), which, 3)
    assert numpy.array_equal(got.get(), CPU.backprop_maxout(dY, which.get(), 3))
    with pytest.raises(IndexError, match="outside"):
        ops.backprop_maxout(cupy.asarray(dY), which + 3, 3)
    mask = ops.get_dropout_mask((50, 40), 0.5)
    assert type(mask) is cupy.ndarray and set(numpy.unique(mask.get())) <= {0.0, 2.0}
    seqs = [cupy.asarray(randn(n, 3)) for n in (2, 5, 1)]
    padded = ops.list2padded(seqs)
    back = ops.padded2list(padded)
    assert all(numpy.array_equal(a.get(), b.get()) for a, b in zip(back, seqs))
    flat = ops.flatten(seqs, pad=1)
    assert [u.get().tolist() for u in ops.unflatten(flat, [2, 5, 1], pad=1)] == \
        [s.get().tolist() for s in seqs]
    assert numpy.array_equal(ops.ngrams(2, cupy.asarray([1, 2, 3], dtype="uint64")).get(),
                             CPU.ngrams(2, numpy.asarray([1, 2, 3], dtype="uint64")))


def test_construction_conversion_and_custom_kernels(cupy, ops):
    from thinc_fast.backends import _custom_kernels, get_array_ops
    from thinc_fast.backends.cupy_ops import CupyOps

    assert ops.device_type == "gpu" and ops.device_id == 0 and ops.xp is cupy
    assert CupyOps(cupy).xp is cupy, "Ops(module) form, as Ops(numpy)"
    with pytest.raises(ValueError, match="'device_type'"):
        CupyOps(numpy)
    X = randn(3, 4)
    dX = ops.asarray(X)
    assert type(dX) is cupy.ndarray and ops.asarray(dX) is dX
    assert ops.asarray(dX, dtype="float64").dtype == "float64"
    host = ops.to_numpy(dX, byte_order=">")
    assert isinstance(host, numpy.ndarray) and host.dtype.byteorder == ">"
    assert_allclose(host, X)
    assert isinstance(get_array_ops(dX), CupyOps)
    assert _custom_kernels.KERNELS is not None
    assert _custom_kernels.KERNELS.get_function("thf_adam").name == "thf_adam"
    assert _custom_kernels.compile_mmh() is not None
    with pytest.raises(KeyError, match="no CUDA kernel"):
        _custom_kernels.KERNELS.get_function("nope")


def test_every_kernel_is_launched_by_some_method(cupy, ops, launches):
    """The methods' kernel paths cover kernels.cu (and nothing launches a
    kernel that is not in KERNEL_NAMES)."""
    X, b = _dev(cupy, randn(4, 5), randn(5))
    lengths = cupy.asarray(numpy.asarray([1, 3], dtype="int32"))
    ops.bias_relu(X, b)
    ops.bias_add(X, b)
    ops.backprop_relu(X, X)
    ops.softmax(X)
    ops.inc_col_sums(X, cupy.zeros(5, "float32"))
    ops.sum_of_squares(X)
    w, g, m, v = (cupy.zeros(8, "float32") for _ in range(4))
    ops.adam_step(w, g, m, v, **step_kw(lr_hat=0.1, beta1=0.9, beta2=0.99, eps=1e-8))
    ops.sgd_step(w, g, **step_kw(learn_rate=0.1))
    ops.hash(cupy.asarray([1, 2], dtype="uint64"), 0)
    cols = ops.seq2col(X, 1, lengths=lengths)
    ops.backprop_seq2col(cols, 1, lengths=lengths)
    ops.gather_add(X, cupy.asarray([[0, 1]], dtype="int64"))
    ops.reduce_sum(X, lengths)
    ops.backprop_reduce_sum(X[:2], lengths)
    maxes, which = ops.reduce_max(X, lengths)
    ops.backprop_reduce_max(maxes, which, lengths)
    assert set(launches) == set(KERNEL_NAMES)


# ===================================================================== 4. gemm
@pytest.mark.parametrize("trans1", [False, True])
@pytest.mark.parametrize("trans2", [False, True])
def test_gemm_paths(cupy, ops, trans1, trans2):
    A = randn(9, 7) if trans1 else randn(7, 9)
    B = randn(5, 9) if trans2 else randn(9, 5)
    ref = (A.T if trans1 else A).astype("f8") @ (B.T if trans2 else B).astype("f8")
    dA, dB = _dev(cupy, A, B)
    assert_allclose(ops.gemm(dA, dB, trans1=trans1, trans2=trans2).get(), ref, rtol=1e-5,
                    atol=1e-5)
    C = randn(7, 5)
    dC = cupy.asarray(C)
    assert ops.gemm(dA, dB, out=dC, trans1=trans1, trans2=trans2, alpha=0.5, beta=1.0) is dC
    assert_allclose(dC.get(), 0.5 * ref + C, rtol=1e-5, atol=1e-5)
    # beta=0 must not read `out` (NaN there stays out), on every path: contiguous
    # (cuBLAS), strided, and float64 (matmul)
    for out in (cupy.full((7, 5), numpy.nan, dtype="float32"),
                cupy.full((7, 10), numpy.nan, dtype="float32")[:, ::2],
                cupy.full((7, 5), numpy.nan, dtype="float64")):
        got = ops.gemm(dA, dB, out=out, trans1=trans1, trans2=trans2, alpha=0.5, beta=0.0)
        assert got is out
        assert_allclose(out.get(), 0.5 * ref, rtol=1e-5, atol=1e-5)
    mixed = ops.gemm(dA.astype("float64"), dB, trans1=trans1, trans2=trans2, alpha=2.0,
                     out=cupy.zeros((7, 5), "float64"), beta=1.0)
    assert_allclose(mixed.get(), 2.0 * ref, rtol=1e-5, atol=1e-5)


def test_gemm_uses_cublas_without_anyone_importing_it(cupy, ops, monkeypatch):
    """CuPy's ``import cupy`` does not import cupy.cublas: CupyOps must."""
    monkeypatch.delitem(sys.modules, "cupy.cublas", raising=False)
    monkeypatch.delattr(cupy, "cublas", raising=False)
    calls = []
    A, B, C = _dev(cupy, randn(4, 3), randn(3, 2), randn(4, 2))
    ops.gemm(A, B, out=C, alpha=0.5, beta=1.0)
    cublas = sys.modules.get("cupy.cublas")
    assert cublas is not None, "the alpha/beta gemm did not reach cuBLAS"
    monkeypatch.setattr(cublas, "gemm", lambda *a, **k: calls.append(a) or k["out"])
    ops.gemm(A, B, out=C, alpha=0.5, beta=1.0)
    assert calls, "cupy.cublas.gemm was not called"


# ================================================================ 5. optimizers
def _mlp():
    return chain(Relu(16), Relu(12), Softmax())


def _run_mlp(ops_name, make_optimizer, steps, init=None, thinc_call=False):
    from thinc_fast.datasets import digits

    X, Y, _, _ = digits()
    with use_ops(ops_name) as ops:
        fix_random_seed(0)
        model = _mlp()
        model.initialize(X=ops.asarray(X[:5]), Y=ops.asarray(Y[:5]))
        if init is not None:
            model.arena.params[...] = ops.asarray(init)
        start = ops.to_numpy(model.arena.params).copy()
        optimizer = make_optimizer()
        for step in range(steps):
            rows = slice(step * 24, step * 24 + 24)
            Yh, backprop = model.begin_update(ops.asarray(X[rows]))
            backprop(Yh - ops.asarray(Y[rows]))
            if thinc_call:  # Thinc's per-parameter call
                for node in model.walk():
                    for name in node.param_names:
                        if node.has_param(name):
                            optimizer((node.id, name), node.get_param(name), node.get_grad(name))
            else:
                model.finish_update(optimizer)
        state = {}
        for owner, arena_state in optimizer._arena_states.items():
            state = {k: ops.to_numpy(v) for k, v in arena_state.arrays.items()}
        return start, ops.to_numpy(model.arena.params), state


OPTIMIZERS = {
    "adam": lambda: Adam(0.01),
    "adam-l2-clip-averages": lambda: Adam(0.01, L2=1e-3, grad_clip=0.05, use_averages=True),
    "adam-global-clip": lambda: Adam(0.01, grad_clip=0.05, grad_clip_mode="global"),
    "adamw-decoupled": lambda: Adam(0.01, L2=1e-2, L2_is_weight_decay=False),
    "radam-clip": lambda: RAdam(0.01, grad_clip=0.05),
    "sgd-clip-averages": lambda: SGD(0.05, grad_clip=0.05, use_averages=True),
    "sgd-l2-global": lambda: SGD(0.05, L2=1e-3, grad_clip=0.1, grad_clip_mode="global"),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_fused_optimizer_matches_numpy(cupy_standin, name):
    start, cpu, cpu_state = _run_mlp("numpy", OPTIMIZERS[name], steps=6)
    start2, gpu, gpu_state = _run_mlp("cupy", OPTIMIZERS[name], steps=6, init=start)
    assert not numpy.array_equal(start, cpu), "the steps changed the weights"
    assert_allclose(gpu, cpu, rtol=1e-4, atol=2e-6)
    assert sorted(gpu_state) == sorted(cpu_state)
    for key in cpu_state:
        assert_allclose(gpu_state[key], cpu_state[key], rtol=1e-4, atol=2e-6, err_msg=key)


def test_thincs_per_parameter_optimizer_call_matches_numpy(cupy_standin):
    make = lambda: Adam(0.01, grad_clip=0.05, use_averages=True)  # noqa: E731
    start, cpu, _ = _run_mlp("numpy", make, steps=4, thinc_call=True)
    _, gpu, _ = _run_mlp("cupy", make, steps=4, init=start, thinc_call=True)
    assert_allclose(gpu, cpu, rtol=1e-4, atol=2e-6)


def test_nonfinite_gradients_are_refused_on_the_gpu_too(cupy_standin):
    with use_ops("cupy") as ops:
        model = _mlp()
        model.initialize(X=ops.asarray(randn(4, 8)),
                         Y=ops.asarray(numpy.eye(3, dtype="f")[[0, 1, 2, 0]]))
        Yh, backprop = model.begin_update(ops.asarray(randn(4, 8)))
        backprop(Yh)
        before = ops.to_numpy(model.arena.params).copy()
        model.arena.grads[5] = numpy.nan
        for make in (lambda: Adam(0.01), lambda: Adam(0.01, grad_clip_mode="global"),
                     lambda: SGD(0.1, grad_clip=0.0)):
            with pytest.raises(FloatingPointError, match="NaN or inf"):
                model.finish_update(make())
        assert numpy.array_equal(ops.to_numpy(model.arena.params), before)


# ================================================================== 6. training
def _one_hot(labels, names):
    return numpy.eye(len(names), dtype="float32")[[names.index(x) for x in labels]]


def _train_both(build, X, Y, steps, batch, to_device, grad):
    """Train from the same weights on NumpyOps and on CupyOps; both arenas."""
    out = {}
    init = None
    for name in ("numpy", "cupy"):
        with use_ops(name) as ops:
            fix_random_seed(0)
            model = build()
            model.initialize(X=to_device(ops, X[:5]), Y=to_device(ops, Y[:5]))
            if init is None:
                init = ops.to_numpy(model.arena.params).copy()
            else:
                model.arena.params[...] = ops.asarray(init)
            # (Adam's m / sqrt(v) turns rounding differences in tiny gradients into
            # differences of up to the learning rate: 0.001 keeps them at float level)
            optimizer = Adam(0.001, grad_clip=1.0)
            for step in range(steps):
                lo = (step * batch) % (len(X) - batch)
                Xb, Yb = to_device(ops, X[lo:lo + batch]), to_device(ops, Y[lo:lo + batch])
                Yh, backprop = model.begin_update(Xb)
                backprop(grad(Yh, Yb))
                model.finish_update(optimizer)
            out[name] = (ops.to_numpy(model.arena.params),
                         model.predict(to_device(ops, X[:8])))
    assert not numpy.array_equal(init, out["numpy"][0])
    return out


def _host(ops_result):
    if isinstance(ops_result, list):
        return [_host(x) for x in ops_result]
    return ops_result if isinstance(ops_result, numpy.ndarray) else ops_result.get()


def test_mlp_training_steps_match_numpy(cupy_standin):
    from thinc_fast.datasets import digits

    X, Y, _, _ = digits()
    out = _train_both(lambda: chain(Relu(64), Relu(64), Softmax()), X, Y, steps=8, batch=32,
                      to_device=lambda ops, a: ops.asarray(a), grad=lambda Yh, Y: Yh - Y)
    assert_allclose(out["cupy"][0], out["numpy"][0], rtol=1e-4, atol=1e-5)
    assert_allclose(_host(out["cupy"][1]), out["numpy"][1], rtol=1e-4, atol=1e-5)


def test_maxout_cnn_tagger_training_steps_match_numpy(cupy_standin):
    from thinc_fast.config import Config, registry
    from thinc_fast.datasets.text import make_tagger_docs
    from thinc_fast.training.text_configs import TAGGER_CONFIG

    docs, tags = make_tagger_docs(80, n_tags=4, seed=1)
    names = sorted({t for ts in tags for t in ts})
    Y = [_one_hot(ts, names) for ts in tags]

    def build():
        return registry.resolve({"model": Config().from_str(TAGGER_CONFIG)["model"]})["model"]

    out = _train_both(build, docs, Y, steps=5, batch=16,
                      to_device=lambda ops, ys: ys if isinstance(ys[0], str) or
                      isinstance(ys[0], list) else [ops.asarray(y) for y in ys],
                      grad=lambda Yh, Y: [yh - y for yh, y in zip(Yh, Y)])
    assert_allclose(out["cupy"][0], out["numpy"][0], rtol=1e-4, atol=1e-5)
    for a, b in zip(_host(out["cupy"][1]), out["numpy"][1]):
        assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_textcat_training_steps_match_numpy(cupy_standin):
    from thinc_fast.config import Config, registry
    from thinc_fast.datasets.text import make_textcat_docs
    from thinc_fast.training.text_configs import TEXTCAT_CONFIG

    docs, labels = make_textcat_docs(80, n_classes=3, seed=2)
    Y = _one_hot(labels, sorted(set(labels)))

    def build():
        return registry.resolve({"model": Config().from_str(TEXTCAT_CONFIG)["model"]})["model"]

    out = _train_both(build, docs, Y, steps=5, batch=16,
                      to_device=lambda ops, a: a if isinstance(a, list) else ops.asarray(a),
                      grad=lambda Yh, Y: Yh - Y)
    assert_allclose(out["cupy"][0], out["numpy"][0], rtol=1e-4, atol=1e-5)
    assert_allclose(_host(out["cupy"][1]), out["numpy"][1], rtol=1e-4, atol=1e-5)


def test_a_maxout_layer_over_arrays_matches_numpy(cupy_standin):
    X = randn(40, 12)
    Y = numpy.eye(4, dtype="float32")[rng.integers(0, 4, 40)]
    out = _train_both(lambda: chain(Maxout(16, nP=3, normalize=True, dropout=0.0), Softmax()),
                      X, Y, steps=6, batch=8, to_device=lambda ops, a: ops.asarray(a),
                      grad=lambda Yh, Y: Yh - Y)
    assert_allclose(out["cupy"][0], out["numpy"][0], rtol=1e-4, atol=1e-5)


# ============================================================ 7. model-level paths
def test_gpu_selection_serialization_losses_and_batching(cupy_standin):
    from thinc_fast.api import (CategoricalCrossentropy, CosineDistance, L2Distance, Dropout,
                                get_current_ops, prefer_gpu, require_cpu, require_gpu,
                                to_categorical)
    from thinc_fast.backends.cupy_ops import CupyOps
    from thinc_fast.util import get_array_module, to_numpy

    import cupy

    assert require_gpu() is True and isinstance(get_current_ops(), CupyOps)
    try:
        ops = get_current_ops()
        X, Y = ops.asarray(randn(10, 8)), ops.asarray(numpy.eye(3, dtype="f")[numpy.arange(10) % 3])
        model = chain(Relu(16), Dropout(0.2), Softmax())
        model.initialize(X=X[:5], Y=Y[:5])
        optimizer = Adam(0.01, use_averages=True)
        Yh, backprop = model.begin_update(X)
        backprop(Yh - Y)
        model.finish_update(optimizer)
        before = model.predict(X).get()
        assert get_array_module(model.arena.params) is cupy
        assert isinstance(to_numpy(model.arena.params), numpy.ndarray)
        copy = chain(Relu(16), Dropout(0.2), Softmax()).from_bytes(model.to_bytes())
        assert_allclose(copy.predict(X).get(), before)
        assert len(optimizer.to_bytes(model)) > 0
        with model.use_params(optimizer.averages):
            assert type(model.predict(X)) is cupy.ndarray
        model.to_cpu()
        assert isinstance(model.arena.params, numpy.ndarray)
        assert_allclose(model.predict(X.get()), before, rtol=1e-6)
        model.to_gpu(0)
        assert type(model.arena.params) is cupy.ndarray
        for loss in (CategoricalCrossentropy(), L2Distance(), CosineDistance()):
            d, value = loss(model.predict(X), Y)
            assert type(d) is cupy.ndarray and math.isfinite(float(value))
        labels = cupy.asarray([0, 2, 1])
        assert type(to_categorical(labels, n_classes=3, label_smoothing=0.1)) is cupy.ndarray
        batches = list(ops.multibatch(4, X, Y, shuffle=True))
        assert len(batches) == 3 and all(type(b[0]) is cupy.ndarray for b in batches)
        assert prefer_gpu() is True
    finally:
        require_cpu()


def test_optimizer_state_loads_into_a_gpu_model(cupy_standin):
    """from_bytes wrote host state arrays into the device arrays with basic
    slicing, which CuPy refuses."""
    with use_ops("cupy") as ops:
        model = _mlp()
        X, Y = ops.asarray(randn(6, 8)), ops.asarray(numpy.eye(3, dtype="f")[[0, 1, 2] * 2])
        model.initialize(X=X, Y=Y)
        optimizer = Adam(0.01, use_averages=True)
        Yh, backprop = model.begin_update(X)
        backprop(Yh - Y)
        model.finish_update(optimizer)
        saved = optimizer.to_bytes(model)
        fresh = Adam(0.01, use_averages=True)
        fresh.from_bytes(saved, model)
        from thinc_fast._io import unpack

        (h1, a1), (h2, a2) = (unpack(data, kind="optimizer", max_version=9)
                              for data in (saved, fresh.to_bytes(model)))
        assert h1 == h2 and a1.keys() == a2.keys() and "averages" in a1
        for name in a1:  # the moments and averages came back, to the bit
            numpy.testing.assert_array_equal(a2[name], a1[name])
