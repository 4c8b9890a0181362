"""Model semantics: dims, params, grads, accumulation, the arena, copy, walk."""
import numpy
import pytest

from thinc_fast.api import SGD, Adam, Linear, Model, Relu, Softmax, chain, residual

rng = numpy.random.default_rng(3)


def data(n=8, nI=6, nO=4):
    X = rng.standard_normal((n, nI)).astype("float32")
    Y = numpy.eye(nO, dtype="float32")[rng.integers(0, nO, n)]
    return X, Y


def mlp():
    return chain(Relu(7), Relu(5), Softmax())


def all_grads(model):
    return {(i, name): node.get_grad(name).copy() for i, node in enumerate(model.walk())
            for name in node.param_names if node.has_param(name)}


def all_params(model):
    return {(i, name): node.get_param(name).copy() for i, node in enumerate(model.walk())
            for name in node.param_names if node.has_param(name)}


def test_initialize_infers_dims_from_sample_data():
    X, Y = data()
    model = mlp()
    assert model.layers[0].has_dim("nI") is None
    out = model.initialize(X=X[:5], Y=Y[:5])
    assert out is model
    assert [layer.get_dim("nI") for layer in model.layers] == [6, 7, 5]
    assert [layer.get_dim("nO") for layer in model.layers] == [7, 5, 4]
    assert model.get_dim("nI") == 6 and model.get_dim("nO") == 4
    assert model.layers[0].get_param("W").shape == (7, 6)
    assert model.predict(X).shape == (8, 4)


def test_dims_api():
    model = Linear(3)
    assert model.dims == {"nO": 3, "nI": None}
    assert model.has_dim("nO") is True and model.has_dim("nI") is None
    assert model.has_dim("nP") is False
    with pytest.raises(ValueError, match="'nI'.*unset"):
        model.get_dim("nI")
    with pytest.raises(KeyError, match="nP"):
        model.get_dim("nP")
    model.set_dim("nI", 2)
    with pytest.raises(ValueError, match="change dimension 'nI'.*from 2 to 5"):
        model.set_dim("nI", 5)
    with pytest.raises(ValueError, match="non-negative int"):
        model.set_dim("nO", -1, force=True)
    model.dims["nO"] = 100  # a copy: the model is not changed
    assert model.get_dim("nO") == 3


def test_params_api_and_names():
    model = Linear(3, 2)
    assert model.param_names == ("W", "b")
    assert model.has_param("W") is None and model.has_param("Q") is False
    model.initialize()
    assert model.has_param("W") is True
    W = numpy.arange(6, dtype="f8").reshape(3, 2)
    model.set_param("W", W)
    assert model.get_param("W").dtype == numpy.float32
    numpy.testing.assert_array_equal(model.get_param("W"), W)
    with pytest.raises(KeyError, match="unknown parameter"):
        model.get_param("Q")
    with pytest.raises(TypeError, match="float"):
        model.set_param("W", numpy.ones((3, 2), dtype="int64"))


def test_grads_api():
    model = Linear(3, 2).initialize()
    assert not model.has_grad("W")
    model.inc_grad("W", numpy.ones((3, 2)))
    model.inc_grad("W", numpy.ones((3, 2)))
    assert model.has_grad("W") and model.grad_names == ("W",)
    numpy.testing.assert_array_equal(model.get_grad("W"), 2.0)
    model.set_grad("W", numpy.full((3, 2), 5.0))
    numpy.testing.assert_array_equal(model.get_grad("W"), 5.0)
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*\(3, 2\)"):
        model.inc_grad("W", numpy.ones((2, 3)))


def test_name_id_attrs_ops_layers_walk():
    a, b = Relu(3), Linear(2)
    model = chain(a, residual(Linear(3)), b)
    assert model.name == "relu>>residual(linear)>>linear"
    assert len({n.id for n in model.walk()}) == 5
    assert model.walk()[:4] == [model, a, model.layers[1], b]
    assert model.walk(order="dfs_pre")[:3] == [model, a, model.layers[1]]
    assert model.walk(order="dfs_post")[-1] is model
    with pytest.raises(ValueError, match="order"):
        model.walk(order="random")
    assert model.layers[0] is a and model.ops is a.ops
    b.attrs["tag"] = 1
    assert b.attrs == {"tag": 1}
    shared = Linear(2, 2)
    tied = chain(shared, shared)
    assert tied.walk() == [tied, shared]


