"""Every layer's forward against a float64 reference and its gradients against
central finite differences of that reference."""
import numpy
import pytest

from thinc_fast.api import (Dropout, LayerNorm, Linear, Maxout, Relu, Softmax, chain, clone,
                            concatenate, noop, residual, to_categorical)

rng = numpy.random.default_rng(7)


def sample(n=5, width=4):
    return rng.standard_normal((n, width)).astype("float32")


def affine(p, i, X):
    return X @ p[(i, "W")].T + p[(i, "b")]


def test_linear(helpers):
    X = sample()
    model = Linear(3).initialize(X=X)
    model.set_param("b", rng.standard_normal(3))
    helpers.check_layer_gradients(model, X, lambda p, X: affine(p, 0, X))


def test_relu(helpers):
    X = sample()
    model = Relu(6).initialize(X=X)
    model.set_param("b", rng.standard_normal(6) * 0.1)
    helpers.check_layer_gradients(model, X, lambda p, X: helpers.relu64(affine(p, 0, X)))


def test_softmax_backprop_is_crossentropy_gradient(helpers):
    X = sample()
    T = to_categorical(numpy.array([0, 2, 1, 2, 0]), n_classes=3)
    model = Softmax(init_W=lambda ops, shape: ops.asarray(rng.standard_normal(shape), dtype="f"))
    model.initialize(X=X, Y=T)
    assert model.get_dim("nO") == 3 and model.get_dim("nI") == 4
    helpers.check_layer_gradients(model, X, lambda p, X: helpers.softmax64(affine(p, 0, X)),
                                  loss="xent", targets=T)


def test_softmax_without_normalized_outputs_predicts_logits():
    X = sample()
    model = Softmax(3, normalize_outputs=False).initialize(X=X)
    model.set_param("W", rng.standard_normal((3, 4)))
    logits = X.astype("f8") @ model.get_param("W").T
    numpy.testing.assert_allclose(model.predict(X), logits, rtol=1e-5, atol=1e-6)
    Y, _ = model.begin_update(X)
    numpy.testing.assert_allclose(Y.sum(axis=1), 1.0, rtol=1e-5)


def test_dropout_gradient_uses_the_forward_mask(helpers):
    X = sample(50, 8) + 3.0  # nonzero everywhere, so the mask is Y / X
    model = Dropout(0.5)
    Y, backprop = model.begin_update(X)
    mask = Y / X
    assert set(numpy.round(numpy.unique(mask), 5)) <= {0.0, 2.0}
    assert 0.3 < (mask == 0).mean() < 0.7
    dY = sample(50, 8)
    numpy.testing.assert_allclose(backprop(dY), dY * mask, rtol=1e-6)
    numpy.testing.assert_array_equal(model.predict(X), X)


def test_dropout_rate_zero_and_bad_rate():
    X = sample()
    Y, backprop = Dropout(0.0).begin_update(X)
    assert Y is X
    with pytest.raises(ValueError, match="Dropout rate"):
        Dropout(1.5)


def layernorm64(p, i, X):
    mu = X.mean(axis=1, keepdims=True)
    var = X.var(axis=1, keepdims=True)
    return (X - mu) / numpy.sqrt(var + 1e-8) * p[(i, "G")] + p[(i, "b")]


def test_layernorm(helpers):
    X = sample(6, 5)
    model = LayerNorm().initialize(X=X)
    model.set_param("G", rng.standard_normal(5))
    model.set_param("b", rng.standard_normal(5))
    helpers.check_layer_gradients(model, X, lambda p, X: layernorm64(p, 0, X), atol=5e-4)


def maxout64(p, i, X):
    W, b = p[(i, "W")], p[(i, "b")]
    Z = numpy.einsum("ni,opi->nop", X, W) + b
    return Z.max(axis=-1)


def test_maxout(helpers):
    X = sample()
    model = Maxout(3, nP=4).initialize(X=X)
    assert model.get_param("W").shape == (3, 4, 4) and model.get_param("b").shape == (3, 4)
    model.set_param("b", rng.standard_normal((3, 4)))
    helpers.check_layer_gradients(model, X, lambda p, X: maxout64(p, 0, X))


