"""PyTorch interop: PyTorchShim, the wrapper layers, the grad scaler, TorchScript.

Gradients are checked against central finite differences (float64 modules)
and against torch autograd run directly; optimizer updates of the torch
parameters against a float64 NumPy reference; serialization against real
Thinc 9.1.1 in both directions (skipped without Thinc).
"""
from __future__ import annotations

import copy
import os
import pathlib
import subprocess
import sys
import warnings

import numpy
import pytest

torch = pytest.importorskip("torch")

from thinc_fast.api import (SGD, Adam, ArgsKwargs, Model, MXNetShim, MXNetWrapper,  # noqa: E402
                            PyTorchGradScaler, PyTorchRNNWrapper, PyTorchShim, PyTorchWrapper,
                            PyTorchWrapper_v2, PyTorchWrapper_v3, Relu, TensorFlowShim,
                            TensorFlowWrapper, TorchScriptShim, TorchScriptWrapper_v1, chain,
                            get_current_ops, get_torch_default_device, keras_model_fns,
                            keras_subclass, maybe_handshake_model, mxnet2xp,
                            pytorch_to_torchscript_wrapper, registry, tensorflow2xp, xp2mxnet,
                            xp2tensorflow)
from thinc_fast.config import Config  # noqa: E402
from thinc_fast.model import Shim as ModelShim  # noqa: E402
from thinc_fast.shims import Shim  # noqa: E402
from thinc_fast.shims.pytorch import (default_deserialize_torch_model,  # noqa: E402
                                      default_serialize_torch_model)
from thinc_fast.shims.pytorch_grad_scaler import _unscale_loop, _update_loop  # noqa: E402
from thinc_fast._unsupported import UnsupportedFrameworkError  # noqa: E402


def _rand(*shape, dtype="float32", seed=0):
    return numpy.random.default_rng(seed).uniform(-1, 1, size=shape).astype(dtype)