def test_call_and_predict_agree():
    X, Y = data()
    model = mlp().initialize(X=X, Y=Y)
    Y1, backprop = model(X, is_train=False)
    numpy.testing.assert_array_equal(Y1, model.predict(X))
    assert callable(backprop)


def test_backprop_only_increments_and_leaves_params():
    X, Y = data()
    model = mlp().initialize(X=X, Y=Y)
    before = all_params(model)
    Yh, backprop = model.begin_update(X)
    backprop(Yh - Y)
    first = all_grads(model)
    assert any(numpy.abs(g).sum() > 0 for g in first.values())
    for key, value in all_params(model).items():
        numpy.testing.assert_array_equal(value, before[key])
    Yh, backprop = model.begin_update(X)
    backprop(Yh - Y)
    for key, value in all_grads(model).items():
        numpy.testing.assert_allclose(value, 2 * first[key], rtol=1e-5, atol=1e-6)


def test_two_half_batches_equal_one_full_batch():
    X, Y = data(n=16)
    full = mlp().initialize(X=X, Y=Y)
    halves = full.copy()
    Yh, backprop = full.begin_update(X)
    backprop(Yh - Y)
    for sl in (slice(0, 8), slice(8, 16)):
        Yh, backprop = halves.begin_update(X[sl])
        backprop(Yh - Y[sl])
    g_full, g_halves = all_grads(full), all_grads(halves)
    for key in g_full:
        numpy.testing.assert_allclose(g_halves[key], g_full[key], rtol=1e-4, atol=1e-5)
    # and applying them gives the same parameters
    opt1, opt2 = Adam(0.01), Adam(0.01)
    full.finish_update(opt1)
    halves.finish_update(opt2)
    p_full, p_halves = all_params(full), all_params(halves)
    for key in p_full:
        numpy.testing.assert_allclose(p_halves[key], p_full[key], rtol=1e-4, atol=1e-5)


def test_finish_update_applies_and_zeroes_gradients():
    X, Y = data()
    model = mlp().initialize(X=X, Y=Y)
    before = all_params(model)
    Yh, backprop = model.begin_update(X)
    backprop(Yh - Y)
    model.finish_update(SGD(0.1))
    assert not model.arena.grads.any()
    for g in all_grads(model).values():
        assert not g.any()
    assert any(not numpy.array_equal(v, before[k]) for k, v in all_params(model).items())


def test_parameters_are_views_of_one_arena():
    X, Y = data()
    model = mlp().initialize(X=X, Y=Y)
    arena = model.arena
    assert arena.params.ndim == 1 and arena.params.dtype == numpy.float32
    total = 0
    for node in model.walk():
        for name in node.param_names:
            p, g = node.get_param(name), node.get_grad(name)
            assert numpy.shares_memory(p, arena.params) and p.base is not None
            assert numpy.shares_memory(g, arena.grads)
            total += p.size
    assert len(arena) >= total
    # writing through the arena is seen by the layers
    arena.params[:] = 0.5
    assert (model.layers[0].get_param("W") == 0.5).all()


def test_set_param_keeps_the_arena_view():
    X, Y = data()
    model = mlp().initialize(X=X, Y=Y)
    layer = model.layers[0]
    view = layer.get_param("W")
    new = rng.standard_normal(view.shape)
    layer.set_param("W", new)
    assert layer.get_param("W") is view
    assert numpy.shares_memory(layer.get_param("W"), model.arena.params)
    numpy.testing.assert_allclose(view, new.astype("f"))
    arena_id = model.arena.id
    model.finish_update(Adam(0.001))
    assert model.arena.id == arena_id, "same-shape set_param must not rebuild the arena"


