"""The GPU backend. The GPU tests run twice: on a real GPU (they skip, with the
reason, without CuPy and a device) and on the CPU stand-in for CuPy
(tests/cupy_standin: kernels.cu compiled with g++, CuPy's host/device rules);
the CPU-side checks run everywhere: clear errors, kernels that compile."""
import shutil
import subprocess

import numpy
import pytest
from step_args import step_kw

from thinc_fast.api import Adam, NumpyOps, Relu, Softmax, chain, get_ops, prefer_gpu, require_gpu
from thinc_fast.backends._cuda import KERNEL_NAMES, cuda_source, cuda_source_path
from thinc_fast.backends.cupy_ops import GPUUnavailableError, gpu_status


NO_GPU = gpu_status()


def test_cuda_source_ships_and_defines_every_kernel():
    source = cuda_source()
    for name in KERNEL_NAMES:
        assert f"__global__ void {name}(" in source, name
    assert cuda_source_path().name == "kernels.cu"


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc is not installed")
def test_cuda_sources_compile_with_nvcc(tmp_path):
    result = subprocess.run(["nvcc", "-ptx", "-arch=sm_80", "-o", str(tmp_path / "k.ptx"),
                             str(cuda_source_path())], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    ptx = (tmp_path / "k.ptx").read_text()
    for name in KERNEL_NAMES:
        assert f".entry {name}(" in ptx, name


@pytest.mark.skipif(NO_GPU is None, reason="a GPU is present")
def test_without_a_gpu_asking_for_one_is_a_clear_error():
    assert prefer_gpu() is False
    with pytest.raises(GPUUnavailableError, match="CuPy|CUDA device"):
        require_gpu()
    ops = get_ops("cupy")  # as in Thinc, the object exists; using it says why it cannot run
    assert ops.name == "cupy"
    with pytest.raises(GPUUnavailableError, match="alloc2f.*(CuPy|CUDA device)"):
        ops.alloc2f(2, 2)


# ------------------------------------------------------------- on a GPU
@pytest.fixture
def gpu_ops(gpu):
    return get_ops("cupy")


def _pair(shape, seed=0):
    import cupy

    host = numpy.random.default_rng(seed).standard_normal(shape).astype("float32")
    return host, cupy.asarray(host)


def test_gpu_kernels_match_numpy(gpu_ops):
    import cupy

    cpu = NumpyOps()
    X, gX = _pair((37, 129))
    b, gb = _pair((129,), 1)
    numpy.testing.assert_allclose(cupy.asnumpy(gpu_ops.bias_relu(gX, gb)), cpu.bias_relu(X, b), rtol=1e-6)
    numpy.testing.assert_allclose(cupy.asnumpy(gpu_ops.bias_add(gX, gb)), cpu.bias_add(X, b), rtol=1e-6)
    numpy.testing.assert_allclose(cupy.asnumpy(gpu_ops.softmax(gX)), cpu.softmax(X), rtol=1e-5, atol=1e-7)
    Y = numpy.maximum(X, 0)
    numpy.testing.assert_array_equal(cupy.asnumpy(gpu_ops.backprop_relu(gX, cupy.asarray(Y))),
                                     cpu.backprop_relu(X, Y))
    out, gout = numpy.zeros(129, "f"), cupy.zeros(129, "f")
    numpy.testing.assert_allclose(cupy.asnumpy(gpu_ops.inc_col_sums(gX, gout)), cpu.inc_col_sums(X, out),
                                  rtol=1e-5, atol=1e-5)
    A, gA = _pair((64, 33), 2)
    B, gB = _pair((64, 17), 3)
    C, gC = _pair((33, 17), 4)
    ref = cpu.gemm(A, B, out=C.copy(), trans1=True, beta=1.0, alpha=0.5)
    numpy.testing.assert_allclose(cupy.asnumpy(gpu_ops.gemm(gA, gB, out=gC, trans1=True, beta=1.0, alpha=0.5)),
                                  ref, rtol=1e-4, atol=1e-4)
    g, gg = _pair((100_003,), 5)
    assert gpu_ops.sum_of_squares(gg) == pytest.approx(float((g.astype("f8") ** 2).sum()), rel=1e-5)
    w, gw = _pair((100_003,), 6)
    m, v, avg = numpy.zeros_like(w), numpy.zeros_like(w), numpy.zeros_like(w)
    gm, gv, gavg = cupy.zeros_like(gw), cupy.zeros_like(gw), cupy.zeros_like(gw)
    hp = dict(lr_hat=0.01, beta1=0.9, beta2=0.999, eps=1e-8, grad_scale=0.5, l2_coupled=0.01,
              decay=1e-3, avg_rate=0.2)
    cpu.adam_step(w, g, m, v, avg, **step_kw(**hp))
    gpu_ops.adam_step(gw, gg, gm, gv, gavg, **step_kw(**hp))
    numpy.testing.assert_allclose(cupy.asnumpy(gw), w, rtol=1e-5, atol=1e-6)
    numpy.testing.assert_allclose(cupy.asnumpy(gavg), avg, rtol=1e-5, atol=1e-6)
    assert not cupy.asnumpy(gg).any()


def _train(ops_name, steps=None, epochs=10):
    from thinc_fast.api import fix_random_seed, minibatch, use_ops
    from thinc_fast.datasets import digits

    train_X, train_Y, dev_X, dev_Y = digits()
    with use_ops(ops_name) as ops:
        fix_random_seed(0)
        model = chain(Relu(64), Relu(64), Softmax())
        X, Y = ops.asarray(train_X), ops.asarray(train_Y)
        model.initialize(X=X[:5], Y=Y[:5])
        if ops_name == "cupy":  # same starting point as the CPU run
            cpu_init = _train.cpu_init
            model.arena.params[...] = ops.asarray(cpu_init)
        else:
            _train.cpu_init = model.arena.params.copy()
        optimizer = Adam(0.001)
        done = 0
        for epoch in range(epochs):
            for idx in minibatch(numpy.arange(len(train_X)), size=32):
                Yh, backprop = model.begin_update(X[idx])
                backprop(Yh - Y[idx])
                model.finish_update(optimizer)
                done += 1
                if steps is not None and done == steps:
                    return ops.to_numpy(model.arena.params), None
        predictions = ops.to_numpy(model.predict(ops.asarray(dev_X)))
        return ops.to_numpy(model.arena.params), float((predictions.argmax(1) == dev_Y.argmax(1)).mean())


def test_cpu_and_gpu_agree_after_a_few_steps(gpu):
    cpu, _ = _train("numpy", steps=5)
    gpu, _ = _train("cupy", steps=5)
    numpy.testing.assert_allclose(gpu, cpu, rtol=1e-4, atol=1e-5)


def test_seed_loop_learns_digits_on_gpu(gpu):
    _train("numpy", steps=1)
    _, accuracy = _train("cupy")
    assert accuracy > 0.9
