"""thinc_fast.step: one training step against a float64 NumPy reference, and its
data-parallel split (gradients only, summed, then apply_update)."""
import numpy
import pytest

from thinc_fast.api import (SGD, Adam, CategoricalCrossentropy, Linear, Maxout, Relu, Softmax,
                            chain, concatenate)
from thinc_fast.loss import SummedCrossentropy
from thinc_fast.step import StepResult, apply_update, train_step

rng = numpy.random.default_rng(11)
X = rng.standard_normal((12, 5)).astype("float32")
Y = numpy.eye(3, dtype="float32")[rng.integers(0, 3, 12)]


def make_model(seed=0):
    from thinc_fast.api import fix_random_seed

    fix_random_seed(seed)
    return chain(Relu(7), Softmax()).initialize(X=X[:4], Y=Y[:4])


def plain_sgd(lr=0.05):
    return SGD(lr, L2=0.0, grad_clip=0.0)


def reference_step(params, X, Y, lr):
    """Forward, cross-entropy gradient (P - Y, summed over rows), backprop and
    an SGD update, in float64."""
    W1, b1, W2, b2 = (p.astype("float64") for p in params)
    X, Y = X.astype("float64"), Y.astype("float64")
    H = numpy.maximum(X @ W1.T + b1, 0.0)
    Z = H @ W2.T + b2
    P = numpy.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    loss = -(Y * numpy.log(P)).sum()
    dZ = P - Y
    dW2, db2 = dZ.T @ H, dZ.sum(axis=0)
    dH = (dZ @ W2) * (H > 0)
    dW1, db1 = dH.T @ X, dH.sum(axis=0)
    new = [W1 - lr * dW1, b1 - lr * db1, W2 - lr * dW2, b2 - lr * db2]
    return loss, new


def params_of(model):
    relu, softmax = model.layers
    return [relu.get_param("W"), relu.get_param("b"), softmax.get_param("W"), softmax.get_param("b")]


def test_one_step_matches_a_float64_reference():
    model = make_model()
    before = [p.copy() for p in params_of(model)]
    expected_loss, expected = reference_step(before, X, Y, 0.05)
    result = train_step(model, plain_sgd(0.05), X, Y, SummedCrossentropy())
    assert isinstance(result, StepResult) and result.n_examples == len(X)
    assert result.loss == pytest.approx(expected_loss, rel=1e-5)
    for got, want in zip(params_of(model), expected):
        numpy.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not model.arena.grads.any(), "the update zeroes the gradients"


def test_the_step_advances_the_schedules_once():
    model, optimizer = make_model(), Adam(0.01)
    train_step(model, optimizer, X, Y, SummedCrossentropy())
    train_step(model, optimizer, X, Y, SummedCrossentropy())
    assert optimizer.step == 2


def test_update_false_leaves_weights_and_accumulates_gradients():
    model, optimizer = make_model(), plain_sgd()
    params = model.arena.params.copy()
    first = train_step(model, optimizer, X, Y, SummedCrossentropy(), update=False)
    once = model.arena.grads.copy()
    assert once.any()
    second = train_step(model, None, X, Y, SummedCrossentropy(), update=False)
    assert first.loss == second.loss
    numpy.testing.assert_array_equal(model.arena.params, params)
    numpy.testing.assert_allclose(model.arena.grads, 2 * once, rtol=1e-6, atol=1e-6)
    assert optimizer.step == 0


def test_split_batch_gradients_summed_equal_one_full_step():
    """Driver/worker split: two halves' gradients (update=False), summed, then
    apply_update on a third replica, equal one local step on the whole batch."""
    full, workers, driver = make_model(), [make_model(), make_model()], make_model()
    opt_full, opt_driver = plain_sgd(), plain_sgd()
    loss = SummedCrossentropy()
    expected = train_step(full, opt_full, X, Y, loss)
    grads, total_loss = [], 0.0
    for worker, half in zip(workers, numpy.array_split(numpy.arange(len(X)), 2)):
        worker.zero_grads()
        total_loss += train_step(worker, None, X[half], Y[half], loss, update=False).loss
        grads.append(worker.arena.grads.copy())
    apply_update(driver, opt_driver, grads[0] + grads[1])  # this replica never ran backprop
    assert total_loss == pytest.approx(expected.loss, rel=1e-5)
    numpy.testing.assert_allclose(driver.arena.params, full.arena.params, rtol=1e-5, atol=1e-7)
    assert opt_driver.step == opt_full.step == 1


def test_apply_update_rejects_a_gradient_of_the_wrong_size():
    model = make_model()
    params = model.arena.params.copy()
    with pytest.raises(ValueError, match="gradient arena of model"):
        apply_update(model, plain_sgd(), numpy.zeros(len(model.arena.grads) + 1, "f"))
    numpy.testing.assert_array_equal(model.arena.params, params)