def test_chain(helpers):
    X = sample()
    model = chain(Relu(6), Linear(2)).initialize(X=X)
    assert model.name == "relu>>linear"
    assert model.get_dim("nI") == 4 and model.get_dim("nO") == 2
    helpers.check_layer_gradients(
        model, X, lambda p, X: affine(p, 2, helpers.relu64(affine(p, 1, X))))


def test_residual(helpers):
    X = sample()
    model = residual(Linear(4)).initialize(X=X)
    helpers.check_layer_gradients(model, X, lambda p, X: X + affine(p, 1, X))


def test_residual_needs_same_shape():
    X = sample()
    model = residual(Linear(3)).initialize(X=X)
    with pytest.raises(ValueError, match="same shape"):
        model.predict(X)


def test_concatenate(helpers):
    X = sample()
    model = concatenate(Linear(2), Relu(3)).initialize(X=X)
    assert model.get_dim("nO") == 5
    helpers.check_layer_gradients(
        model, X, lambda p, X: numpy.hstack([affine(p, 1, X), helpers.relu64(affine(p, 2, X))]))


def test_clone_makes_independent_copies(helpers):
    X = sample()
    model = clone(Linear(4), 3).initialize(X=X)
    layers = model.layers
    assert len(layers) == 3 and len({layer.id for layer in layers}) == 3
    W = [layer.get_param("W") for layer in layers]
    assert not numpy.shares_memory(W[0], W[1])
    helpers.check_layer_gradients(
        model, X, lambda p, X: affine(p, 3, affine(p, 2, affine(p, 1, X))))
    assert clone(Linear(4), 1).name == "linear"
    assert noop().predict(X) is X and clone(Linear(2), 0).predict(X) is X


def test_relu_normalize_and_dropout_build_chains(helpers):
    X = sample()
    model = Relu(5, dropout=0.2, normalize=True)
    assert [layer.name for layer in model.walk()][-3:] == ["relu", "layernorm", "dropout"] or \
        "layernorm" in model.name
    model.initialize(X=X)
    assert model.predict(X).shape == (5, 5)
    m2 = Maxout(3, nP=2, normalize=True).initialize(X=X)
    assert m2.predict(X).shape == (5, 3)


def test_deep_model_gradients(helpers):
    X = sample(4, 3)
    model = chain(Relu(5), LayerNorm(), Maxout(4, nP=2), Linear(2)).initialize(X=X)
    walk = model.walk()
    # keep every ReLU row alive: LayerNorm of an all-zero row is ill-conditioned
    walk[1].set_param("b", numpy.full(5, 2.0))

    def ref(p, X):
        h = helpers.relu64(affine(p, 1, X))
        h = layernorm64(p, 2, h)
        h = maxout64(p, 3, h)
        return affine(p, 4, h)

    assert [n.name for n in walk[1:]] == ["relu", "layernorm", "maxout", "linear"]
    helpers.check_layer_gradients(model, X, ref, atol=5e-4)


# ------------------------------------------- Thinc 9.1.1's shape inference
def test_chain_gives_Y_to_every_layer_with_unset_nO():
    X, Y = sample(4, 5), sample(4, 3)
    model = chain(Relu(), Relu(7), Softmax())
    model.initialize(X=X, Y=Y)
    assert [layer.get_dim("nO") for layer in model.layers] == [3, 7, 3]
    assert [layer.get_dim("nI") for layer in model.layers] == [5, 3, 7]
    assert model.predict(X).shape == (4, 3)


def test_layers_with_nO_set_ignore_Y():
    X = sample(4, 5)
    model = Linear(2).initialize(X=X, Y=sample(4, 9))
    assert model.get_param("W").shape == (2, 5)
    with pytest.raises(ValueError, match="change dimension 'nI'.*from 4 to 5"):
        Linear(2, 4).initialize(X=X)


