"""Thinc 9.1.1's public names exist in thinc_fast and behave as Thinc's.

The name checks compare against the installed Thinc (skipped without it, or
with a Thinc other than 9.1.x, whose surface differs); the behaviour checks
need no Thinc except where they compare numbers with it.
"""
from __future__ import annotations

import importlib
import os

import catalogue
import numpy
import pytest

from thinc_fast import api, util
from thinc_fast.config import Config, ConfigValidationError, registry

MODULES = [("thinc.api", "thinc_fast.api"), ("thinc.util", "thinc_fast.util"),
           ("thinc.config", "thinc_fast.config"), ("thinc.types", "thinc_fast.types"),
           ("thinc", "thinc_fast"), ("thinc.shims", "thinc_fast.shims")]


def _thinc_91():
    thinc = pytest.importorskip("thinc")
    if not thinc.__version__.startswith("9.1."):
        pytest.skip(f"the name list is Thinc 9.1's; Thinc {thinc.__version__} is installed")
    return thinc


@pytest.mark.parametrize("theirs,ours", MODULES)
def test_every_public_name_of_thinc_exists(theirs, ours):
    _thinc_91()
    pytest.importorskip(theirs)
    module = importlib.import_module(theirs)
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    mine = importlib.import_module(ours)
    missing = [name for name in names if not hasattr(mine, name)]
    assert missing == []


def test_unknown_function_is_a_registry_error_as_in_thinc():
    config = Config().from_str('[model]\n@layers = "Reluu.v1"\n')
    with pytest.raises(catalogue.RegistryError) as info:
        registry.resolve(config)
    # still thinc_fast's config error, naming the section and the closest names
    assert isinstance(info.value, ConfigValidationError)
    assert "model" in str(info.value) and "'Relu.v1'" in str(info.value)


def test_unknown_registry_is_a_value_error():
    with pytest.raises(ValueError, match="unknown registry 'nope'"):
        registry.resolve(Config().from_str('[model]\n@nope = "Relu.v1"\n'))


def test_config_names_from_confection():
    assert api.Config is Config
    from thinc_fast.config import VARIABLE_RE, Promise

    assert VARIABLE_RE.search("${a.b}") and not VARIABLE_RE.search("plain")
    assert isinstance(Promise, type)
    assert set(registry.ops.get_all()) >= {"NumpyOps", "CupyOps", "MPSOps", "AppleOps"}


def test_require_cpu_sets_the_cpu_backend():
    before = api.get_current_ops()
    try:
        with api.use_ops("base"):
            assert api.require_cpu() is True
            assert isinstance(api.get_current_ops(), api.NumpyOps)
    finally:
        api.set_current_ops(before)


def test_apple_and_mps_names_run_the_cpu_kernels():
    ops = api.get_ops("mps")
    assert isinstance(ops, api.MPSOps) and isinstance(ops, api.AppleOps)
    assert isinstance(ops, api.NumpyOps) and ops.name == "mps"
    X = numpy.arange(6, dtype="f").reshape(2, 3)
    numpy.testing.assert_allclose(ops.gemm(X, X, trans2=True), X @ X.T)


def test_gpu_only_calls_fail_clearly_without_a_gpu():
    if api.CupyOps is not None and util.has_cupy:
        pytest.skip("CuPy is installed")
    with pytest.raises(ValueError, match="No CUDA GPU"):
        api.set_active_gpu(0)
    with pytest.raises(ValueError, match="'pytorch', 'tensorflow'"):
        api.set_gpu_allocator("jax")
    with pytest.raises(NotImplementedError, match="TensorFlow"):
        api.set_gpu_allocator("tensorflow")


def test_data_validation_error_is_exported():
    assert api.DataValidationError is util.DataValidationError
    assert issubclass(api.DataValidationError, ValueError)


def test_copy_array_and_array_info():
    dst = numpy.zeros((2, 3), dtype="f")
    util.copy_array(dst, numpy.arange(6).reshape(2, 3))
    assert dst.dtype == numpy.float32 and dst[1, 2] == 5
    info = util.ArrayInfo.from_array(dst)
    info.check_consistency(numpy.ones((2, 3), dtype="f"))
    with pytest.raises(ValueError, match=r"Shape mismatch in backprop. Y: \(2, 3\), dY: \(3, 2\)"):
        info.check_consistency(numpy.ones((3, 2), dtype="f"))
    with pytest.raises(ValueError, match="Type mismatch in backprop"):
        info.check_consistency(numpy.ones((2, 3), dtype="f8"))


