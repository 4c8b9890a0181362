"""Thinc's model files, both ways: ``to_bytes(format="thinc")`` and ``from_bytes`` of
Thinc's msgpack. The round-trip and refusal tests need no Thinc; the cross-library
tests at the end run only where thinc is importable."""
import pickle
from types import SimpleNamespace

import msgpack
import numpy
import pytest

from thinc_fast._io import FormatError
from thinc_fast.api import (Dropout, LayerNorm, Linear, Maxout, Model, Relu, Softmax, chain,
                            clone, concatenate, residual)

rng = numpy.random.default_rng(12)
X = rng.uniform(-1, 1, (7, 5)).astype("f")

ARCHS = {
    "linear": lambda L: L.Linear(3),
    "mlp": lambda L: L.chain(L.Relu(6), L.Relu(6), L.Softmax(3)),
    "maxout_layernorm": lambda L: L.chain(L.Maxout(6, nP=3, normalize=True), L.LayerNorm(),
                                          L.Softmax(3)),
    "combinators": lambda L: L.chain(L.residual(L.Relu(5)), L.Dropout(0.2),
                                     L.concatenate(L.Linear(2), L.Linear(1)),
                                     L.clone(L.Linear(3), 2), L.Softmax(4)),
}


_Fast = SimpleNamespace(Dropout=Dropout, LayerNorm=LayerNorm, Linear=Linear, Maxout=Maxout,
                        Relu=Relu, Softmax=Softmax, chain=chain, clone=clone,
                        concatenate=concatenate, residual=residual)


def build(arch, lib=_Fast, init=True):
    model = ARCHS[arch](lib)
    if init:
        model.initialize(X=X)
        randomize(model)
    return model


def randomize(model):
    for node in model.walk():
        for name in node.param_names:
            if node.has_param(name):
                node.set_param(name, rng.standard_normal(node.get_param(name).shape).astype("f"))


def state(model):
    """Everything a load may change: dims, attrs and parameter values of every node."""
    return [(node.name, dict(node.dims), dict(node.attrs),
             {n: node.get_param(n).copy() for n in node.param_names if node.has_param(n)})
            for node in model.walk()]


def assert_same_state(a, b):
    assert len(a) == len(b)
    for (name1, dims1, attrs1, params1), (name2, dims2, attrs2, params2) in zip(a, b):
        assert (name1, dims1, attrs1) == (name2, dims2, attrs2)
        assert params1.keys() == params2.keys()
        for key in params1:
            numpy.testing.assert_array_equal(params1[key], params2[key])


def loads(data):
    return msgpack.unpackb(data, raw=False, strict_map_key=False)


def dumps(msg):
    return msgpack.packb(msg, use_bin_type=True)


# ------------------------------------------------------------- round trips
@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_thinc_format_round_trip(arch):
    model = build(arch)
    data = model.to_bytes(format="thinc")
    assert data[:1] == b"\x84", "a msgpack map of four entries, as Thinc writes"
    fresh = build(arch)
    assert not numpy.allclose(fresh.predict(X), model.predict(X))
    fresh.from_bytes(data)
    numpy.testing.assert_array_equal(fresh.predict(X), model.predict(X))
    blank = build(arch, init=False)
    blank.from_bytes(data)
    numpy.testing.assert_array_equal(blank.predict(X), model.predict(X))
    assert_same_state(state(blank), state(model))
    assert blank.to_bytes(format="thinc") == data, "re-encoding gives the same bytes"
    last = blank.walk()[-1]
    assert numpy.shares_memory(last.get_param(last.param_names[0]), blank.arena.params)


def test_default_format_is_thincs_layout_with_a_checksum_and_all_are_detected():
    model = build("mlp")
    default = model.to_bytes()
    plain = model.to_bytes(format="thinc")
    npz = model.to_bytes(format="thinc_fast")
    assert npz[:4] == b"PK\x03\x04"
    assert default[:1] == b"\x85" and plain[:1] == b"\x84", "a map of 5 entries, Thinc's has 4"
    msg = msgpack.unpackb(default, raw=False)
    assert list(msg)[:4] == ["nodes", "attrs", "params", "shims"]
    seal = msg["thinc_fast"]
    assert seal["format"] == "thinc_fast.seal" and len(seal["sha256"]) == 64
    assert msgpack.unpackb(plain, raw=False) == {k: msg[k] for k in list(msg)[:4]}
    for data in (default, plain, npz):
        numpy.testing.assert_array_equal(build("mlp").from_bytes(data).predict(X), model.predict(X))
    with pytest.raises(ValueError, match="unknown format 'pickle'"):
        model.to_bytes(format="pickle")