def test_set_param_with_new_shape_rebuilds_arena_and_keeps_optimizer_state():
    X, Y = data()
    model = mlp().initialize(X=X, Y=Y)
    opt = Adam(0.01)
    Yh, backprop = model.begin_update(X)
    backprop(Yh - Y)
    model.finish_update(opt)
    old_id = model.arena.id
    last = model.layers[2]
    with pytest.raises(ValueError, match="'W', 'b' are allocated"):
        last.set_dim("nO", 3, force=True)
    last.set_param("W", None)
    last.set_param("b", None)
    last.set_dim("nO", 3, force=True)
    last.set_param("W", numpy.zeros((3, 5)))
    last.set_param("b", numpy.zeros(3))
    Yh, backprop = model.begin_update(X)
    backprop(Yh - Y[:, :3])
    model.finish_update(opt)
    assert model.arena.id != old_id
    assert numpy.shares_memory(last.get_param("W"), model.arena.params)
    assert opt.nr_update[model.id] == 2


def test_copy_gives_an_independent_arena():
    X, Y = data()
    model = mlp().initialize(X=X, Y=Y)
    twin = model.copy()
    assert twin.id != model.id and [n.name for n in twin.walk()] == [n.name for n in model.walk()]
    assert not numpy.shares_memory(twin.arena.params, model.arena.params)
    numpy.testing.assert_array_equal(twin.arena.params, model.arena.params)
    twin.layers[0].set_param("W", numpy.zeros((7, 6)))
    assert model.layers[0].get_param("W").any()
    numpy.testing.assert_array_equal(model.predict(X), model.predict(X))
    assert numpy.shares_memory(twin.layers[0].get_param("W"), twin.arena.params)


def test_finish_update_with_a_thinc_style_callable_optimizer():
    X, Y = data()
    model = mlp().initialize(X=X, Y=Y)
    seen = []

    def sgd(key, weights, gradient):
        seen.append(key)
        weights -= 0.1 * gradient
        gradient.fill(0)
        return weights, gradient

    Yh, backprop = model.begin_update(X)
    backprop(Yh - Y)
    model.finish_update(sgd)
    assert len(seen) == 6 and all(isinstance(k, tuple) and len(k) == 2 for k in seen)
    assert not model.arena.grads.any()


def test_sublayer_finish_update_and_structure_change_are_safe():
    X, Y = data()
    model = mlp().initialize(X=X, Y=Y)
    opt = SGD(0.1)
    first = model.layers[0]
    Yh, backprop = model.begin_update(X)
    backprop(Yh - Y)
    before_last = model.layers[2].get_param("W").copy()
    first.finish_update(opt)       # updates only the first layer
    numpy.testing.assert_array_equal(model.layers[2].get_param("W"), before_last)
    assert not first.get_grad("W").any() and model.layers[2].get_grad("W").any()
    model.finish_update(opt)       # the root rebuilds its arena and updates the rest
    assert not model.layers[2].get_grad("W").any()
    assert numpy.shares_memory(first.get_param("W"), model.arena.params)


def test_define_operators_like_thinc():
    from thinc_fast.api import Model, clone

    with Model.define_operators({">>": chain, "**": clone}):
        model = Relu(8) >> Relu(8) ** 2 >> Softmax()
    assert model.name.startswith("relu>>") and model.name.endswith("softmax")
    X, Y = data()
    model.initialize(X=X, Y=Y)
    assert model.predict(X).shape == (8, 4)
    with pytest.raises(TypeError, match="define_operators"):
        Relu(3) >> Relu(3)
    with pytest.raises(ValueError, match="unsupported"):
        with Model.define_operators({"<>": chain}):
            pass


# ------------------------------------------------- Thinc 9.1.1's Model surface
def identity_model(name, **kwargs):
    return Model(name, lambda model, X, is_train: (X, lambda dY: dY), **kwargs)


