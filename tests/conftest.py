"""Shared test helpers: float64 references and central finite differences; the
CPU stand-in for CuPy (tests/cupy_standin, loaded here as ``cupy_standin``)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Callable, Dict, Tuple

import numpy
import pytest

from thinc_fast.api import Model, fix_random_seed
from thinc_fast.backends import get_num_threads, set_num_threads


def _load_cupy_standin():
    """tests/cupy_standin as the module ``cupy_standin``: test modules can
    ``import cupy_standin`` (the suite runs with --import-mode=importlib, so
    the tests folder is not on sys.path)."""
    if "cupy_standin" not in sys.modules:
        folder = Path(__file__).resolve().parent / "cupy_standin"
        spec = importlib.util.spec_from_file_location(
            "cupy_standin", folder / "__init__.py", submodule_search_locations=[str(folder)])
        module = importlib.util.module_from_spec(spec)
        sys.modules["cupy_standin"] = module
        spec.loader.exec_module(module)
    return sys.modules["cupy_standin"]


cupy_standin_module = _load_cupy_standin()


def pytest_addoption(parser):
    parser.addoption("--cupy", choices=("standin", "real"), default="standin",
                     help="what the CuPy tests run on: the CPU stand-in (default) or, on a "
                          "machine with a GPU, the real CuPy (tools/gpu_check.sh uses this)")


def pytest_configure(config):
    config.addinivalue_line("markers", "standin_only: checks the CPU stand-in for CuPy itself "
                                       "(skipped with --cupy=real)")
    if config.getoption("--cupy", default="standin") == "real":
        from thinc_fast.backends.cupy_ops import gpu_status

        problem = gpu_status()
        if problem is not None:
            raise pytest.UsageError(f"--cupy=real needs CuPy and a GPU: {problem}")
        cupy_standin_module.use_real_cupy(True)


@pytest.fixture(autouse=True)
def _seed():
    fix_random_seed(0)


@pytest.fixture(params=["cuda", "cpu-standin"])
def gpu(request):
    """A real GPU (skips without one), or the CPU stand-in for CuPy."""
    if request.param == "cuda":
        from thinc_fast.backends.cupy_ops import gpu_status

        problem = gpu_status()
        if problem is not None:
            pytest.skip(f"no GPU: {problem}")
    elif request.getfixturevalue("cupy_standin").is_real():
        pytest.skip("--cupy=real: the 'cuda' run covers it")
    return request.param


@pytest.fixture
def cupy_standin(request):
    """The CPU stand-in for CuPy, active for the test (``import cupy`` gives it,
    ``CupyOps()`` runs on it); skips without a C++ compiler. With --cupy=real
    it is the real CuPy (tests marked standin_only skip)."""
    reason = cupy_standin_module.skip_reason()
    if reason is not None:
        pytest.skip(reason)
    if cupy_standin_module.is_real() and request.node.get_closest_marker("standin_only"):
        pytest.skip("checks the CPU stand-in itself (--cupy=real)")
    with cupy_standin_module.active():
        fix_random_seed(0)
        yield cupy_standin_module


@pytest.fixture(autouse=True)
def _cupy_standin_for_host_ops(request):
    """Tests parametrized with ``cupy_standin.HOST_OPS`` run with the stand-in active."""
    params = getattr(getattr(request.node, "callspec", None), "params", {})
    if not any(isinstance(v, cupy_standin_module.HostOps) for v in params.values()):
        yield
        return
    reason = cupy_standin_module.skip_reason()
    if reason is not None:
        pytest.skip(reason)
    with cupy_standin_module.active():
        fix_random_seed(0)
        yield


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    """Run the test with the kernels on 1 and on 2 threads. On 2, every loop and
    product big enough to split does split (adaptive_split=0: the measured
    choice could otherwise run one alone, and the test would not see the
    split it is about)."""
    from thinc_fast.backends.numpy_ops import gemm_options, set_gemm_options

    before, options = get_num_threads(), gemm_options()
    set_num_threads(request.param)
    set_gemm_options(adaptive_split=0)
    yield request.param
    set_gemm_options(**options)
    set_num_threads(before)


def model_params64(model: Model) -> Dict[Tuple[int, str], numpy.ndarray]:
    """Every allocated parameter as float64, keyed by (position in walk(), name)."""
    out = {}
    for i, node in enumerate(model.walk()):
        for name in node.param_names:
            if node.has_param(name):
                out[(i, name)] = node.get_param(name).astype("float64")
    return out


def model_grads(model: Model) -> Dict[Tuple[int, str], numpy.ndarray]:
    out = {}
    for i, node in enumerate(model.walk()):
        for name in node.param_names:
            if node.has_param(name):
                out[(i, name)] = node.get_grad(name).copy()
    return out


def finite_diff(loss: Callable[[], float], array: numpy.ndarray, eps: float = 1e-6) -> numpy.ndarray:
    """Central differences of `loss()` with respect to every entry of `array` (float64)."""
    grad = numpy.zeros_like(array)
    flat, gflat = array.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        up = loss()
        flat[i] = orig - eps
        down = loss()
        flat[i] = orig
        gflat[i] = (up - down) / (2 * eps)
    return grad


def check_layer_gradients(model: Model, X: numpy.ndarray, reference: Callable,
                          *, loss: str = "linear", targets=None, atol=2e-4, rtol=2e-3) -> None:
    """Compare the model's forward with `reference(params64, X64)` and its
    backprop with finite differences of the float64 reference.

    loss="linear": L = sum(Y * R) for a random R, so dY = R.
    loss="xent": L = -sum(T log Y) for one-hot targets T, so dlogits = Y - T
    (what Softmax's backprop takes).
    """
    params = model_params64(model)
    X64 = X.astype("float64")
    Y, backprop = model.begin_update(X.astype("float32"))
    Y_ref = reference(params, X64)
    numpy.testing.assert_allclose(Y, Y_ref, atol=1e-5, rtol=1e-4)
    if loss == "linear":
        R = numpy.random.default_rng(1).standard_normal(Y.shape)
        dY = R.astype("float32")

        def L() -> float:
            return float((reference(params, X64) * R).sum())
    else:
        T = targets.astype("float64")
        dY = (Y - targets).astype("float32")

        def L() -> float:
            return float(-(T * numpy.log(reference(params, X64))).sum())

    dX = backprop(dY)
    grads = model_grads(model)
    numpy.testing.assert_allclose(dX, finite_diff(L, X64), atol=atol, rtol=rtol)
    for key, value in params.items():
        numpy.testing.assert_allclose(grads[key], finite_diff(L, value), atol=atol, rtol=rtol,
                                      err_msg=f"gradient of {key}")


def relu64(x):
    return numpy.maximum(x, 0.0)


def softmax64(x):
    e = numpy.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def run_python(code: str, **kwargs):
    """``python -c code`` in a child, started in an empty temporary folder so
    that it imports the installed thinc_fast, never the source checkout (which
    holds no compiled extension in a fresh clone). Keyword arguments go to
    ``subprocess.run`` (``env``, ``timeout``, ``check``...); output is captured
    as text."""
    import subprocess
    import sys
    import tempfile

    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("timeout", 300)
    with tempfile.TemporaryDirectory() as folder:
        return subprocess.run([sys.executable, "-c", code], cwd=folder, **kwargs)


@pytest.fixture
def helpers():
    """The helper functions, for tests to call (tests import no local modules)."""
    class H:
        pass

    for fn in (model_params64, model_grads, finite_diff, check_layer_gradients, relu64, softmax64,
               run_python):
        setattr(H, fn.__name__, staticmethod(fn))
    return H