def _linear(nI, nO, seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    return torch.nn.Linear(nI, nO, dtype=dtype)


def _torch_params(model):
    return {name: p.detach().numpy().copy() for name, p in model.shims[0]._model.named_parameters()}


# ------------------------------------------------------------------ imports
def test_importing_thinc_fast_does_not_import_torch(tmp_path):
    import thinc_fast

    code = ("import sys, thinc_fast, thinc_fast.api, thinc_fast.shims, thinc_fast.layers, "
            "thinc_fast.util\nprint('torch' in sys.modules, thinc_fast.__file__)")
    # the thinc_fast this test runs against (a checkout built in place, or an installed wheel)
    where = str(pathlib.Path(thinc_fast.__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=where + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", code], cwd=str(tmp_path), env=env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[0] == "False"


def test_shim_class_is_shared_and_registry_names_exist():
    assert ModelShim is Shim
    names = registry.layers.get_all()
    for name in ("PyTorchWrapper.v1", "PyTorchWrapper.v2", "PyTorchWrapper.v3",
                 "PyTorchRNNWrapper.v1", "TorchScriptWrapper.v1", "MXNetWrapper.v1"):
        assert name in names
    assert registry.layers.get("PyTorchWrapper.v3") is PyTorchWrapper_v3
    assert get_torch_default_device() == torch.device("cpu")


# ---------------------------------------------------------------- gradients
def test_gradients_match_finite_differences_float64(helpers):
    torch.manual_seed(1)
    module = torch.nn.Sequential(torch.nn.Linear(3, 5, dtype=torch.float64), torch.nn.Tanh(),
                                 torch.nn.Linear(5, 2, dtype=torch.float64))
    model = PyTorchWrapper(module)
    X = _rand(4, 3, dtype="float64", seed=2)
    R = _rand(4, 2, dtype="float64", seed=3)  # loss = sum(Y * R), so dL/dY = R

    def loss():
        return float((model.predict(X) * R).sum())

    Y, backprop = model.begin_update(X)
    assert Y.dtype == numpy.float64 and Y.shape == (4, 2)
    dX = backprop(R.copy())
    numpy.testing.assert_allclose(dX, helpers.finite_diff(loss, X), rtol=1e-6, atol=1e-8)
    for name, param in module.named_parameters():
        analytic = param.grad.numpy().copy()
        numeric = helpers.finite_diff(loss, param.data.numpy())
        numpy.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-8, err_msg=name)


class _TwoInputs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(4)
        self.a = torch.nn.Linear(3, 2)
        self.b = torch.nn.Linear(3, 2)

    def forward(self, x, y, z=None):
        out = self.a(x) * self.b(y)
        return out if z is None else out + z.sum()


@pytest.mark.parametrize("kind", ["list", "tuple", "dict", "argskwargs"])
def test_structured_inputs_match_torch_autograd(kind):
    x, y, z = _rand(2, 3, seed=5), _rand(2, 3, seed=6), _rand(2, 3, seed=7)
    data = {"list": [x, y], "tuple": (x, y), "dict": {"x": x, "y": y},
            "argskwargs": ArgsKwargs(args=(x, y), kwargs={"z": z})}[kind]
    module = _TwoInputs()
    reference = copy.deepcopy(module)
    model = PyTorchWrapper(module)
    dY = _rand(2, 2, seed=8)
    Y, backprop = model.begin_update(data)
    dX = backprop(dY)
    tx, ty, tz = (torch.tensor(v, requires_grad=True) for v in (x, y, z))
    kw = {"z": tz} if kind == "argskwargs" else {}
    ref_Y = reference(tx, ty, **kw)
    ref_Y.backward(torch.tensor(dY))
    numpy.testing.assert_allclose(Y, ref_Y.detach().numpy(), rtol=1e-6)
    if kind in ("list", "tuple"):
        assert isinstance(dX, tuple) and len(dX) == 2
        got = dX
    elif kind == "dict":
        assert list(dX) == ["x", "y"]
        got = (dX["x"], dX["y"])
    else:
        assert isinstance(dX, ArgsKwargs) and list(dX.kwargs) == ["z"]
        got = dX.args
        numpy.testing.assert_allclose(dX.kwargs["z"], tz.grad.numpy(), rtol=1e-6)
    numpy.testing.assert_allclose(got[0], tx.grad.numpy(), rtol=1e-6)
    numpy.testing.assert_allclose(got[1], ty.grad.numpy(), rtol=1e-6)
    for (name, p), (_, q) in zip(module.named_parameters(), reference.named_parameters()):
        numpy.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6, err_msg=name)


def test_predict_runs_in_eval_mode_without_autograd():
    module = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Dropout(0.5))
    model = PyTorchWrapper(module)
    X = _rand(50, 3)
    Y1, Y2 = model.predict(X), model.predict(X)
    numpy.testing.assert_array_equal(Y1, Y2)  # dropout off
    assert module.training  # back in train mode afterwards
    assert all(p.grad is None for p in module.parameters())


def test_gradients_accumulate_until_finish_update():
    module = _linear(3, 2)
    model = PyTorchWrapper(module)
    X, dY = _rand(4, 3), _rand(4, 2, seed=1)
    for _ in range(2):
        _, backprop = model.begin_update(X)
        backprop(dY.copy())
    numpy.testing.assert_allclose(module.weight.grad.numpy(), 2 * dY.T @ X, rtol=1e-5)
    model.finish_update(SGD(0.1, L2=0.0, grad_clip=0.0, use_averages=False))
    assert float(module.weight.grad.abs().sum()) == 0.0


def test_rnn_wrapper_matches_lstm():
    ops = get_current_ops()
    torch.manual_seed(9)
    lstm = torch.nn.LSTM(3, 4)
    reference = copy.deepcopy(lstm)
    model = PyTorchRNNWrapper(lstm)
    seqs = [_rand(5, 3, seed=1), _rand(3, 3, seed=2)]
    Xp = ops.list2padded(seqs)
    Yp, backprop = model.begin_update(Xp)
    assert Yp.data.shape == (5, 2, 4)
    numpy.testing.assert_array_equal(Yp.lengths, Xp.lengths)
    dYp = type(Yp)(_rand(5, 2, 4, seed=3), Yp.size_at_t, Yp.lengths, Yp.indices)
    dXp = backprop(dYp)
    tX = torch.tensor(Xp.data, requires_grad=True)
    ref_Y, _ = reference(tX, None)
    ref_Y.backward(torch.tensor(dYp.data))
    numpy.testing.assert_allclose(Yp.data, ref_Y.detach().numpy(), rtol=1e-5, atol=1e-7)
    numpy.testing.assert_allclose(dXp.data, tX.grad.numpy(), rtol=1e-5, atol=1e-7)
    numpy.testing.assert_array_equal(dXp.indices, Xp.indices)


