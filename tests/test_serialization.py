"""Saving and loading without pickle: round trips, bad data, atomic writes, exact resume."""
import os
import subprocess
import sys
import textwrap

import numpy
import pytest

from thinc_fast.api import (Adam, Linear, Maxout, Relu, Softmax, chain, glorot_uniform_init,
                            load_checkpoint, save_checkpoint, warmup_linear)
from thinc_fast._io import FormatError

rng = numpy.random.default_rng(9)


def make(width=6, hidden=8):
    X = rng.standard_normal((10, width)).astype("f")
    Y = numpy.eye(3, dtype="f")[rng.integers(0, 3, 10)]
    model = chain(Relu(hidden), Maxout(5, nP=2), Softmax(init_W=glorot_uniform_init))
    model.initialize(X=X, Y=Y)
    return model, X, Y


def train(model, X, Y, opt, steps=3):
    for _ in range(steps):
        Yh, backprop = model.begin_update(X)
        backprop(Yh - Y)
        model.finish_update(opt)
        opt.step_schedules()


def test_model_bytes_round_trip_into_fresh_and_uninitialized_models():
    model, X, Y = make()
    data = model.to_bytes()
    assert isinstance(data, bytes)
    fresh = make()[0]
    assert not numpy.array_equal(fresh.predict(X), model.predict(X))
    fresh.from_bytes(data)
    numpy.testing.assert_array_equal(fresh.predict(X), model.predict(X))
    blank = chain(Relu(8), Maxout(5, nP=2), Softmax(init_W=glorot_uniform_init))
    blank.from_bytes(data)
    assert blank.layers[0].get_dim("nI") == 6
    numpy.testing.assert_array_equal(blank.predict(X), model.predict(X))
    assert numpy.shares_memory(blank.layers[0].get_param("W"), blank.arena.params)


def test_model_disk_round_trip_is_atomic(tmp_path):
    model, X, _ = make()
    path = tmp_path / "sub" / "model.bin"
    model.to_disk(path)
    assert sorted(os.listdir(path.parent)) == ["model.bin"], "no temporary file is left behind"
    numpy.testing.assert_array_equal(make()[0].from_disk(path).predict(X), model.predict(X))


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    model, _, _ = make()
    path = tmp_path / "model.bin"
    model.to_disk(path)
    old = path.read_bytes()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        make()[0].to_disk(path)
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ["model.bin"]