def test_set_param_declares_new_names_and_unset_is_key_and_value_error():
    from thinc_fast.model import UnsetError

    model = identity_model("tmp", params={"W": numpy.zeros((2,)), "b": None})
    model.set_param("extra", None)
    assert model.param_names == ("W", "b", "extra") and model.has_param("extra") is None
    model.set_param("X", numpy.ones((3,)))
    assert model.get_param("X").shape == (3,) and model.maybe_get_param("X") is not None
    assert model.maybe_get_param("b") is None and model.maybe_get_param("nope") is None
    for catch in (KeyError, ValueError):
        with pytest.raises(catch, match="Cannot get parameter 'b' for model 'tmp'"):
            model.get_param("b")
    with pytest.raises(UnsetError) as info:
        model.get_grad("b")
    assert str(info.value).startswith("Cannot get the gradient of parameter 'b'")
    with pytest.raises(KeyError, match="unknown parameter"):
        model.get_param("nope")


def test_refs_must_be_in_the_tree_and_unset_refs_raise_value_error():
    child, stranger = identity_model("child"), identity_model("stranger")
    model = identity_model("parent", layers=[child], refs={"kid": child, "empty": None})
    assert model.maybe_get_ref("kid") is child and model.maybe_get_ref("empty") is None
    assert model.maybe_get_ref("unknown") is None
    with pytest.raises(ValueError, match="'empty' for model 'parent': value unset"):
        model.get_ref("empty")
    with pytest.raises(KeyError, match="unknown reference"):
        model.get_ref("unknown")
    with pytest.raises(ValueError, match="not in tree"):
        model.set_ref("other", stranger)
    with pytest.raises(TypeError, match="expected a Model"):
        model.set_ref("other", "child")
    model.set_ref("self", model)
    assert model.ref_names == ("kid", "empty", "self")


def test_set_dim_force_is_refused_while_params_are_allocated():
    model = Linear(3, 2)
    model.set_dim("nI", 4, force=True)  # nothing allocated: allowed
    model.initialize()
    assert model.get_param("W").shape == (3, 4)
    with pytest.raises(ValueError, match=r"from 4 to 5 while its parameters 'W', 'b' are allocated"):
        model.set_dim("nI", 5, force=True)
    model.set_dim("nI", 4)  # same value: fine
    assert model.get_dim("nI") == 4


def test_walk_order_message_is_thincs():
    with pytest.raises(ValueError, match="Invalid order 'up', must be one of: bfs, dfs_pre, dfs_post"):
        Linear().walk(order="up")


def test_remove_node_drops_layers_and_dangling_refs():
    grandchild = identity_model("grandchild")
    child = identity_model("child", layers=[grandchild])
    parent = identity_model("parent", layers=[child])
    parent.set_ref("kid", child)
    parent.set_ref("grandkid", grandchild)
    parent.remove_node(grandchild)
    assert child.layers == [] and parent.get_ref("kid") is child
    assert parent.has_ref("grandkid") is None


def test_replace_node_replaces_layers_and_refs_everywhere():
    a, b = Relu(5), Relu(5)
    inner = chain(a, b)
    model = identity_model("top", layers=[a, b, a, inner], refs={"a": a, "b": b})
    new = Relu(5)
    assert model.replace_node(a, new) is True
    assert model.layers[:3] == [new, b, new] and inner.layers == [new, b]
    assert model.get_ref("a") is new and model.get_ref("b") is b
    assert model.replace_node(a, Relu(5)) is False


def test_wrap_model_recursive_and_with_debug():
    from thinc_fast.api import concatenate, with_debug, wrap_model_recursive

    relu = Relu(5)
    inner = chain(relu, relu)
    top = concatenate(inner, inner, relu)
    wrapped = wrap_model_recursive(top, lambda m: identity_model(f"w({m.name})", layers=[m]))
    names = [n.name for n in wrapped.walk()]
    assert wrapped.name == "w(relu>>relu|relu>>relu|relu)"
    assert sum(name.startswith("w(") for name in names) == 3
    assert top.layers[0].name == "w(relu>>relu)" and top.layers[2].name == "w(relu)"
    assert inner.layers[0].name == "w(relu)" and inner.layers[0].layers[0] is relu

    calls = {"init": 0, "forward": 0, "backprop": 0}

    def count(what):
        def callback(*args):
            calls[what] += 1
        return callback

    debug = with_debug(Relu(), on_init=count("init"), on_forward=count("forward"),
                       on_backprop=count("backprop"))
    model = chain(Relu(), debug, debug)
    X, Y = data(n=4, nI=6, nO=6)
    model.initialize(X=X, Y=Y)
    assert calls == {"init": 2, "forward": 2, "backprop": 0}  # init runs the sample through
    Yh, backprop = model(X, is_train=False)
    backprop(Yh)
    assert calls == {"init": 2, "forward": 4, "backprop": 2}
    assert debug.name == "relu" and debug.get_param("W").shape == (6, 6)