def test_integer_labels_give_nO_max_plus_one():
    X = sample(4, 5)
    model = Linear().initialize(X=X, Y=numpy.array([0, 3, 1, 1], dtype="i"))
    assert model.get_dim("nO") == 4
    with pytest.raises(ValueError, match="Cannot infer nO of model 'linear'.*dict"):
        Linear().initialize(X=X, Y={"labels": 1})
    with pytest.raises(ValueError, match=r"Cannot infer nI of model 'linear'.*\(4,\)"):
        Linear(2).initialize(X=numpy.zeros(4, "f"))


@pytest.mark.parametrize("make,n_layers", [
    (lambda: Relu(dropout=0.2), 2),
    (lambda: Relu(normalize=True, dropout=0.2), 2),
    (lambda: Maxout(normalize=True, dropout=0.2, nP=2), 2),
    (lambda: Maxout(normalize=True), 2),
])
def test_wrapped_dense_layers_infer_both_widths(make, n_layers):
    X, Y = sample(3, 4), sample(3, 6)
    model = make()
    assert model.has_dim("nI") is None and model.has_dim("nO") is None
    assert len(model.layers) == n_layers
    model.initialize(X=X, Y=Y)
    assert model.get_dim("nI") == 4 and model.get_dim("nO") == 6
    Yh, backprop = model.begin_update(X)
    assert Yh.shape == (3, 6) and backprop(Yh).shape == (3, 4)


def test_concatenate_passes_X_and_Y_on():
    X, Y = sample(2, 3), sample(2, 4)
    model = concatenate(Linear(), Linear())
    model.initialize(X, Y)
    assert [layer.get_dim("nO") for layer in model.layers] == [4, 4]
    assert model.get_dim("nO") == 8 and model.get_dim("nI") == 3
    Yh, backprop = model.begin_update(X)
    assert Yh.shape == (2, 8) and backprop(Yh).shape == (2, 3)


# ---------------------------------------------------------- combinators
def test_chain_needs_two_layers_and_nests_like_thinc():
    from thinc_fast.api import Model

    with pytest.raises(TypeError):
        chain()
    with pytest.raises(TypeError):
        chain(Linear())
    a, b, c = Linear(2), Linear(2), Linear(2)
    with Model.define_operators({">>": chain, "|": concatenate}):
        nested = a >> b >> c
        flat = a | b | c
    assert len(nested.layers) == 2 and nested.layers[0].layers == [a, b]
    assert nested.name == "linear>>linear>>linear"
    assert flat.layers == [a, b, c] and flat.get_dim("nO") == 6
    assert "nI" not in chain(Dropout(), Linear(2)).dims


def test_concatenate_of_none_one_and_noop_with_layers():
    assert concatenate().name == "noop" and concatenate().layers == []
    single = Linear(2)
    assert concatenate(single) is single
    X = numpy.asarray([1.0, 2.0, 3.0], dtype="f")
    model = noop(Linear(), Linear())
    assert len(model.layers) == 2
    model.initialize(X, X)
    Y, backprop = model(X, is_train=True)
    assert Y is X and backprop(X) is X


def test_dropout_of_one_zeroes_values_and_gradients_and_takes_lists():
    X = sample(4, 3) + 2.0
    Y, backprop = Dropout(1.0).begin_update(X)
    assert not Y.any() and not backprop(sample(4, 3)).any()
    with pytest.raises(ValueError, match=r"Dropout rate must be a number in \[0, 1\]"):
        Dropout(-0.1)
    Ys, backprop_list = Dropout(0.5).begin_update([X, X[:2]])
    assert isinstance(Ys, list) and [y.shape for y in Ys] == [(4, 3), (2, 3)]
    dXs = backprop_list([numpy.ones_like(y) for y in Ys])
    numpy.testing.assert_array_equal(dXs[0], (Ys[0] != 0) * 2.0)


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_softmax_v2_temperature(helpers, temperature):
    from thinc_fast.api import Softmax_v2

    X = sample(5, 4)
    T = to_categorical(numpy.array([0, 2, 1, 2, 0]), n_classes=3)
    model = Softmax_v2(temperature=temperature,
                       init_W=lambda ops, shape: ops.asarray(rng.standard_normal(shape), dtype="f"))
    model.initialize(X=X, Y=T)
    assert model.attrs["softmax_temperature"] == temperature
    helpers.check_layer_gradients(
        model, X, lambda p, X: helpers.softmax64(affine(p, 0, X) / temperature),
        loss="xent", targets=T)