@pytest.mark.parametrize("corrupt", [
    lambda b: b[: len(b) // 2],
    lambda b: b"\x00" * 100,
    lambda b: b"",
    lambda b: b[:30] + bytes(reversed(b[30:60])) + b[60:],
])
def test_corrupt_or_truncated_bytes_leave_the_model_unchanged(corrupt):
    model, X, _ = make()
    data = make()[0].to_bytes()
    before = model.predict(X)
    with pytest.raises(ValueError):
        model.from_bytes(corrupt(data))
    numpy.testing.assert_array_equal(model.predict(X), before)


def test_mismatched_model_is_rejected_and_unchanged():
    model, X, _ = make()
    before = model.predict(X)
    wider = make(hidden=9)[0]
    with pytest.raises(ValueError, match="nO.*8 in the model but 9|shape"):
        model.from_bytes(wider.to_bytes())
    with pytest.raises(ValueError, match="nodes"):
        model.from_bytes(Linear(3, 6).initialize().to_bytes())
    numpy.testing.assert_array_equal(model.predict(X), before)


def test_wrong_kind_of_file(tmp_path):
    model, _, _ = make()
    opt = Adam(0.01)
    with pytest.raises(FormatError, match="expected a thinc_fast model"):
        model.from_bytes(opt.to_bytes())
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(FormatError, match="corrupt or truncated"):
        model.from_disk(path)
    with pytest.raises(FileNotFoundError):
        model.from_disk(tmp_path / "missing.bin")


def test_optimizer_state_round_trip():
    model, X, Y = make()
    opt = Adam(warmup_linear(0.01, 2, 50))
    train(model, X, Y, opt, steps=4)
    twin_model = model.copy()
    twin_opt = Adam(warmup_linear(0.01, 2, 50))
    twin_opt.from_bytes(opt.to_bytes(model), twin_model)
    assert twin_opt.learn_rate == opt.learn_rate
    assert twin_opt.step == opt.step
    train(model, X, Y, opt, steps=3)
    train(twin_model, X, Y, twin_opt, steps=3)
    numpy.testing.assert_array_equal(twin_model.arena.params, model.arena.params)


def test_optimizer_state_mismatches_are_rejected():
    model, X, Y = make()
    opt = Adam(0.01)
    train(model, X, Y, opt)
    data = opt.to_bytes(model)
    with pytest.raises(ValueError, match="schedules"):
        Adam(warmup_linear(0.01, 2, 50)).from_bytes(data)
    with pytest.raises(ValueError, match="use_averages"):
        Adam(0.01, use_averages=False).from_bytes(data)
    other = make(hidden=9)[0]
    target = Adam(0.01)
    with pytest.raises(ValueError, match="shape"):
        target.from_bytes(data, other)
    assert target.nr_update == {}


def test_plain_generator_cannot_be_saved():
    def my_schedule():
        while True:
            yield 0.01

    opt = Adam(my_schedule())
    with pytest.raises(ValueError, match=r"'learn_rate' follows a plain Python iterator.*built-in"):
        opt.to_bytes()


RESUME_SCRIPT = textwrap.dedent('''
    import sys
    import numpy
    from thinc_fast.api import (Config, fix_random_seed, load_checkpoint, registry,
                                save_checkpoint, to_categorical)

    CONFIG = """
    [model]
    @layers = "chain.v1"

    [model.*.hidden]
    @layers = "Relu.v1"
    nO = 16
    dropout = 0.2

    [model.*.output]
    @layers = "Softmax.v1"

    [optimizer]
    @optimizers = "Adam.v1"
    L2 = 0.001

    [optimizer.learn_rate]
    @schedules = "warmup_linear.v1"
    initial_rate = 0.01
    warmup_steps = 3
    total_steps = 40
    """
    mode, ckpt, out, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    data_rng = numpy.random.RandomState(1)
    X = data_rng.standard_normal((200, 8)).astype("float32")
    Y = to_categorical(data_rng.randint(0, 3, 200), n_classes=3)
    fix_random_seed(0)
    resolved = registry.resolve(Config().from_str(CONFIG))
    model, optimizer = resolved["model"], resolved["optimizer"]
    model.initialize(X=X[:5], Y=Y[:5])
    if mode == "resume":
        load_checkpoint(ckpt, model, optimizer)
    for step in range(steps):
        idx = numpy.random.randint(0, len(X), 16)
        Yh, backprop = model.begin_update(X[idx])
        backprop(Yh - Y[idx])
        model.finish_update(optimizer)
        optimizer.step_schedules()
    if mode == "save":
        save_checkpoint(ckpt, model, optimizer)
    numpy.save(out, model.arena.params)
''')


def test_resume_in_a_fresh_process_is_bit_exact(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(RESUME_SCRIPT)
    ckpt = tmp_path / "ckpt.bin"

    def run(*args):
        subprocess.run([sys.executable, str(script), *map(str, args)], check=True,
                       cwd=tmp_path, timeout=300)

    run("full", ckpt, tmp_path / "full.npy", 20)
    run("save", ckpt, tmp_path / "half.npy", 10)
    run("resume", ckpt, tmp_path / "resumed.npy", 10)
    full = numpy.load(tmp_path / "full.npy")
    half = numpy.load(tmp_path / "half.npy")
    resumed = numpy.load(tmp_path / "resumed.npy")
    assert not numpy.array_equal(half, full)
    assert full.tobytes() == resumed.tobytes(), "resumed training must be bit-identical"


def test_checkpoint_refuses_a_mismatched_optimizer_and_keeps_the_model(tmp_path):
    model, X, Y = make()
    opt = Adam(0.01)
    train(model, X, Y, opt)
    path = tmp_path / "ckpt.bin"
    save_checkpoint(path, model, opt)
    other, _, _ = make()
    before = other.predict(X)
    with pytest.raises(ValueError, match="use_averages"):
        load_checkpoint(path, other, Adam(0.01, use_averages=False))
    numpy.testing.assert_array_equal(other.predict(X), before)
    assert load_checkpoint(path, other, Adam(0.01)) == {}
    numpy.testing.assert_array_equal(other.predict(X), model.predict(X))