def _resealed(data, **changes):
    msg = msgpack.unpackb(data, raw=False)
    msg["thinc_fast"] = dict(msg["thinc_fast"], **changes)
    return msgpack.packb(msg, use_bin_type=True)


def test_the_checksum_refuses_changed_content_and_a_changed_seal():
    model = build("mlp")
    data = model.to_bytes()
    msg = msgpack.unpackb(data, raw=False)
    msg["params"][1]["b"][b"data"] = bytes(len(msg["params"][1]["b"][b"data"]))  # zeroed bias
    changed = msgpack.packb(msg, use_bin_type=True)
    target = build("mlp")
    before = state(target)
    with pytest.raises(FormatError, match="checksum of its content does not match"):
        target.from_bytes(changed)
    assert_same_state(state(target), before)
    with pytest.raises(FormatError, match="checksum of its content does not match"):
        build("mlp").from_bytes(_resealed(data, code_attrs=[["x"]] + [[]] * 3))
    with pytest.raises(FormatError, match="seal version 99.*upgrade thinc_fast"):
        build("mlp").from_bytes(_resealed(data, version=99))
    with pytest.raises(FormatError, match="malformed 'thinc_fast' entry"):
        build("mlp").from_bytes(_resealed(data, sha256=None))
    # with the seal removed, the changed content is plain Thinc bytes, loaded as such
    del msg["thinc_fast"]
    numpy.testing.assert_array_equal(
        build("mlp").from_bytes(msgpack.packb(msg, use_bin_type=True)).layers[0].get_param("b"),
        numpy.zeros(6, "f"))


def test_every_bit_flip_of_the_default_bytes_is_refused_or_changes_nothing():
    """One bit of every byte (the bit cycles with the position) of a Linear's
    default bytes, metadata and weights alike: each flip is refused with a
    FormatError (or ValueError naming the mismatch), or loads exactly the
    original parameters."""
    model = Linear(3, 5).initialize()
    data = model.to_bytes()
    W, b = model.get_param("W"), model.get_param("b")
    silent = []
    for i in range(len(data)):
        flipped = bytearray(data)
        flipped[i] ^= 1 << (i % 8)
        target = Linear(3, 5).initialize()
        try:
            target.from_bytes(bytes(flipped))
        except ValueError:
            continue
        if not (numpy.array_equal(target.get_param("W"), W) and
                numpy.array_equal(target.get_param("b"), b)):
            silent.append(i)
    assert silent == []


def test_code_attrs_are_required_from_the_default_bytes_too():
    from thinc_fast.api import resizable
    from thinc_fast.layers.resizable import resize_linear_weighted

    source = Model("holder", lambda m, X, t: (X, lambda d: d), attrs={"fn": numpy.sum, "n": 2})
    data = source.to_bytes()
    assert msgpack.unpackb(data, raw=False)["thinc_fast"]["code_attrs"] == [["fn"]]
    target = Model("holder", lambda m, X, t: (X, lambda d: d), attrs={"fn": None, "n": 0})
    with pytest.raises(ValueError, match=r"attr 'fn' of node 0 \('holder'\) is code"):
        target.from_bytes(data)
    assert target.attrs == {"fn": None, "n": 0}
    model = resizable(Linear(3, 4), resize_linear_weighted).initialize()
    fresh = resizable(Linear(3, 4), resize_linear_weighted).from_bytes(model.to_bytes())
    assert fresh.attrs["resize_layer"] is resize_linear_weighted