def test_change_attr_values_and_set_dropout_rate():
    from thinc_fast.api import Dropout, change_attr_values, set_dropout_rate

    model = chain(Relu(3, dropout=0.1), Dropout(0.3), Linear(2))
    set_dropout_rate(model, 0.25)
    rates = [n.attrs["dropout_rate"] for n in model.walk() if "dropout_rate" in n.attrs]
    assert rates == [0.25, 0.25]
    change_attr_values(model, {"dropout": {"dropout_rate": 0.5, "unknown": 1}})
    assert all(n.attrs.get("dropout_rate", 0.5) == 0.5 and "unknown" not in n.attrs
               for n in model.walk())


def test_get_gradients_gives_live_arrays_of_params_with_gradients():
    X, Y = data()
    model = mlp().initialize(X=X, Y=Y)
    assert model.get_gradients() == {}
    Yh, backprop = model.begin_update(X)
    backprop(Yh - Y)
    grads = model.get_gradients()
    assert len(grads) == 6
    first = model.layers[0]
    param, grad = grads[(first.id, "W")]
    assert param is first.get_param("W") and grad is first.get_grad("W")
    assert numpy.shares_memory(grad, model.arena.grads)


def test_finish_update_does_nothing_before_any_backprop():
    X, Y = data()
    model = mlp().initialize(X=X, Y=Y)
    before = model.arena.params.copy()
    calls = []
    model.begin_update(X)  # no backprop
    model.finish_update(lambda key, w, g: calls.append(key) or (w, g))
    opt = Adam(0.1, L2=0.1)
    model.finish_update(opt)
    assert calls == [] and opt.nr_update.get(model.id, 0) == 0
    numpy.testing.assert_array_equal(model.arena.params, before)


def test_define_operators_nested_blocks_replace_and_threads_are_separate():
    import threading

    a, b = identity_model("a"), identity_model("b")
    join = lambda x, y: x.name + y.name  # noqa: E731
    assert Model._context_operators.get() == {}
    with Model.define_operators({"+": join}):
        assert a + b == "ab"
        with Model.define_operators({"*": join}):
            assert a * b == "ab"
            with pytest.raises(TypeError, match="define_operators"):
                a + b
        assert a + b == "ab"
        seen = []
        worker = threading.Thread(target=lambda: seen.append(Model._context_operators.get()))
        worker.start()
        worker.join()
        assert seen == [{}]
    assert Model._context_operators.get() == {}


def test_to_dict_from_dict_roundtrip_with_refs_attrs_and_params():
    from thinc_fast.api import serialize_attr

    X, Y = data()
    model = mlp().initialize(X=X, Y=Y)
    model.set_ref("hidden", model.layers[1])
    model.layers[0].attrs["tag"] = ["a", 1]
    model.layers[0].attrs["fn"] = print  # not serialisable: left out, as in Thinc
    msg = model.to_dict()
    assert [n["index"] for n in msg["nodes"]] == [0, 1, 2, 3]
    assert msg["nodes"][0]["refs"] == {"hidden": 2}
    assert msg["nodes"][1]["dims"] == {"nO": 7, "nI": 6}
    assert msg["attrs"][1] == {"tag": serialize_attr(["a", 1], ["a", 1], "tag", model)}
    assert msg["params"][1]["W"] is model.layers[0].get_param("W")
    assert model.can_from_dict(msg)

    other = mlp()
    other.set_ref("hidden", other.layers[1])
    assert other.can_from_dict(msg) and not chain(Relu(7), Relu(4), Softmax()).can_from_dict(msg)
    other.from_dict(msg)
    assert other.layers[0].attrs["tag"] == ["a", 1] and "fn" not in other.layers[0].attrs
    numpy.testing.assert_array_equal(other.predict(X), model.predict(X))
    assert not numpy.shares_memory(other.layers[0].get_param("W"), model.arena.params)
    assert numpy.shares_memory(other.layers[0].get_param("W"), other.arena.params)