def test_summed_crossentropy_is_unnormalized_categorical_crossentropy():
    P = Softmax().initialize(X=X, Y=Y).predict(X)
    d_ours, value = SummedCrossentropy()(P, Y)
    d_cc, _ = CategoricalCrossentropy(normalize=False)(P, Y)
    assert d_ours.tobytes() == d_cc.tobytes() == (P - Y).tobytes()
    expected = -(Y.astype("float64") * numpy.log(P.astype("float64"))).sum()
    assert value == pytest.approx(expected, rel=1e-5)
    assert SummedCrossentropy().get_loss(P, Y) == value
    labels = Y.argmax(axis=1)  # class indices give the same value
    assert SummedCrossentropy().get_loss(P, labels) == pytest.approx(value, rel=1e-6)
    with pytest.raises(TypeError, match="does not normalize"):
        SummedCrossentropy(normalize=True)


# ------------------------------------------- the input's gradient, not computed
def _manual_step(model, optimizer, X, Y, loss):
    """What train_step does, written out as a user's loop (which reads dX)."""
    guesses, backprop = model.begin_update(X)
    d_guesses, _ = loss(guesses, Y)
    dX = backprop(d_guesses)
    model.finish_update(optimizer)
    optimizer.step_schedules()
    return dX


@pytest.mark.parametrize("make", [
    lambda: chain(Relu(7), Relu(6), Softmax()),
    lambda: chain(chain(Maxout(6, nP=3), Relu(5)), Softmax()),
    lambda: Softmax(),
    lambda: chain(Relu(7, dropout=0.0, normalize=True), Softmax()),
    lambda: chain(concatenate(Linear(3), Linear(2)), Softmax()),
], ids=["relu-chain", "maxout-nested", "softmax-alone", "relu-normalize", "concatenate"])
def test_train_step_skips_only_the_dropped_input_gradient(make):
    """train_step computes no gradient for its input X (the layer that takes
    the batch skips dZ @ W), and its updates are bit for bit those of a loop
    that computes and reads it."""
    from thinc_fast.api import fix_random_seed

    fix_random_seed(3)
    fast = make().initialize(X=X[:4], Y=Y[:4])
    fix_random_seed(3)
    full = make().initialize(X=X[:4], Y=Y[:4])
    opt_fast, opt_full = Adam(0.01), Adam(0.01)
    loss = SummedCrossentropy()
    for _ in range(3):
        train_step(fast, opt_fast, X, Y, loss)
        dX = _manual_step(full, opt_full, X, Y, loss)
        assert dX.shape == X.shape and numpy.isfinite(dX).all()
    assert numpy.array_equal(fast.arena.params, full.arena.params)
    assert not numpy.array_equal(full.arena.params, make().initialize(X=X[:4], Y=Y[:4]).arena.params)


def test_input_gradient_unread_applies_to_that_node_and_that_input_only():
    from thinc_fast.model import input_gradient_unread
    from thinc_fast.step import input_layer

    model = chain(chain(Relu(7), Relu(6)), Softmax()).initialize(X=X[:4], Y=Y[:4])
    first = input_layer(model)
    assert first is model.layers[0].layers[0]
    dY = numpy.ones((len(X), 3), dtype="float32")

    def input_gradient(node, X_marked, X_run):
        with input_gradient_unread(node, X_marked):
            _, backprop = model.begin_update(X_run)
            return backprop(dY)

    Xc = X.copy()
    expected = model.begin_update(X)[1](dY)
    assert input_gradient(first, X, X) is None
    # an equal copy, another node (the second Relu sees another input anyway),
    # the root: computed, and the same numbers
    for node, marked in ((first, Xc), (model.layers[0].layers[1], X), (model, X)):
        got = input_gradient(node, marked, X)
        assert got is not None and numpy.array_equal(got, expected)
    # outside the block: computed again
    assert numpy.array_equal(model.begin_update(X)[1](dY), expected)


def test_input_layer_stops_at_other_combinators():
    """concatenate sums its branches' input gradients: the walk stops there
    (the bit-for-bit test above runs a step through it)."""
    from thinc_fast.api import Linear, concatenate
    from thinc_fast.step import input_layer

    both = concatenate(Linear(3), Linear(2))
    assert input_layer(chain(both, Softmax())) is both
    assert input_layer(chain(chain(both, Relu(4)), Softmax())) is both


def test_train_step_runs_one_gemm_fewer_than_a_loop_reading_dx(monkeypatch):
    """Three dense layers: forward, dW and dX gemms each (9) in a loop that
    reads dX; train_step leaves out the first layer's dX (8)."""
    model = chain(Relu(7), Relu(6), Softmax()).initialize(X=X[:4], Y=Y[:4])
    ops = model.ops
    calls = []
    gemm = ops.gemm
    monkeypatch.setattr(ops, "gemm", lambda *a, **k: calls.append(1) or gemm(*a, **k))
    loss = SummedCrossentropy()
    _manual_step(model, Adam(0.01), X, Y, loss)
    in_loop = len(calls)
    calls.clear()
    train_step(model, Adam(0.01), X, Y, loss)
    assert (in_loop, len(calls)) == (9, 8)