def test_softmax_v2_logits_and_bad_temperature():
    from thinc_fast.api import Softmax_v2

    X = sample(3, 4)
    model = Softmax_v2(normalize_outputs=False).initialize(X=X, Y=sample(3, 2))
    Y, backprop = model(X, is_train=False)
    with pytest.raises(ValueError, match="backprop is not supported for an unnormalized Softmax"):
        backprop(numpy.zeros_like(Y))
    Y, backprop = model(X, is_train=True)
    assert not backprop(numpy.zeros_like(Y)).any()
    with pytest.raises(ValueError, match="softmax temperature must not be zero or negative"):
        Softmax_v2(temperature=0.0)
    model.attrs["softmax_temperature"] = -1.0
    with pytest.raises(ValueError, match="softmax temperature"):
        model.predict(X)


@pytest.mark.parametrize("name", ["Linear.v1", "Relu.v1", "Maxout.v1", "Softmax.v1",
                                  "Softmax.v2", "LayerNorm.v1", "Dropout.v1"])
def test_registry_fill_gives_json_and_the_layer_trains(name):
    import json

    from thinc_fast.api import registry

    filled = registry.fill({"config": {"@layers": name}})
    json.dumps(filled)
    if "init_W" in filled["config"]:
        assert filled["config"]["init_W"] is None
    model = registry.resolve({"config": {"@layers": name}})["config"]
    X = sample(3, 4)
    model.initialize(X, X)
    Y, backprop = model(X, is_train=True)
    assert Y.shape == (3, 4) and backprop(Y).shape == (3, 4)


# ------------------------------------------------- dense layers with other activations
def _erf64(x):
    import math

    return numpy.vectorize(math.erf)(x)


def _sigmoid64(x):
    return 1.0 / (1.0 + numpy.exp(-x))


ACTIVATIONS = {
    "Dish": lambda z: 0.5 * z * (1.0 + z / numpy.sqrt(1.0 + z * z)),
    "Gelu": lambda z: 0.5 * z * (1.0 + _erf64(z / numpy.sqrt(2.0))),
    "HardSwish": lambda z: z * numpy.clip(0.2 * z + 0.5, 0.0, 1.0),
    "HardSwishMobilenet": lambda z: z * numpy.clip(z + 3.0, 0.0, 6.0) / 6.0,
    "Mish": lambda z: z * numpy.tanh(numpy.log1p(numpy.exp(z))),
    "Swish": lambda z: z * _sigmoid64(z),
    "Sigmoid": _sigmoid64,
    "ClippedLinear": lambda z: numpy.clip(z * 1.5 - 0.25, -0.5, 0.75),
    "HardSigmoid": lambda z: numpy.clip(0.2 * z + 0.5, 0.0, 1.0),
    "HardTanh": lambda z: numpy.clip(z, -1.0, 1.0),
    "ReluK": lambda z: numpy.clip(z, 0.0, 2.0),
}
SETTINGS = {"ClippedLinear": {"slope": 1.5, "offset": -0.25, "min_val": -0.5, "max_val": 0.75},
            "ReluK": {"k": 2.0}}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_dense_activation_layers(helpers, name):
    import thinc_fast.api as api

    X = sample(6, 4) * 2.0
    make = getattr(api, name)
    model = make(5, init_W=lambda ops, shape: ops.asarray(rng.standard_normal(shape), dtype="f"),
                 **SETTINGS.get(name, {}))
    model.initialize(X=X)
    model.set_param("b", rng.standard_normal(5) * 0.5)
    assert model.get_param("W").shape == (5, 4)
    helpers.check_layer_gradients(model, X, lambda p, X: ACTIVATIONS[name](affine(p, 0, X)),
                                  atol=5e-4)