def test_disk_round_trip_in_thinc_format(tmp_path):
    model = build("maxout_layernorm")
    path = tmp_path / "sub" / "model.msgpack"
    model.to_disk(path, format="thinc")
    assert [p.name for p in path.parent.iterdir()] == ["model.msgpack"]
    assert path.read_bytes() == model.to_bytes(format="thinc")
    loaded = build("maxout_layernorm", init=False).from_disk(path)
    numpy.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_layout_is_thincs():
    model = chain(Relu(2), Dropout(0.1), Softmax(3, normalize_outputs=False))
    model.initialize(X=X)
    msg = loads(model.to_bytes(format="thinc"))
    assert list(msg) == ["nodes", "attrs", "params", "shims"]
    assert msg["nodes"][1] == {"index": 1, "name": "relu", "dims": {"nO": 2, "nI": 5}, "refs": {}}
    assert msg["shims"] == [[], [], [], []]
    # attrs are msgpack bytes each; Softmax's are under Thinc's names
    assert {k: loads(v) for k, v in msg["attrs"][3].items()} == \
        {"softmax_normalize": False, "softmax_temperature": 1.0}
    assert loads(msg["attrs"][2]["dropout_rate"]) == 0.1
    W = msg["params"][1]["W"]
    assert W == {b"nd": True, b"type": "<f4", b"kind": b"", b"shape": [2, 5],
                 b"data": model.layers[0].get_param("W").tobytes()}
    # and back: softmax_normalize=False survives the trip
    blank = chain(Relu(2), Dropout(0.5), Softmax(3))
    blank.from_bytes(model.to_bytes(format="thinc"))
    assert blank.layers[2].attrs["softmax_normalize"] is False
    assert blank.layers[1].attrs["dropout_rate"] == 0.1


def test_softmax_temperature_round_trips():
    from thinc_fast.api import Softmax_v2

    model = chain(Relu(6), Softmax_v2(3, temperature=0.5)).initialize(X=X)
    randomize(model)
    data = model.to_bytes(format="thinc")
    assert loads(loads(data)["attrs"][2]["softmax_temperature"]) == 0.5
    blank = chain(Relu(6), Softmax(3)).from_bytes(data)
    assert blank.layers[1].attrs["softmax_temperature"] == 0.5
    numpy.testing.assert_array_equal(blank.predict(X), model.predict(X))
    assert not numpy.allclose(chain(Relu(6), Softmax(3)).from_bytes(data).predict(X),
                              build_plain(model).predict(X))


def build_plain(model):
    """`model` with temperature 1 (the same weights)."""
    plain = chain(Relu(6), Softmax(3)).from_bytes(model.to_bytes())
    plain.layers[1].attrs["softmax_temperature"] = 1.0
    return plain


def test_unset_params_and_dims_are_written_as_none_and_skipped_on_load():
    data = Linear(3).to_bytes(format="thinc")
    msg = loads(data)
    assert msg["nodes"][0]["dims"] == {"nO": 3, "nI": None}
    assert msg["params"][0] == {"W": None, "b": None}
    model = build("linear")
    before = state(model)
    model.from_bytes(data)
    assert_same_state(state(model), before)


def test_float64_params_are_loaded_as_float32():
    model = build("linear")
    msg = loads(model.to_bytes(format="thinc"))
    W = model.get_param("W").astype("<f8")
    msg["params"][0]["W"] = {b"nd": True, b"type": "<f8", b"kind": b"", b"shape": list(W.shape),
                             b"data": W.tobytes()}
    target = build("linear").from_bytes(dumps(msg))
    assert target.get_param("W").dtype == numpy.float32
    numpy.testing.assert_array_equal(target.get_param("W"), model.get_param("W"))


# ---------------------------------------------------------------- refusals
def _assert_refused(target, data, error, match):
    before = state(target)
    with pytest.raises(error, match=match):
        target.from_bytes(data)
    assert_same_state(state(target), before)


@pytest.mark.parametrize("init", [True, False])
def test_truncated_bytes_are_refused_and_the_model_is_unchanged(init):
    data = build("mlp").to_bytes(format="thinc")
    target = build("mlp", init=init)
    before = state(target)
    for cut in list(range(1, 64)) + list(range(64, len(data), 37)):
        with pytest.raises(FormatError, match="corrupt or truncated|not a valid Thinc model"):
            target.from_bytes(data[:cut])
    with pytest.raises(FormatError, match="corrupt or truncated"):
        target.from_bytes(data + b"\x00")
    assert_same_state(state(target), before)