# ----------------------------------------------------------------- training
def test_wrapper_in_chain_learns():
    ops = get_current_ops()
    rng = numpy.random.default_rng(0)
    X = rng.normal(size=(64, 4)).astype("float32")
    target = (X[:, :1] * 2 - X[:, 1:2] + 0.5 * numpy.abs(X[:, 2:3])).astype("float32")
    model = chain(Relu(16), PyTorchWrapper(_linear(16, 1)))
    model.initialize(X=X, Y=target)
    relu_W = model.layers[0].get_param("W").copy()
    optimizer = Adam(0.01)
    losses = []
    for _ in range(150):
        Y, backprop = model.begin_update(X)
        dY = (Y - target) / X.shape[0]
        losses.append(float(((Y - target) ** 2).mean()))
        backprop(dY)
        model.finish_update(optimizer)
    assert losses[-1] < 0.2 * losses[0]
    # the gradient reached the thinc_fast layer below the PyTorch one
    assert not numpy.allclose(model.layers[0].get_param("W"), relu_W)
    assert isinstance(model.predict(X), type(ops.alloc2f(1, 1)))


def _clip(g, clip):
    norm = numpy.sqrt((g * g).sum())
    return g * (clip / norm) if clip > 0 and norm >= clip else g


@pytest.mark.parametrize("algo", ["adam", "sgd"])
def test_optimizer_update_matches_float64_reference(algo):
    module = _linear(3, 4, seed=11)
    model = PyTorchWrapper(module)
    lr, clip = 0.05, 0.8
    if algo == "adam":
        optimizer = Adam(lr, L2=0.0, beta1=0.9, beta2=0.999, eps=1e-8, grad_clip=clip,
                         use_averages=False)
    else:
        optimizer = SGD(lr, L2=0.0, grad_clip=clip, use_averages=False)
    ref = {name: p.detach().numpy().astype("float64") for name, p in module.named_parameters()}
    mom1 = {name: numpy.zeros_like(v) for name, v in ref.items()}
    mom2 = {name: numpy.zeros_like(v) for name, v in ref.items()}
    shim_id = model.shims[0].id
    for t in range(1, 5):
        X, dY = _rand(5, 3, seed=20 + t), _rand(5, 4, seed=40 + t)
        _, backprop = model.begin_update(X)
        backprop(dY)
        # a Linear's gradients do not depend on its weights
        grads = {"weight": dY.astype("float64").T @ X.astype("float64"),
                 "bias": dY.astype("float64").sum(axis=0)}
        model.finish_update(optimizer)
        for name in ref:
            g = _clip(grads[name], clip)
            if algo == "adam":
                mom1[name] = 0.9 * mom1[name] + 0.1 * g
                mom2[name] = 0.999 * mom2[name] + 0.001 * g * g
                lr_hat = lr * numpy.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
                ref[name] -= lr_hat * mom1[name] / (numpy.sqrt(mom2[name]) + 1e-8)
            else:
                ref[name] -= lr * g
        for name, p in module.named_parameters():
            numpy.testing.assert_allclose(p.detach().numpy(), ref[name], rtol=1e-5, atol=1e-6,
                                          err_msg=f"{algo} step {t} {name}")
            assert float(p.grad.abs().sum()) == 0.0
    assert optimizer.nr_update[(shim_id, "weight")] == 4
    assert optimizer.nr_update[(shim_id, "bias")] == 4


def test_finish_update_skips_step_after_overflow():
    class Overflowing(PyTorchGradScaler):
        def unscale(self, tensors):
            self._found_inf = True
            return True

        def update(self):
            self.updates = getattr(self, "updates", 0) + 1
            self._found_inf = False

    scaler = Overflowing()
    module = _linear(3, 2)
    model = PyTorchWrapper_v2(module, grad_scaler=scaler)
    before = _torch_params(model)
    _, backprop = model.begin_update(_rand(4, 3))
    dX = backprop(_rand(4, 2, seed=1))
    numpy.testing.assert_array_equal(dX, numpy.zeros((4, 3), dtype="f"))
    model.finish_update(SGD(0.1))
    for name, value in _torch_params(model).items():
        numpy.testing.assert_array_equal(value, before[name])
    assert all(float(p.grad.abs().sum()) == 0.0 for p in module.parameters())
    assert scaler.updates == 1


