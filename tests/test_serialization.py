"""Saving and loading without pickle: round trips, bad data, atomic writes, exact resume."""
import os
import subprocess
import sys
import textwrap

import numpy
import pytest
from configs import mlp_config

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

    CONFIG = """@CONFIG@"""
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
''').replace("@CONFIG@", mlp_config([16], dropout=0.2, optimizer={"L2": 0.001}, learn_rate={
    "@schedules": "warmup_linear.v1", "initial_rate": 0.01, "warmup_steps": 3, "total_steps": 40}))


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


# ------------------------------------------------------ attrs, refs, shims
def _identity(model, X, is_train):
    return X, lambda dY: dY


def test_attrs_round_trip_through_serialize_attr():
    from thinc_fast.api import premap_ids, remap_ids

    source = remap_ids({5: 1, 7: 2}, default=9)
    loaded = remap_ids({}).from_bytes(source.to_bytes())
    assert loaded.attrs["mapping_table"] == {5: 1, 7: 2}, "int keys stay ints"
    assert loaded.attrs["default"] == 9
    assert loaded.predict([5, 7, 3]).ravel().tolist() == [1, 2, 9]
    pre = premap_ids({3: 10, 4: 11}, default=-1)
    blank = premap_ids({}).from_bytes(pre.to_bytes())
    table = blank.attrs["mapping_table"]
    assert type(table) is type(pre.attrs["mapping_table"]) and dict(table.items()) == {3: 10, 4: 11}
    numpy.testing.assert_array_equal(blank.predict(numpy.array([4, 3, 0])).ravel(), [11, 10, -1])


def test_arrays_slices_tuples_and_numpy_scalars_round_trip():
    from thinc_fast.api import Model, array_getitem

    getter = array_getitem((slice(None), slice(1, None, 2)))
    with pytest.warns(UserWarning, match="holds a slice.*wrote thinc_fast's format instead"):
        data = getter.to_bytes()
    assert data[:2] == b"PK", "thinc_fast's npz format"
    loaded = array_getitem((0, 0)).from_bytes(data)
    assert loaded.attrs["index"] == (slice(None), slice(1, None, 2))
    X = numpy.arange(12, dtype="f").reshape(3, 4)
    numpy.testing.assert_array_equal(loaded.predict(X), X[:, 1::2])
    with pytest.raises(ValueError, match=r"attr 'index' of node 0 \('array-getitem'\) in Thinc's "
                                         "format.*slice"):
        getter.to_bytes(format="thinc")
    attrs = {"table": numpy.arange(6, dtype="i").reshape(2, 3), "scale": numpy.float32(0.5),
             "pair": (1, "a"), "nested": {"k": [1.5, None, True]}}
    node = Model("holder", _identity, attrs=attrs)
    blank = Model("holder", _identity, attrs={"pair": (0, "")})
    blank.from_bytes(node.to_bytes())
    numpy.testing.assert_array_equal(blank.attrs["table"], attrs["table"])
    assert blank.attrs["table"].dtype == numpy.int32 and blank.attrs["table"].flags.writeable
    assert blank.attrs["scale"] == 0.5
    assert blank.attrs["pair"] == (1, "a") and blank.attrs["nested"] == {"k": [1.5, None, True]}


def test_an_attr_that_cannot_be_serialized_raises_naming_node_and_attr():
    from thinc_fast.api import Model

    class Opaque:
        pass

    model = chain(Linear(2, 3), Model("holder", _identity, attrs={"thing": Opaque()}))
    for fmt in ("thinc_fast", "thinc"):
        with pytest.raises(ValueError, match=r"attr 'thing' of node 2 \('holder'\).*Opaque.*"
                                             "serialize_attr.register"):
            model.to_bytes(format=fmt)
    odd = numpy.array([object()], dtype=object)
    with pytest.raises(ValueError, match="attr 'odd' of node 0"):
        Model("holder", _identity, attrs={"odd": odd}).to_bytes()


def test_custom_serializers_are_used_in_both_formats():
    from thinc_fast.api import Model, deserialize_attr, serialize_attr

    class Vocab:
        def __init__(self, words):
            self.words = list(words)

    @serialize_attr.register(Vocab)
    def _(_, value, name, model):
        return "\n".join(value.words).encode("utf8")

    @deserialize_attr.register(Vocab)
    def _(_, value, name, model):
        return Vocab(value.decode("utf8").split("\n"))

    source = Model("holder", _identity, attrs={"vocab": Vocab(["a", "b"])})
    for fmt in ("thinc_fast", "thinc"):
        target = Model("holder", _identity, attrs={"vocab": Vocab([])})
        target.from_bytes(source.to_bytes(format=fmt))
        assert target.attrs["vocab"].words == ["a", "b"]


def test_code_attrs_are_recorded_and_required_not_stored():
    from thinc_fast.api import Model, resizable
    from thinc_fast.layers.resizable import resize_linear_weighted

    model = resizable(Linear(3, 4), resize_linear_weighted).initialize()
    data = model.to_bytes()
    fresh = resizable(Linear(3, 4), resize_linear_weighted).from_bytes(data)
    assert fresh.attrs["resize_layer"] is resize_linear_weighted
    numpy.testing.assert_array_equal(fresh.layers[0].get_param("W"), model.layers[0].get_param("W"))
    source = Model("holder", _identity, attrs={"fn": numpy.sum})
    target = Model("holder", _identity, attrs={"fn": None})
    with pytest.raises(ValueError, match=r"attr 'fn' of node 0 \('holder'\) is code"):
        target.from_bytes(source.to_bytes())
    assert target.attrs == {"fn": None}


def test_a_bad_attr_leaves_the_model_unchanged():
    from thinc_fast.api import Model

    source = chain(Linear(2, 3), Model("holder", _identity, attrs={"n": 1}))
    source.initialize()
    data = source.to_bytes(format="thinc_fast")
    from thinc_fast._io import pack, unpack

    # a well-formed, checksummed file whose attr payload is not msgpack any more
    header, arrays = unpack(data, kind="model", max_version=9)
    attr = arrays["attr:2:0"]
    arrays["attr:2:0"] = numpy.frombuffer(attr.tobytes()[:-1] + b"\xc1", dtype=numpy.uint8)
    target = chain(Linear(2, 3), Model("holder", _identity, attrs={"n": 0}))
    target.initialize()
    before = target.layers[0].get_param("W").copy()
    with pytest.raises(FormatError, match=r"attr 'n' of node 2 \('holder'\) cannot be decoded"):
        target.from_bytes(pack(header, arrays))
    assert target.layers[1].attrs["n"] == 0
    numpy.testing.assert_array_equal(target.layers[0].get_param("W"), before)


def test_refs_and_shims_are_stored():
    from thinc_fast.api import Model, Shim

    class BytesShim(Shim):
        def to_bytes(self):
            return self.cfg.get("data", b"")

        def from_bytes(self, data):
            self.cfg["data"] = data + b"!"
            return self

    inner = Model("inner", _identity)
    source = Model("outer", _identity, layers=[inner], refs={"hidden": inner, "none": None},
                   shims=[BytesShim(None, {"data": b"\x00state"})])
    data = source.to_bytes()
    target_inner = Model("inner", _identity)
    target = Model("outer", _identity, layers=[target_inner], shims=[BytesShim(None)])
    target.from_bytes(data)
    assert target.ref_names == ("hidden", "none") and target.get_ref("hidden") is target_inner
    assert target.shims[0].cfg["data"] == b"\x00state!"
    with pytest.raises(ValueError, match=r"node 0 \('outer'\) has 0 shims in the model but 1"):
        Model("outer", _identity, layers=[Model("inner", _identity)]).from_bytes(data)
    stray = Model("outer", _identity, refs={"x": Model("elsewhere", _identity)})
    with pytest.raises(ValueError, match=r"reference 'x' of node 0 \('outer'\) points to model "
                                         "'elsewhere', outside the tree"):
        stray.to_bytes()


def test_version_1_files_still_load():
    """What thinc_fast wrote before attrs went through serialize_attr: a JSON header
    holding the attrs JSON could hold, no refs, no shims."""
    from thinc_fast._io import pack

    model, X, _ = make()
    model.layers[1].attrs["note"] = "kept"
    nodes = model.walk()
    arrays, header_nodes = {}, []
    for i, node in enumerate(nodes):
        params = [n for n in node.param_names if node.has_param(n)]
        arrays.update({f"{i}:{n}": node.get_param(n) for n in params})
        attrs = {k: v for k, v in node.attrs.items() if isinstance(v, (bool, int, float, str))}
        header_nodes.append({"name": node.name, "dims": node.dims, "params": params,
                             "attrs": attrs})
    old = pack({"format": "thinc_fast.model", "version": 1, "nodes": header_nodes}, arrays)
    blank = chain(Relu(8), Maxout(5, nP=2), Softmax(init_W=glorot_uniform_init))
    blank.from_bytes(old)
    numpy.testing.assert_array_equal(blank.predict(X), model.predict(X))
    assert blank.layers[1].attrs["note"] == "kept"
    with pytest.raises(FormatError, match="version 3"):
        blank.from_bytes(pack({"format": "thinc_fast.model", "version": 3, "nodes": []}, {}))


@pytest.mark.parametrize("fmt", ["thinc", "thinc_fast"])
@pytest.mark.parametrize("layer", ["HashEmbed", "Embed", "Mish", "MultiSoftmax"])
def test_a_parameter_that_disagrees_with_its_own_dims_is_refused_uninitialised(fmt, layer):
    """The loader knew the shapes of the dense layers only: a HashEmbed whose E
    disagreed with its nV/nO loaded into an uninitialised model."""
    import msgpack

    from thinc_fast import api
    from thinc_fast._io import pack, unpack

    build = {"HashEmbed": lambda: api.HashEmbed(4, 50, seed=3),
             "Embed": lambda: api.Embed(4, 50),
             "Mish": lambda: api.Mish(4, 6),
             "MultiSoftmax": lambda: api.MultiSoftmax((2, 3), 6)}[layer]
    X = (numpy.arange(6, dtype="uint64") if layer in ("HashEmbed", "Embed")
         else numpy.ones((2, 6), dtype="f"))
    model = build().initialize(X=X)
    name = model.param_names[0]
    wrong = numpy.zeros(tuple(2 * n for n in model.get_param(name).shape), dtype="f")
    if fmt == "thinc":
        msg = msgpack.unpackb(model.to_bytes(format="thinc"), raw=False)
        msg["params"][0][name][b"shape"] = list(wrong.shape)
        msg["params"][0][name][b"data"] = wrong.tobytes()
        data = msgpack.packb(msg, use_bin_type=True)
    else:
        header, arrays = unpack(model.to_bytes(format="thinc_fast"), kind="model", max_version=9)
        arrays[f"0:{name}"] = wrong
        data = pack(header, arrays)
    blank = build()
    with pytest.raises(ValueError, match=f"parameter '{name}' of node 0"):
        blank.from_bytes(data)
    assert not blank.has_param(name), "nothing loaded"


@pytest.mark.parametrize("fmt", [None, "thinc", "thinc_fast"])
def test_a_large_table_loads_into_a_blank_model(fmt):
    """The hostile-file bounds first counted an attr's values against the
    blank model's own (empty) table: a 200,000-entry remap_ids table was
    refused. An attr may hold values in proportion to its own bytes."""
    from thinc_fast.api import remap_ids

    table = {i * 7: i for i in range(200_000)}
    data = remap_ids(table, default=3).to_bytes(format=fmt)
    loaded = remap_ids({}).from_bytes(data)
    assert loaded.attrs["mapping_table"] == table and loaded.attrs["default"] == 3


# ------------------------------------------------------------------- pickle
def _pickle_cases():
    import thinc_fast.api as api

    return {
        "Linear": lambda: api.Linear(3, 6), "Relu": lambda: api.Relu(3, 6, normalize=True),
        "Softmax": lambda: api.Softmax(3, 6), "Maxout": lambda: api.Maxout(3, 6, nP=2),
        "Mish": lambda: api.Mish(3, 6), "Gelu": lambda: api.Gelu(3, 6),
        "Swish": lambda: api.Swish(3, 6), "Dish": lambda: api.Dish(3, 6),
        "HardSwish": lambda: api.HardSwish(3, 6), "Sigmoid": lambda: api.Sigmoid(3, 6),
        "HardTanh": lambda: api.HardTanh(3, 6), "HardSwishMobilenet": lambda: api.HardSwishMobilenet(3, 6),
        "chain": lambda: api.chain(api.Relu(4, 6), api.Maxout(3, 4, nP=2), api.Softmax(2, 3)),
        "concatenate": lambda: api.concatenate(api.Relu(3, 6), api.Linear(2, 6)),
        "residual": lambda: api.residual(api.Relu(6, 6)),
        "clone": lambda: api.clone(api.Relu(6, 6), 2),
        "HashEmbed": lambda: api.chain(api.HashEmbed(5, 20, column=1), api.Relu(3, 5)),
        "Embed": lambda: api.chain(api.Embed(5, 20, column=1), api.Relu(3, 5)),
        "LSTM": lambda: api.with_padded(api.LSTM(4, 6)),
    }


@pytest.mark.parametrize("name", sorted(_pickle_cases()))
def test_initialized_models_pickle_and_predict_the_same(name):
    """pickle.dumps works on initialized models of every kind of layer (as in
    Thinc, whose init functions are partials of module functions), and the
    copy predicts the same."""
    import pickle

    model = _pickle_cases()[name]()
    rng = numpy.random.default_rng(0)
    if name in ("HashEmbed", "Embed"):
        X = rng.integers(0, 20, (7, 2)).astype("uint64")
    elif name == "LSTM":
        X = [rng.standard_normal((n, 6)).astype("float32") for n in (3, 1, 5)]
    else:
        X = rng.standard_normal((7, 6)).astype("float32")
    model.initialize(X=X)
    copy = pickle.loads(pickle.dumps(model))
    Y, Y2 = model.predict(X), copy.predict(X)
    for a, b in zip(Y if isinstance(Y, list) else [Y], Y2 if isinstance(Y2, list) else [Y2]):
        assert a.shape == b.shape and numpy.array_equal(a, b)
    # the copy trains on its own
    Yh, backprop = copy.begin_update(X)
    # (not all ones: a softmax output would not move)
    backprop([rng.standard_normal(y.shape).astype("float32") for y in Yh] if isinstance(Yh, list)
             else rng.standard_normal(Yh.shape).astype("float32"))
    copy.finish_update(Adam(0.1))
    after = copy.predict(X)
    changed = [not numpy.array_equal(a, b) for a, b in
               zip(after if isinstance(after, list) else [after], Y if isinstance(Y, list) else [Y])]
    assert any(changed)


def test_softmax_flag_has_thincs_name_and_old_files_still_load():
    """Softmax keeps Thinc's attr name, ``softmax_normalize`` (setting it
    switches normalisation off, as in Thinc); files thinc_fast wrote when
    the attr was called ``normalize_outputs`` load into it."""
    import io

    X = numpy.random.default_rng(2).standard_normal((5, 4)).astype("float32")
    model = Softmax(3, 4).initialize(X=X)
    model.get_param("W")[...] = numpy.arange(12, dtype="float32").reshape(3, 4) / 10
    assert model.attrs["softmax_normalize"] is True
    assert numpy.allclose(model.predict(X).sum(axis=1), 1.0)
    model.attrs["softmax_normalize"] = False
    logits = X @ model.get_param("W").T + model.get_param("b")
    assert numpy.allclose(model.predict(X), logits, atol=1e-6)

    # an old file: the same content with the old name in the header
    import json

    from thinc_fast._io import pack

    with numpy.load(io.BytesIO(model.to_bytes(format="thinc_fast"))) as npz:
        arrays = {name: npz[name] for name in npz.files}
    header = json.loads(bytes(arrays.pop("__header__")))
    header.pop("manifest")
    assert header["nodes"][0]["attrs"][0] == "softmax_normalize"
    header["nodes"][0]["attrs"][0] = "normalize_outputs"
    old = pack(header, arrays)
    fresh = Softmax(3, 4).initialize(X=X)
    fresh.from_bytes(old)
    assert fresh.attrs["softmax_normalize"] is False and "normalize_outputs" not in fresh.attrs
    assert numpy.allclose(fresh.predict(X), logits, atol=1e-6)


@pytest.mark.parametrize("fmt", ["thinc_fast", "thinc"])
def test_unserializable_attrs_are_left_out_and_keep_the_loaders_value(fmt):
    """As in Thinc: an attr wrapped in Unserializable is not saved (its value
    could be anything: a handle, a lock), and loading keeps the model's own."""
    import threading

    from thinc_fast.api import Model, Unserializable

    def forward(model, X, is_train):
        return X, lambda dY: dY

    saved = Model("holder", forward, attrs={"lock": Unserializable(threading.Lock()), "k": 3})
    data = saved.to_bytes(format=fmt)
    mine = Unserializable("mine")
    loaded = Model("holder", forward, attrs={"lock": mine, "k": 0}).from_bytes(data)
    assert loaded.attrs["lock"] is mine and loaded.attrs["k"] == 3


def test_shallow_copy_shares_the_arena():
    """copy.copy of a model shares its parameters and arena (pickle's arena
    handling must not make a shallow copy repack and take the views)."""
    import copy

    X = numpy.random.default_rng(5).standard_normal((4, 6)).astype("float32")
    model = chain(Relu(3, 6), Softmax(2, 3)).initialize(X=X)
    twin = copy.copy(model)
    assert twin.arena is model.arena
    Yh, backprop = twin.begin_update(X)
    backprop(numpy.random.default_rng(6).standard_normal(Yh.shape).astype("float32"))
    twin.finish_update(Adam(0.1))
    assert model.arena is twin.arena
    assert numpy.array_equal(model.predict(X), twin.predict(X))