def _mutations():
    """(name, function msg -> msg, error, match) for a chain(Relu(6), Relu(6), Softmax(3))."""
    def param(i, name, **changes):
        def edit(msg):
            msg["params"][i][name].update({k.encode(): v for k, v in changes.items()})
        return edit

    def setter(path, value):
        def edit(msg):
            where = msg
            for key in path[:-1]:
                where = where[key]
            where[path[-1]] = value
        return edit

    evil = pickle.dumps(print)
    return [
        ("object dtype", param(1, "W", type="|O", shape=[1], data=evil), FormatError, "dtype '|O'"),
        ("structured", param(1, "W", type="|V8", kind=b"V", data=b"\0" * 240), FormatError, "dtype"),
        ("big-endian", param(1, "W", type=">f4"), FormatError, "dtype '>f4'"),
        ("shape vs bytes", param(1, "W", shape=[6, 6]), FormatError,
         r"declares shape \(6, 6\) of <f4 \(144 bytes\) but holds 120 bytes"),
        ("huge shape", param(1, "W", shape=[2 ** 40, 2 ** 40]), FormatError, "declares shape"),
        ("negative shape", param(1, "W", shape=[-6, -5]), FormatError, "shape"),
        ("bool shape", param(1, "b", shape=[True] * 6), FormatError, "shape"),
        ("not an array", setter(["params", 1, "W"], [1.0, 2.0]), FormatError, "not an encoded array"),
        ("missing key", setter(["params"], None), FormatError, "'params' is not a list"),
        ("extra key", setter(["weights"], []), FormatError, r"unexpected keys \['weights'\]"),
        ("index", setter(["nodes", 2, "index"], 7), FormatError, "node 2 .* has index 7"),
        ("dim type", setter(["nodes", 1, "dims", "nO"], "6"), FormatError, "dimension 'nO'"),
        ("ref range", setter(["nodes", 1, "refs", "x"], 9), FormatError, "reference 'x'"),
        ("attr not bytes", setter(["attrs", 3, "softmax_normalize"], True), FormatError,
         "not msgpack bytes"),
        ("attr garbage", setter(["attrs", 3, "softmax_normalize"], b"\xc1"), FormatError,
         r"attr 'softmax_normalize' of node 3 \('softmax'\) cannot be decoded"),
        ("attr ext type", setter(["attrs", 3, "softmax_normalize"],
                                 dumps(msgpack.ExtType(7, b"x"))), FormatError, "extension type 7"),
        ("attr array dtype", setter(["attrs", 3, "softmax_temperature"], dumps(
            {b"nd": True, b"type": "|O", b"kind": b"", b"shape": [1], b"data": b"\0" * 8})),
         FormatError, "dtype '|O'"),
        ("W vs its dims", setter(["nodes", 1, "dims", "nO"], 4), FormatError,
         r"parameter 'W' of node 1 \('relu'\) has shape \(6, 5\) but the node's dims"),
        ("shims", setter(["shims", 2], [b"torch"]), ValueError,
         r"node 2 \('relu'\) has 0 shims in the model but 1 in the data"),
        ("shims not bytes", setter(["shims", 2], ["torch"]), FormatError, "list of bytes"),
        ("temperature kind", setter(["attrs", 3, "softmax_temperature"], dumps("hot")),
         ValueError, "attr 'softmax_temperature' of node 3"),
        ("temperature none", setter(["attrs", 3, "softmax_temperature"], dumps(None)),
         ValueError, "attr 'softmax_temperature' of node 3"),
        ("attr kind", setter(["attrs", 3, "softmax_normalize"], dumps("yes")), ValueError,
         "attr 'softmax_normalize' of node 3"),
        ("name", setter(["nodes", 3, "name"], "sigmoid"), ValueError,
         r"node 3 \('softmax'\) is called 'sigmoid'"),
    ]


@pytest.mark.parametrize("init", [True, False])
@pytest.mark.parametrize("mutation", _mutations(), ids=lambda m: m[0])
def test_malformed_or_unsupported_content_is_refused(mutation, init):
    _, edit, error, match = mutation
    msg = loads(build("mlp").to_bytes(format="thinc"))
    edit(msg)
    _assert_refused(build("mlp", init=init), dumps(msg), error, match)