def test_use_params_swaps_and_restores():
    module = _linear(3, 2)
    model = PyTorchWrapper(module)
    shim = model.shims[0]
    X = _rand(4, 3)
    Y0 = model.predict(X)
    params = {f"pytorch_{shim.id}_weight": numpy.zeros((2, 3), dtype="f"),
              f"pytorch_{shim.id}_bias": numpy.ones((2,), dtype="f"),
              (shim.id, "weight"): numpy.full((2, 3), 5.0, dtype="f")}  # ignored
    with model.use_params(params):
        numpy.testing.assert_array_equal(model.predict(X), numpy.ones((4, 2), dtype="f"))
    numpy.testing.assert_array_equal(model.predict(X), Y0)
    with model.use_params({}):
        numpy.testing.assert_array_equal(model.predict(X), Y0)


def test_copy_is_independent():
    model = PyTorchWrapper(_linear(3, 2))
    clone = model.copy()
    assert clone.shims[0]._model is not model.shims[0]._model
    with torch.no_grad():
        clone.shims[0]._model.weight.zero_()
    assert float(model.shims[0]._model.weight.detach().abs().sum()) > 0


# ------------------------------------------------------------ mixed precision
def test_grad_scaler_errors_and_noop():
    scaler = PyTorchGradScaler()
    t = torch.tensor([1.0])
    assert scaler.scale(t) is t and scaler.unscale([t]) is False
    scaler.update()
    enabled = PyTorchGradScaler(enabled=True)
    for bogus in ("bogus", 42, [3, t]):
        with pytest.raises(ValueError, match="Tensor or Iterable"):
            enabled.scale(bogus)
    with pytest.raises(ValueError, match="not supported|only supported for CUDA tensors"):
        enabled.scale([torch.tensor([1.0], device="cpu")])


def test_grad_scaler_unscale_and_update_cpu_state():
    scaler = PyTorchGradScaler(enabled=True, init_scale=8.0, growth_interval=2)
    grads = [torch.tensor([8.0, 16.0]), torch.tensor([float("inf")])]
    assert scaler.unscale(grads) and scaler.found_inf
    numpy.testing.assert_array_equal(grads[0].numpy(), [1.0, 2.0])
    scaler.update()
    assert float(scaler._scale) == 4.0 and not scaler.found_inf
    for _ in range(2):
        assert not scaler.unscale([torch.tensor([1.0])])
        scaler.update()
    assert float(scaler._scale) == 8.0 and int(scaler._growth_tracker) == 0


@pytest.mark.parametrize("overflow", [False, True])
def test_grad_scaler_fallbacks_match_fused_ops(overflow):
    values = [torch.tensor([2.0, -4.0]), torch.tensor([6.0, float("nan") if overflow else 1.0])]
    fused = [v.clone() for v in values]
    loop = [v.clone() for v in values]
    inv = torch.tensor([0.5])
    found_fused, found_loop = torch.zeros(1), torch.zeros(1)
    torch._amp_foreach_non_finite_check_and_unscale_(fused, found_fused, inv)
    _unscale_loop(torch, loop, found_loop, inv)
    assert float(found_fused) == float(found_loop) == float(overflow)
    for a, b in zip(fused, loop):
        numpy.testing.assert_array_equal(a.numpy(), b.numpy())
    for steps in (1, 3):
        s1, t1 = torch.full((1,), 4.0), torch.zeros(1, dtype=torch.int)
        s2, t2 = s1.clone(), t1.clone()
        for _ in range(steps):
            torch._amp_update_scale_(s1, t1, torch.full((1,), float(overflow)), 2.0, 0.5, 2)
            _update_loop(s2, t2, overflow, 2.0, 0.5, 2)
        assert float(s1) == float(s2) and int(t1) == int(t2)


def test_mixed_precision_on_cpu_raises_at_backprop():
    model = PyTorchWrapper_v2(_linear(3, 2), mixed_precision=True)
    assert model.shims[0]._grad_scaler._enabled
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "CUDA is not available ... Disabling autocast"
        Y, backprop = model.begin_update(_rand(4, 3))
    with pytest.raises(ValueError, match="not supported|only supported for CUDA tensors"):
        backprop(_rand(4, 2))


