"""Model semantics: dims, params, grads, accumulation, the arena, copy, walk."""
import numpy
import pytest

from thinc_fast.api import SGD, Adam, Linear, Relu, Softmax, chain, residual

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