def test_make_tempfile_is_removed_after_the_block():
    with util.make_tempfile("w") as handle:
        handle.write("x")
        path = handle.name
        assert os.path.exists(path)
    assert not os.path.exists(path)


def test_with_nvtx_range_keeps_the_layer_and_its_results():
    X = numpy.random.default_rng(0).standard_normal((4, 3)).astype("f")
    plain = api.Relu(5, 3).initialize()
    marked = api.with_nvtx_range(api.Relu(5, 3).initialize(), "dense")
    marked.set_param("W", plain.get_param("W").copy())
    marked.set_param("b", plain.get_param("b").copy())
    Y1, bp1 = plain.begin_update(X)
    Y2, bp2 = marked.begin_update(X)
    numpy.testing.assert_array_equal(Y1, Y2)
    numpy.testing.assert_array_equal(bp1(Y1), bp2(Y2))
    assert marked.name == "relu"


def test_with_signpost_interval_names_the_missing_package():
    from thinc_fast import compat

    if compat.has_os_signpost:
        pytest.skip("os_signpost is installed")
    with pytest.raises(ValueError, match="os_signpost"):
        api.with_signpost_interval(api.Relu(2, 2), signposter=None)


def _cauchy_reference(W, X1, X2):
    return 1.0 / (1.0 + ((X1 - X2) ** 2 * W).sum(axis=1))


def test_cauchy_similarity_forward_and_backprop_against_float64():
    rng = numpy.random.default_rng(1)
    X1 = rng.standard_normal((5, 4)).astype("f")
    X2 = rng.standard_normal((5, 4)).astype("f")
    model = api.CauchySimilarity(4).initialize()
    numpy.testing.assert_array_equal(model.get_param("W"), numpy.ones(4, "f"))
    W = rng.uniform(0.5, 1.5, 4).astype("f")
    model.set_param("W", W)
    sim, backprop = model.begin_update((X1, X2))
    W64, A, B = W.astype("f8"), X1.astype("f8"), X2.astype("f8")
    numpy.testing.assert_allclose(sim, _cauchy_reference(W64, A, B), rtol=1e-6)
    d_sim = rng.standard_normal(5)
    dX1, dX2 = backprop(d_sim.astype("f"))
    eps = 1e-6
    num_dX1 = numpy.zeros_like(A)
    num_dW = numpy.zeros_like(W64)
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            up, down = A.copy(), A.copy()
            up[i, j] += eps
            down[i, j] -= eps
            num_dX1[i, j] = d_sim @ (_cauchy_reference(W64, up, B)
                                     - _cauchy_reference(W64, down, B)) / (2 * eps)
    for j in range(W64.size):
        up, down = W64.copy(), W64.copy()
        up[j] += eps
        down[j] -= eps
        num_dW[j] = d_sim @ (_cauchy_reference(up, A, B) - _cauchy_reference(down, A, B)) / (2 * eps)
    numpy.testing.assert_allclose(dX1, num_dX1, rtol=1e-4, atol=1e-6)
    numpy.testing.assert_allclose(dX2, -num_dX1, rtol=1e-4, atol=1e-6)
    numpy.testing.assert_allclose(model.get_grad("W"), num_dW, rtol=1e-4, atol=1e-6)


def test_cauchy_similarity_equals_thinc():
    thinc_api = pytest.importorskip("thinc.api")
    rng = numpy.random.default_rng(2)
    X = (rng.standard_normal((3, 6)).astype("f"), rng.standard_normal((3, 6)).astype("f"))
    ours = api.CauchySimilarity().initialize(X=X)
    theirs = thinc_api.CauchySimilarity().initialize(X=X)
    Y1, bp1 = ours.begin_update(X)
    Y2, bp2 = theirs.begin_update(X)
    numpy.testing.assert_allclose(Y1, Y2, rtol=1e-6)
    dY = rng.standard_normal(3).astype("f")
    for a, b in zip(bp1(dY), bp2(dY)):
        numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    numpy.testing.assert_allclose(ours.get_grad("W"), theirs.get_grad("W"), rtol=1e-5)