# ------------------------------------------------------------- serialization
def test_roundtrip_bytes_disk_and_formats(tmp_path):
    model = PyTorchWrapper(_linear(3, 4, seed=1))
    X = _rand(2, 3)
    Y = model.predict(X)
    for fmt in ("thinc_fast", "thinc"):
        data = model.to_bytes(format=fmt)
        other = PyTorchWrapper(_linear(3, 4, seed=2))
        assert not numpy.allclose(other.predict(X), Y)
        other.from_bytes(data)
        numpy.testing.assert_array_equal(other.predict(X), Y)
    model.to_disk(tmp_path / "model")
    loaded = PyTorchWrapper(_linear(3, 4, seed=3)).from_disk(tmp_path / "model")
    numpy.testing.assert_array_equal(loaded.predict(X), Y)


def test_custom_serde_is_used():
    calls = []

    def serialize(module):
        calls.append("save")
        return default_serialize_torch_model(module)

    def deserialize(module, data, device):
        calls.append(("load", device))
        return default_deserialize_torch_model(module, data, device)

    model = PyTorchWrapper_v3(_linear(2, 3), serialize_model=serialize,
                              deserialize_model=deserialize)
    model.from_bytes(model.to_bytes())
    assert calls == ["save", ("load", torch.device("cpu"))]


def test_shim_to_disk_accepts_paths(tmp_path):
    class PathSub(type(pathlib.Path())):
        pass

    class Fspath:
        def __init__(self, path):
            self.path = path

        def __fspath__(self):
            return str(self.path)

    shim = PyTorchWrapper(_linear(3, 2)).shims[0]
    target = PyTorchWrapper(_linear(3, 2, seed=5)).shims[0]
    for path in (str(tmp_path / "a"), tmp_path / "b", PathSub(tmp_path / "c"),
                 Fspath(tmp_path / "d")):
        shim.to_disk(path)
        assert target.from_disk(path) is target
        numpy.testing.assert_array_equal(target._model.weight.detach().numpy(),
                                         shim._model.weight.detach().numpy())


def test_torchscript_roundtrip_and_training():
    model = PyTorchWrapper_v2(_linear(3, 4))
    script = pytorch_to_torchscript_wrapper(model)
    assert script.name == "pytorch_script" and isinstance(script.shims[0], TorchScriptShim)
    X = _rand(5, 3)
    numpy.testing.assert_allclose(script.predict(X), model.predict(X), rtol=1e-6)
    loaded = TorchScriptWrapper_v1().from_bytes(script.to_bytes())
    numpy.testing.assert_allclose(loaded.predict(X), model.predict(X), rtol=1e-6)
    Y, backprop = loaded.begin_update(X)
    dX = backprop(numpy.ones_like(Y))
    assert dX.shape == X.shape
    before = _torch_params(loaded)["weight"]
    loaded.finish_update(SGD(0.1))
    assert not numpy.allclose(_torch_params(loaded)["weight"], before)
    with pytest.raises(ValueError, match="ScriptModule"):
        TorchScriptShim(torch.nn.Linear(2, 2))
    with pytest.raises(ValueError, match="PyTorchShim"):
        pytorch_to_torchscript_wrapper(Relu(2, 2))


# ------------------------------------------------------- against real Thinc
@pytest.fixture(scope="module")
def thinc_api():
    pytest.importorskip("thinc")
    return pytest.importorskip("thinc.api")


def test_thinc_loads_our_bytes_and_we_load_theirs(thinc_api):
    X = _rand(3, 3)
    ours = PyTorchWrapper(_linear(3, 4, seed=1))
    theirs = thinc_api.PyTorchWrapper(_linear(3, 4, seed=2))
    theirs.from_bytes(ours.to_bytes(format="thinc"))
    numpy.testing.assert_array_equal(theirs.predict(X), ours.predict(X))
    # and the other way: a Thinc model trained a step, loaded here
    Y, backprop = theirs.begin_update(X)
    backprop(numpy.ones_like(Y))
    theirs.finish_update(thinc_api.SGD(0.1))
    ours2 = PyTorchWrapper(_linear(3, 4, seed=3)).from_bytes(theirs.to_bytes())
    numpy.testing.assert_array_equal(ours2.predict(X), theirs.predict(X))
    # shim bytes alone, both ways
    shim_theirs = thinc_api.PyTorchWrapper(_linear(3, 4, seed=4)).shims[0]
    shim_theirs.from_bytes(ours.shims[0].to_bytes())
    numpy.testing.assert_array_equal(shim_theirs._model.weight.detach().numpy(),
                                     ours.shims[0]._model.weight.detach().numpy())
    shim_ours = PyTorchWrapper(_linear(3, 4, seed=5)).shims[0]
    shim_ours.from_bytes(theirs.shims[0].to_bytes())
    numpy.testing.assert_array_equal(shim_ours._model.bias.detach().numpy(),
                                     theirs.shims[0]._model.bias.detach().numpy())