@pytest.mark.parametrize("name,layer_name,default_W", [
    ("Dish", "dish", "normal"), ("Gelu", "gelu", "normal"), ("HardSwish", "hardswish", "normal"),
    ("HardSwishMobilenet", "hardswishmobilenet", "normal"), ("Swish", "swish", "normal"),
    ("Mish", "mish", "uniform"), ("Sigmoid", "sigmoid", "zero"),
    ("HardTanh", "clipped_linear", "uniform"), ("ReluK", "clipped_linear", "uniform"),
])
def test_dense_activation_names_defaults_and_wrappers(name, layer_name, default_W):
    import thinc_fast.api as api

    X, Y = sample(8, 50), sample(8, 40)
    model = getattr(api, name)().initialize(X=X, Y=Y)
    assert model.name == layer_name and model.get_dim("nO") == 40
    W = model.get_param("W")
    if default_W == "zero":
        assert not W.any()
    elif default_W == "normal":
        assert W.std() == pytest.approx((2 / 50) ** 0.5, rel=0.1)
    else:
        assert abs(W).max() <= (6 / 90) ** 0.5
    if name != "Sigmoid":
        wrapped = getattr(api, name)(normalize=True, dropout=0.1)
        assert [n.name for n in wrapped.walk(order="dfs_post")][-5:-1] == [
            layer_name, "layernorm", f"{layer_name}>>layernorm", "dropout"]
        wrapped.initialize(X=X, Y=Y)
        assert wrapped.predict(X).shape == (8, 40)


def test_clipped_linear_settings_are_attrs_and_checked():
    from thinc_fast.api import ClippedLinear, HardSigmoid

    assert HardSigmoid().attrs == {"slope": 0.2, "offset": 0.5, "min_val": 0.0, "max_val": 1.0}
    with pytest.raises(ValueError, match="min_val=1.0 must be below max_val=1.0"):
        ClippedLinear(min_val=1.0)
    with pytest.raises(ValueError, match="slope must not be zero"):
        ClippedLinear(slope=0.0)


def test_parameter_free_activations(helpers):
    from thinc_fast.api import Logistic, sigmoid_activation, softmax_activation

    X = sample(4, 3)
    for make in (Logistic, sigmoid_activation):
        model = make()
        helpers.check_layer_gradients(model, X, lambda p, X: _sigmoid64(X))
    helpers.check_layer_gradients(softmax_activation(), X, lambda p, X: helpers.softmax64(X))
    X3 = sample(6, 4).reshape(2, 3, 4)
    Y, backprop = sigmoid_activation().begin_update(X3)
    assert Y.shape == (2, 3, 4) and backprop(Y).shape == (2, 3, 4)
    with pytest.raises(TypeError, match="float array"):
        Logistic().predict(numpy.zeros((2, 2), dtype="i"))


def test_relu_propagates_nan_as_thinc_does():
    """Thinc zeroes only outputs <= 0: a NaN input row stays NaN (it is not
    turned into a plausible prediction) and a NaN output passes its gradient.
    -inf and -0.0 become 0."""
    from thinc_fast.api import NumpyOps, Relu

    X = numpy.array([[numpy.nan, -1, 2, numpy.inf, -numpy.inf], [1, -2, 3, -0.0, 5]], "f")
    model = Relu(5, 5).initialize(X=X)
    model.set_param("W", numpy.eye(5, dtype="f"))
    model.set_param("b", numpy.zeros(5, dtype="f"))
    Y, backprop = model.begin_update(X)
    assert numpy.isnan(Y[0]).all(), "one NaN input reaches every unit of the row"
    numpy.testing.assert_array_equal(Y[1], [1, 0, 3, 0, 5])
    dX = backprop(numpy.ones_like(Y))
    numpy.testing.assert_array_equal(dX, [[1, 1, 1, 1, 1], [1, 0, 1, 0, 1]])
    ops = NumpyOps()
    Z = numpy.array([numpy.nan, -numpy.inf, -1, 0, 2], "f")
    numpy.testing.assert_array_equal(ops.relu(Z), [numpy.nan, 0, 0, 0, 2])
    numpy.testing.assert_array_equal(ops.backprop_relu(numpy.ones(5, "f"), ops.relu(Z)),
                                     [1, 0, 0, 0, 1])