def test_util_has_thincs_framework_flags():
    for name in ("has_cupy", "has_torch", "has_tensorflow", "has_mxnet", "has_gpu",
                 "has_cupy_gpu", "has_torch_cuda_gpu", "has_torch_mps"):
        assert isinstance(getattr(util, name), bool), name
    assert util.has_tensorflow is False and util.has_mxnet is False
    with pytest.raises(AttributeError, match="has_nothing"):
        util.has_nothing


def test_fix_random_seed_seeds_torch_as_thinc_does():
    torch = pytest.importorskip("torch")
    api.fix_random_seed(7)
    first = torch.rand(4)
    api.fix_random_seed(7)
    assert torch.equal(torch.rand(4), first)


@pytest.mark.parametrize("build", [
    lambda a: a.chain(a.Relu(3, 4), a.Relu(2, 3)),
    lambda a: a.Relu(3, 4, dropout=0.1),
    lambda a: a.Maxout(3, 4, dropout=0.0),
    lambda a: a.clone(a.Relu(4, 4), 2),
    lambda a: a.chain(a.chain(a.Relu(3, 4), a.Relu(3, 3)), a.Linear(2, 3)),
], ids=["chain", "dropout", "maxout-dropout", "clone", "nested"])
def test_chain_initialized_without_data_draws_thincs_weights(build):
    """With every width given, ``initialize()`` (no sample data) under the
    same seed gives Thinc's weights: Thinc's chain initialises its layers
    twice then, and the second draw is the one kept. The weights are
    compared bit for bit; the outputs only to rounding, since the two
    libraries' gemms may run different kernels (on an AVX-512 CPU Thinc's
    blis runs skx, and thinc_fast a tiny product on haswell's small-product
    kernels: one unit in the last place apart at 5x4x3)."""
    thinc_api = pytest.importorskip("thinc.api")
    X = numpy.random.default_rng(4).random((5, 4), dtype="float32")
    outputs, weights = [], []
    for lib in (api, thinc_api):
        lib.fix_random_seed(0)
        model = build(lib)
        model.initialize()
        weights.append([(node.name, name, node.get_param(name).copy())
                        for node in model.walk() for name in node.param_names
                        if node.has_param(name)])
        outputs.append(model.predict(X))
    assert [w[:2] for w in weights[0]] == [w[:2] for w in weights[1]]
    assert weights[0], "no parameters compared"
    for (node, name, ours), (_, _, theirs) in zip(*weights):
        assert numpy.array_equal(ours, theirs), (node, name)
    numpy.testing.assert_allclose(outputs[0], outputs[1], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("N,D,period", [(5, 4, 10000), (7, 5, 100), (3, 1, 10), (0, 3, 10),
                                        (40, 64, 10000)])
def test_position_encode_equals_thinc(N, D, period):
    thinc_api = pytest.importorskip("thinc.api")
    ours = api.NumpyOps().position_encode(N, D, period)
    theirs = thinc_api.NumpyOps().position_encode(N, D, period)
    assert ours.shape == theirs.shape == (N, D) and ours.dtype == numpy.float32
    numpy.testing.assert_allclose(ours, theirs, rtol=0, atol=2e-7)
    # the formula, in float64, for the first pair of columns
    if N and D >= 2:
        pos = numpy.arange(N)
        numpy.testing.assert_allclose(ours[:, 0], numpy.sin(pos), atol=1e-6)
        numpy.testing.assert_allclose(ours[:, 1], numpy.cos(pos), atol=1e-6)
    out = numpy.empty((N, D), dtype="float32")
    assert api.NumpyOps().position_encode(N, D, period, out=out) is out
    with pytest.raises(ValueError, match="expected"):
        api.NumpyOps().position_encode(N, D + 1, period, out=out)


def test_thincs_util_and_model_helpers():
    from thinc_fast.model import empty_init

    model = api.Relu(2, 3)
    assert empty_init(model, 1, x=2) is model
    assert util.gpu_is_available() is bool(util.has_gpu)
    if util.has_torch:
        util.assert_pytorch_installed()
    for check in (util.assert_tensorflow_installed, util.assert_mxnet_installed):
        with pytest.raises(ImportError):
            check()


def test_can_from_bytes_and_disk_as_thinc(tmp_path):
    X = numpy.random.default_rng(1).random((4, 6), dtype="float32")
    model = api.chain(api.Relu(3, 6), api.Softmax(2, 3)).initialize(X=X)
    data = model.to_bytes()
    before = model.arena.params.copy()
    assert model.can_from_bytes(data)
    assert api.chain(api.Relu(3, 6), api.Softmax(2, 3)).can_from_bytes(data)  # not initialized
    assert not api.chain(api.Relu(4, 6), api.Softmax(2, 4)).initialize(X=X).can_from_bytes(data)
    assert not model.can_from_bytes(b"not a model")
    # strict: an attr this model holds would change
    logits = api.chain(api.Relu(3, 6), api.Softmax_v2(2, 3, normalize_outputs=False))
    logits.initialize(X=X)
    assert not logits.can_from_bytes(data) and logits.can_from_bytes(data, strict=False)
    assert numpy.array_equal(model.arena.params, before)  # checking loads nothing
    path = tmp_path / "model.bin"
    model.to_disk(path)
    assert model.can_from_disk(path) and model.can_from_disk(str(path))
    assert not model.can_from_disk(tmp_path) and not model.can_from_disk(tmp_path / "missing")


def test_optimizer_moments_are_thincs():
    """``optimizer.mom1`` / ``mom2`` (and ``last_seen``): Thinc's dicts of flat arrays keyed by
    (node id, param name), with Thinc's values after the same steps."""
    thinc_api = pytest.importorskip("thinc.api")
    X = numpy.linspace(-1, 1, 24, dtype="f").reshape(6, 4)
    got = {}
    for lib in (api, thinc_api):
        lib.fix_random_seed(0)
        model = lib.Relu(3, 4)
        model.initialize(X=X)
        opt = lib.Adam(0.01)
        for _ in range(2):
            Y, backprop = model.begin_update(X)
            backprop(Y - 0.5)
            model.finish_update(opt)
        got[lib] = ({name: opt.mom1[(model.id, name)] for name in ("W", "b")},
                    {name: opt.mom2[(model.id, name)] for name in ("W", "b")})
        assert set(opt.mom1) == {(model.id, "W"), (model.id, "b")}
        # Thinc makes `last_seen` and never writes it: an empty dict of ints
        assert dict(opt.last_seen) == {} and opt.last_seen[(model.id, "W")] == 0
    for ours, theirs in zip(got[api], got[thinc_api]):
        for name in ("W", "b"):
            assert ours[name].shape == theirs[name].shape and ours[name].ndim == 1
            numpy.testing.assert_allclose(ours[name], theirs[name], rtol=1e-5, atol=1e-7)
    assert api.SGD(0.1).mom1 == {}


def test_model_global_id_is_the_last_id_given():
    """Thinc's ``Model.global_id``: the counter node ids come from, one per node."""
    before = api.Model.global_id
    layer = api.Relu(2, 2)
    assert api.Model.global_id == layer.id > before
    assert layer.copy().id == api.Model.global_id


def test_schedule_names_are_thincs():
    """A built-in schedule's ``name`` is Thinc's ("warmup_linear"), not the
    registry's versioned one."""
    thinc_api = pytest.importorskip("thinc.api")
    for build in (lambda lib: lib.warmup_linear(0.1, 10, 100), lambda lib: lib.constant(0.1),
                  lambda lib: lib.cyclic_triangular(0.01, 0.1, 5),
                  lambda lib: lib.decaying(0.1, 1e-4), lambda lib: lib.compounding(1.0, 32.0, 1.001),
                  lambda lib: lib.slanted_triangular(0.1, 100),
                  lambda lib: lib.plateau(2, 0.5, lib.constant(0.1)),
                  lambda lib: lib.constant_then(0.1, 5, lib.constant(0.01))):
        assert build(api).name == build(thinc_api).name