def test_a_users_attrs_load_from_thincs_bytes_as_thinc_loads_them():
    """Attrs the fresh model lacks, and attrs of another kind than its own
    (labels, names, metadata a user set after building the model), are
    loaded as they are, as Thinc loads them; only the numbers and flags the
    layers compute with must keep their kind (the refusals above)."""
    source = build("mlp")
    source.attrs["labels"] = ["NOUN", "VERB"]
    source.layers[2].attrs["classes"] = {"a": 0, "b": 1}
    source.layers[0].attrs["note"] = None
    data = source.to_bytes(format="thinc")  # Thinc's layout, no thinc_fast stamp
    target = build("mlp", init=False)
    target.layers[2].attrs["classes"] = []          # a list replaced by a dict
    target.layers[0].attrs["note"] = "to be replaced"  # a str replaced by None
    target.from_bytes(data)
    assert target.attrs["labels"] == ["NOUN", "VERB"]
    assert target.layers[2].attrs["classes"] == {"a": 0, "b": 1}
    assert target.layers[0].attrs["note"] is None
    numpy.testing.assert_array_equal(target.predict(X), source.predict(X))
    again = build("mlp", init=False).from_bytes(target.to_bytes(format="thinc"))
    assert again.attrs["labels"] == ["NOUN", "VERB"]


def test_code_attrs_are_not_replaced_by_data_from_thincs_bytes():
    source = Model("holder", _identity, attrs={"fn": "sum", "n": 2})
    target = Model("holder", _identity, attrs={"fn": numpy.sum, "n": 0})
    with pytest.raises(ValueError, match=r"attr 'fn' of node 0 \('holder'\) is <function sum"):
        target.from_bytes(source.to_bytes(format="thinc"))
    assert target.attrs == {"fn": numpy.sum, "n": 0}


def test_pickle_is_never_loaded(tmp_path):
    flag = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(flag), "w"))

    msg = loads(build("linear").to_bytes(format="thinc"))
    msg["params"][0]["W"] = {b"nd": True, b"type": "|O", b"kind": b"", b"shape": [1],
                             b"data": pickle.dumps(Evil())}
    _assert_refused(build("linear"), dumps(msg), FormatError, "dtype")
    msg["params"][0]["W"] = msgpack.ExtType(1, pickle.dumps(Evil()))
    _assert_refused(build("linear"), dumps(msg), FormatError, "extension type 1")
    assert not flag.exists()


def test_non_string_map_keys_and_non_maps_are_refused():
    target = build("linear")
    _assert_refused(target, dumps({1: 2}), FormatError, "corrupt or truncated.*map key")
    _assert_refused(target, dumps({"nodes": [], "attrs": []}), FormatError, "missing")
    _assert_refused(target, dumps([1, 2]), FormatError, "corrupt or truncated")  # not a map
    _assert_refused(target, b"", FormatError, "corrupt or truncated")


@pytest.mark.parametrize("init", [True, False])
def test_wrong_architecture_is_refused_with_the_node_and_dim(init):
    data = build("mlp").to_bytes(format="thinc")
    wider = chain(Relu(6), Relu(7), Softmax(3))
    if init:
        wider.initialize(X=X)
    _assert_refused(wider, data, ValueError,
                    r"dimension 'nO' of node 2 \('relu'\) is 7 in the model but 6 in the data")
    _assert_refused(build("linear", init=init), data, ValueError,
                    "the data describes 4 nodes, this model has 1")
    other = chain(Relu(6), Maxout(6), Softmax(3))
    _assert_refused(other, data, ValueError, r"node 0 .* is called 'relu>>relu>>softmax'")


def test_a_bad_last_node_leaves_even_the_first_nodes_unchanged():
    source = build("mlp")
    msg = loads(source.to_bytes(format="thinc"))
    msg["params"][3]["W"] = {b"nd": True, b"type": "<f4", b"kind": b"", b"shape": [2, 6],
                             b"data": b"\0" * 48}
    msg["params"][3]["b"] = {b"nd": True, b"type": "<f4", b"kind": b"", b"shape": [2],
                             b"data": b"\0" * 8}
    msg["nodes"][3]["dims"]["nO"] = 2
    target = build("mlp")  # nO=3 already: the dim check names it
    _assert_refused(target, dumps(msg), ValueError, r"dimension 'nO' of node 3 \('softmax'\)")
    blank = chain(Relu(6), Relu(6), Softmax())  # nO unset: the dims agree, all is loadable
    blank.from_bytes(dumps(msg))
    assert blank.layers[2].get_dim("nO") == 2
    numpy.testing.assert_array_equal(blank.layers[0].get_param("W"), source.layers[0].get_param("W"))