def test_torchscript_bytes_cross_load_with_thinc(thinc_api):
    X = _rand(3, 3)
    ours = pytorch_to_torchscript_wrapper(PyTorchWrapper_v2(_linear(3, 2, seed=6)))
    theirs = thinc_api.TorchScriptWrapper_v1().from_bytes(ours.to_bytes(format="thinc"))
    numpy.testing.assert_allclose(theirs.predict(X), ours.predict(X), rtol=1e-6)
    back = TorchScriptWrapper_v1().from_bytes(theirs.to_bytes())
    numpy.testing.assert_allclose(back.predict(X), ours.predict(X), rtol=1e-6)


def test_training_steps_equal_thinc(thinc_api):
    """The same module trained the same way in Thinc and here ends equal."""
    module = _linear(3, 4, seed=7)
    ours = chain(Relu(3, 3), PyTorchWrapper(copy.deepcopy(module)))
    theirs = thinc_api.chain(thinc_api.Relu(3, 3), thinc_api.PyTorchWrapper(copy.deepcopy(module)))
    X = _rand(6, 3, seed=8)
    ours.initialize(X=X)
    theirs.initialize(X=X)
    for name in ("W", "b"):
        theirs.layers[0].set_param(name, ours.layers[0].get_param(name).copy())
    opt_ours = SGD(0.05, L2=0.0, grad_clip=1.0, use_averages=False)
    opt_theirs = thinc_api.SGD(0.05, L2=0.0, grad_clip=1.0, use_averages=False)
    for step in range(3):
        dY = _rand(6, 4, seed=30 + step)
        for model, opt in ((ours, opt_ours), (theirs, opt_theirs)):
            _, backprop = model.begin_update(X)
            backprop(dY.copy())
            model.finish_update(opt)
    numpy.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-5, atol=1e-6)
    numpy.testing.assert_allclose(ours.layers[0].get_param("W"), theirs.layers[0].get_param("W"),
                                  rtol=1e-5, atol=1e-6)


# ------------------------------------------------------ TensorFlow and MXNet
@pytest.mark.parametrize("framework,call", [
    ("TensorFlow", lambda: TensorFlowWrapper(object())),
    ("TensorFlow", lambda: keras_subclass("x", None, None, (1,))),
    ("TensorFlow", lambda: TensorFlowShim(object())),
    ("TensorFlow", lambda: maybe_handshake_model(object())),
    ("TensorFlow", lambda: keras_model_fns("name")),
    ("TensorFlow", lambda: keras_model_fns.get("name")),
    ("TensorFlow", lambda: tensorflow2xp(None)),
    ("TensorFlow", lambda: xp2tensorflow(numpy.zeros(2))),
    ("MXNet", lambda: MXNetWrapper(object())),
    ("MXNet", lambda: MXNetShim(object())),
    ("MXNet", lambda: mxnet2xp(None)),
    ("MXNet", lambda: xp2mxnet(numpy.zeros(2))),
    ("MXNet", lambda: registry.resolve(Config().from_str(
        '[model]\n@layers = "MXNetWrapper.v1"\nmxnet_model = null\n'))),
])
def test_tensorflow_and_mxnet_raise_a_clear_error(framework, call):
    with pytest.raises(ImportError) as info:
        call()
    error = info.value
    while not isinstance(error, UnsupportedFrameworkError) and error.__cause__ is not None:
        error = error.__cause__  # the config system may wrap it
    assert isinstance(error, UnsupportedFrameworkError)
    message = str(error)
    assert f"thinc_fast does not support {framework}" in message
    assert "PyTorchWrapper" in message and "thinc" in message
