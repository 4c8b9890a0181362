"""The README's training loop learns the 8x8 handwritten digits."""
import numpy
import pytest

from thinc_fast.api import Adam, Relu, Softmax, chain, fix_random_seed, minibatch, to_categorical

@pytest.fixture(scope="module")
def digits():
    # the 8x8 digits thinc_fast ships: the same arrays as scikit-learn's load_digits()
    from thinc_fast.datasets import DIGITS_PATH

    with numpy.load(DIGITS_PATH, allow_pickle=False) as data:
        X = (data["X"].astype("float64") / 16.0).astype("float32")
        Y = to_categorical(data["y"].astype("int64"))
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
    # a key added since (None: no tie-break loss recorded) and the old ones unchanged
    assert json.loads(json.dumps(state.to_dict())) == {**OLD_PROGRESS, "best_dev_loss": None}
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


def test_a_tie_with_a_lower_dev_loss_is_an_improvement():
    """On a small dev set the accuracy moves in coarse steps and can stay put
    while the model still improves: the dev loss breaks the tie."""
    from thinc_fast.training import TrainState

    state = TrainState()
    assert state.record_eval(0.5, dev_loss=1.0)
    assert state.record_eval(0.5, dev_loss=0.9) and state.best_dev_loss == 0.9
    assert not state.record_eval(0.5, dev_loss=0.95) and state.bad_evals == 1
    assert not state.record_eval(0.4, dev_loss=0.1) and state.bad_evals == 2
    assert state.record_eval(0.6, dev_loss=2.0) and state.bad_evals == 0
    lower = TrainState()  # score = dev_loss: lower is better, ties cannot be broken further
    assert lower.record_eval(0.3, higher_is_better=False, dev_loss=0.3)
    assert not lower.record_eval(0.3, higher_is_better=False, dev_loss=0.3)


def test_patience_needs_both_evaluations_and_steps_since_the_best():
    from thinc_fast.training import TrainState

    state = TrainState()
    state.step = 4
    state.record_eval(0.5)
    for step in (8, 12, 16, 20, 24):
        state.step = step
        state.record_eval(0.4)
    assert state.bad_evals == 5
    assert state.out_of_patience(5, min_steps=0)
    assert not state.out_of_patience(5, min_steps=200), "20 steps since the best: keep going"
    assert not state.out_of_patience(0, min_steps=0), "patience 0: never"
    state.step = 204
    assert state.out_of_patience(5, min_steps=200)
    assert "5 evaluations and 200 steps without a better score" in state.finished(20, 5, 200)


def test_small_data_trains_on_and_the_run_says_why_it_stopped(tmp_path):
    """120 training rows make 4 steps an epoch: the default patience (5
    evaluations) used to stop such runs after 6 epochs while the loss still
    fell. Now the run goes on (patience_min_steps), and says why it ended."""
    import subprocess
    import sys

    rng = numpy.random.default_rng(0)
    centers = rng.normal(0, 3, (3, 4))
    labels = rng.integers(0, 3, 150)
    X = (centers[labels] + rng.normal(0, 1.5, (150, 4))).astype("f")
    numpy.savez(tmp_path / "small.npz", X=X, Y=labels)
    result = subprocess.run([sys.executable, "-m", "thinc_fast", "train", "-q", "--data",
                             str(tmp_path / "small.npz")], capture_output=True, text=True,
                            cwd=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "Done: 20 epochs, 80 steps" in result.stdout, result.stdout
    assert "stopped early" not in result.stdout
    assert "Why it stopped: it completed max_epochs = 20" in result.stdout