def test_param_shape_mismatch_names_the_param():
    source = build("linear")
    msg = loads(source.to_bytes(format="thinc"))
    W = numpy.zeros((3, 4), dtype="<f4")
    msg["params"][0]["W"] = {b"nd": True, b"type": "<f4", b"kind": b"", b"shape": [3, 4],
                             b"data": W.tobytes()}
    msg["nodes"][0]["dims"]["nI"] = None  # self-consistent as far as the file goes
    _assert_refused(build("linear"), dumps(msg), ValueError,
                    r"parameter 'W' of node 0 \('linear'\) has shape \(3, 5\) in the model "
                    r"but \(3, 4\)")
    _assert_refused(build("linear", init=False), dumps(msg), ValueError,
                    r"parameter 'W' of node 0 \('linear'\) is in the data but dimension 'nI' "
                    "is unset in both")
    msg["nodes"][0]["dims"]["nI"] = 4  # now the file is consistent: loads, nI=4
    blank = build("linear", init=False).from_bytes(dumps(msg))
    assert blank.get_dim("nI") == 4 and blank.get_param("W").shape == (3, 4)


def _identity(model, X, is_train):
    return X, lambda dY: dY


@pytest.mark.parametrize("fmt", ["thinc", "thinc_fast"])
def test_refs_are_written_as_indices_and_set_on_load_as_thinc_does(fmt):
    def make(ref_to_child):
        child = Linear(3, 5).initialize()
        root = Model("holder", _identity, layers=[child], refs={"out": child if ref_to_child else None})
        return root

    source = make(True)
    randomize(source)
    if fmt == "thinc":
        assert loads(source.to_bytes(format=fmt))["nodes"][0]["refs"] == {"out": 1}
    loaded = make(True).from_bytes(source.to_bytes(format=fmt))
    numpy.testing.assert_array_equal(loaded.layers[0].get_param("W"), source.layers[0].get_param("W"))
    unset = make(False).from_bytes(source.to_bytes(format=fmt))
    assert unset.get_ref("out") is unset.layers[0]
    no_refs = Model("holder", _identity, layers=[Linear(3, 5)]).from_bytes(source.to_bytes(format=fmt))
    assert no_refs.ref_names == ("out",) and no_refs.get_ref("out") is no_refs.layers[0]
    cleared = make(True).from_bytes(make(False).to_bytes(format=fmt))
    assert cleared.ref_names == ("out",) and cleared.maybe_get_ref("out") is None
    outside = Model("holder", _identity, refs={"out": Linear(2, 2)})
    with pytest.raises(ValueError, match="reference 'out' of node 0 .* outside the tree"):
        outside.to_bytes(format=fmt)


# ------------------------------------------------- with Thinc 9.1 installed
CROSS = ["linear", "mlp", "maxout_layernorm", "combinators"]


@pytest.mark.parametrize("arch", CROSS)
def test_thinc_to_thinc_fast(arch, tmp_path):
    thinc_api = pytest.importorskip("thinc.api")
    theirs = build(arch, lib=thinc_api)
    data = theirs.to_bytes()
    ours = build(arch)
    ours.from_bytes(data)
    numpy.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=0, atol=1e-6)
    assert ours.to_bytes(format="thinc") == data, "the same bytes come back out"
    theirs.to_disk(tmp_path / "model")
    blank = build(arch, init=False).from_disk(tmp_path / "model")
    numpy.testing.assert_allclose(blank.predict(X), theirs.predict(X), rtol=0, atol=1e-6)


@pytest.mark.parametrize("arch", CROSS)
def test_thinc_loads_the_default_bytes_and_files(arch, tmp_path):
    thinc_api = pytest.importorskip("thinc.api")
    ours = build(arch)
    theirs = build(arch, lib=thinc_api)
    theirs.from_bytes(ours.to_bytes())
    numpy.testing.assert_allclose(theirs.predict(X), ours.predict(X), rtol=0, atol=1e-6)
    ours.to_disk(tmp_path / "model")
    blank = build(arch, lib=thinc_api, init=False).from_disk(tmp_path / "model")
    numpy.testing.assert_allclose(blank.predict(X), ours.predict(X), rtol=0, atol=1e-6)


