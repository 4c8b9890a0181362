"""The seed's training loop learns the 8x8 handwritten digits."""
import numpy
import pytest

from thinc_fast.api import Adam, Relu, Softmax, chain, fix_random_seed, minibatch, to_categorical

sklearn_datasets = pytest.importorskip("sklearn.datasets")


@pytest.fixture(scope="module")
def digits():
    data = sklearn_datasets.load_digits()
    X = (data.data / 16.0).astype("float32")
    Y = to_categorical(data.target)
    perm = numpy.random.default_rng(0).permutation(len(X))
    train, dev = perm[:1400], perm[1400:]
    return X[train], Y[train], X[dev], Y[dev]


def train(digits, n_iter=10, batch_size=32, seed=0):
    train_X, train_Y, dev_X, dev_Y = digits
    fix_random_seed(seed)
    model = chain(Relu(64), Relu(64), Softmax())
    model.initialize(X=train_X[:5], Y=train_Y[:5])
    optimizer = Adam(0.001)
    indices = model.ops.xp.arange(train_X.shape[0], dtype="i")
    for i in range(n_iter):
        model.ops.xp.random.shuffle(indices)
        for idx_batch in minibatch(indices, size=batch_size):
            Yh, backprop = model.begin_update(train_X[idx_batch])
            backprop(Yh - train_Y[idx_batch])
            model.finish_update(optimizer)
    return model, (model.predict(dev_X).argmax(axis=1) == dev_Y.argmax(axis=1)).mean()


def test_seed_loop_learns_digits(digits):
    model, accuracy = train(digits)
    assert accuracy > 0.9, f"held-out accuracy {accuracy:.3f}"


def test_training_is_reproducible_with_a_seed(digits):
    m1, a1 = train(digits, n_iter=2, seed=3)
    m2, a2 = train(digits, n_iter=2, seed=3)
    assert a1 == a2
    numpy.testing.assert_array_equal(m1.arena.params, m2.arena.params)


# ------------------------------------------------- the CLI loop's state
OLD_PROGRESS = {"epoch": 2, "step": 90, "pos": 32, "order": [3, 1, 0, 2], "best_score": 0.88,
                "best_step": 90, "bad_evals": 1, "loss_sum": 12.5, "loss_n": 64, "examples": 64,
                "batch_size_state": None}


def test_train_state_reads_the_progress_dict_checkpoints_hold():
    import json

    from thinc_fast.training import TrainState

    state = TrainState.from_dict(json.loads(json.dumps(OLD_PROGRESS)))
    assert state.step == 90 and state.order.tolist() == [3, 1, 0, 2]
    assert json.loads(json.dumps(state.to_dict())) == OLD_PROGRESS
    assert TrainState.from_dict({}) == TrainState()
    with pytest.raises(ValueError, match="unknown keys.*'stepz'"):
        TrainState.from_dict({"stepz": 1})


def test_train_state_counts_steps_epochs_and_evaluations():
    from thinc_fast.training import TrainState

    state = TrainState(order=numpy.arange(4))
    state.record_step(3, 1.5, n_train=4)
    assert (state.pos, state.step, state.epoch, state.mean_loss()) == (3, 1, 0, 0.5)
    state.record_step(1, 0.5, n_train=4)
    assert state.epoch == 1 and state.order is None
    assert state.record_eval(0.5) and state.best_step == 2 and state.loss_n == 0
    assert not state.record_eval(0.4) and state.bad_evals == 1
