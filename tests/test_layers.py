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