@pytest.mark.parametrize("arch", CROSS)
def test_thinc_fast_to_thinc(arch, tmp_path):
    thinc_api = pytest.importorskip("thinc.api")
    ours = build(arch)
    data = ours.to_bytes(format="thinc")
    theirs = build(arch, lib=thinc_api)
    theirs.from_bytes(data)
    numpy.testing.assert_allclose(theirs.predict(X), ours.predict(X), rtol=0, atol=1e-6)
    assert theirs.to_bytes() == data
    ours.to_disk(tmp_path / "model", format="thinc")
    blank = build(arch, lib=thinc_api, init=False).from_disk(tmp_path / "model")
    numpy.testing.assert_allclose(blank.predict(X), ours.predict(X), rtol=0, atol=1e-6)


def test_softmax_temperature_moves_both_ways():
    thinc_api = pytest.importorskip("thinc.api")
    from thinc_fast.api import Softmax_v2

    hot = thinc_api.chain(thinc_api.Relu(6), thinc_api.Softmax_v2(3, temperature=2.0))
    hot.initialize(X=X)
    randomize(hot)
    ours = chain(Relu(6), Softmax(3)).from_bytes(hot.to_bytes())
    assert ours.layers[1].attrs["softmax_temperature"] == 2.0
    numpy.testing.assert_allclose(ours.predict(X), hot.predict(X), rtol=0, atol=1e-6)
    assert ours.to_bytes(format="thinc") == hot.to_bytes(), "the same bytes come back out"
    cold = chain(Relu(6), Softmax_v2(3, temperature=0.5)).initialize(X=X)
    randomize(cold)
    theirs = thinc_api.chain(thinc_api.Relu(6), thinc_api.Softmax_v2(3))
    theirs.from_bytes(cold.to_bytes(format="thinc"))
    assert theirs.layers[1].attrs["softmax_temperature"] == 0.5
    numpy.testing.assert_allclose(theirs.predict(X), cold.predict(X), rtol=0, atol=1e-6)


def test_uninitialized_thinc_models_change_nothing():
    thinc_api = pytest.importorskip("thinc.api")
    uninitialized = thinc_api.chain(thinc_api.Relu(6), thinc_api.Relu(6), thinc_api.Softmax(3))
    model = build("mlp")
    before = state(model)
    model.from_bytes(uninitialized.to_bytes())  # nothing set in the file: nothing changes
    assert_same_state(state(model), before)


def test_a_thinc_models_own_attrs_load_as_in_thinc():
    thinc_api = pytest.importorskip("thinc.api")
    theirs = build("mlp", lib=thinc_api)
    theirs.attrs["labels"] = ["a", "b", "c"]
    theirs.layers[1].attrs["trained_on"] = {"rows": 7, "source": "X"}
    data = theirs.to_bytes()
    ours = build("mlp", init=False).from_bytes(data)
    back = build("mlp", lib=thinc_api, init=False).from_bytes(data)  # what Thinc itself loads
    for node_ours, node_back in zip(ours.walk(), back.walk()):
        for attr, value in node_back.attrs.items():
            if isinstance(value, (str, list, dict)):
                assert node_ours.attrs[attr] == value, (node_back.name, attr)
    assert ours.attrs["labels"] == ["a", "b", "c"]
    numpy.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=0, atol=1e-6)


def test_softmax_logits_setting_moves_both_ways():
    thinc_api = pytest.importorskip("thinc.api")
    theirs = thinc_api.chain(thinc_api.Relu(6), thinc_api.Softmax_v2(3, normalize_outputs=False))
    theirs.initialize(X=X)
    randomize(theirs)
    ours = chain(Relu(6), Softmax(3)).from_bytes(theirs.to_bytes())
    assert ours.layers[1].attrs["softmax_normalize"] is False
    numpy.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=0, atol=1e-6)
    assert not numpy.allclose(ours.predict(X).sum(axis=1), 1.0), "logits, not probabilities"
    back = thinc_api.chain(thinc_api.Relu(6), thinc_api.Softmax_v2(3))
    back.from_bytes(ours.to_bytes(format="thinc"))
    assert back.layers[1].attrs["softmax_normalize"] is False
    numpy.testing.assert_allclose(back.predict(X), theirs.predict(X), rtol=0, atol=1e-6)