def test_from_dict_checks_before_changing_anything():
    X, Y = data()
    msg = mlp().initialize(X=X, Y=Y).to_dict()
    target = chain(Relu(7), Relu(6), Softmax())
    with pytest.raises(ValueError, match=r"dimension 'nO' of node 2 \('relu'\) is 6 in the model but 5"):
        target.from_dict(msg)
    assert not any(n.has_param("W") for n in target.walk()), "nothing was loaded"
    with pytest.raises(ValueError, match="mismatched structure"):
        Linear().from_dict(msg)
    stray = identity_model("test", refs={"out": Linear()})
    with pytest.raises(ValueError, match="outside the tree"):
        stray.to_dict()


def test_serialize_attr_is_msgpack_and_dispatches_on_type():
    import msgpack

    from thinc_fast.api import deserialize_attr, serialize_attr

    model = identity_model("m")
    assert serialize_attr("foo", "foo", "x", model) == msgpack.packb("foo", use_bin_type=True)
    assert deserialize_attr("", serialize_attr("foo", "foo", "x", model), "x", model) == "foo"

    class Custom:
        def __init__(self, value):
            self.value = value

    @serialize_attr.register(Custom)
    def _ser(_, value, name, model):
        return value.value.encode("utf8")

    @deserialize_attr.register(Custom)
    def _de(_, value, name, model):
        return Custom(value.decode("utf8") + "!")

    node = identity_model("m", attrs={"c": Custom("hi")})
    msg = node.to_dict()
    assert msg["attrs"][0] == {"c": b"hi"}
    node.from_dict(msg)
    assert node.attrs["c"].value == "hi!"


def test_shims_are_kept_copied_and_given_the_optimizer():
    from thinc_fast.api import Shim

    class Recorder(Shim):
        def finish_update(self, optimizer):
            self.cfg["updates"] = self.cfg.get("updates", 0) + 1

        def to_bytes(self):
            return b"shim"

        def from_bytes(self, data):
            self.cfg["loaded"] = data
            return self

    shim = Recorder(None)
    a = identity_model("a", shims=[shim])
    b = identity_model("b", shims=[shim])
    model = chain(a, b)
    twin = model.copy()
    assert twin.layers[0].shims[0] is twin.layers[1].shims[0] is not shim
    model.finish_update(SGD(0.1))
    assert shim.cfg["updates"] == 2
    msg = model.to_dict()
    assert msg["shims"] == [[], [b"shim"], [b"shim"]]
    twin.from_dict(msg)
    assert twin.layers[0].shims[0].cfg["loaded"] == b"shim"


def test_to_ops_on_the_same_backend_keeps_the_arena():
    from thinc_fast.api import NumpyOps

    X, Y = data()
    model = mlp().initialize(X=X, Y=Y)
    arena = model.arena
    ops = NumpyOps()
    model._to_ops(ops)
    assert all(node.ops is ops for node in model.walk())
    assert model.arena is arena and numpy.shares_memory(model.layers[0].get_param("W"), arena.params)
    model.to_cpu()
    assert model.arena is arena


def test_set_grad_and_inc_grad_take_a_scalar_as_thinc():
    from thinc_fast.api import Linear

    model = Linear(2, 3).initialize()
    model.set_grad("W", 0.5)
    assert (model.get_grad("W") == 0.5).all() and model.get_grad("W").shape == (2, 3)
    model.inc_grad("W", 1.0)
    assert (model.get_grad("W") == 1.5).all()
    with pytest.raises(ValueError, match="shape"):
        model.set_grad("W", numpy.zeros((3, 2), "f"))
