"""The README's training loop learns the 8x8 handwritten digits, and
thinc-fast train's [training] settings (the loss)."""
import json

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


# ------------------------------------------------------ [training] loss
DEFAULT_LOSS = '[training.loss]\n@losses = "SummedCrossentropy.v1"\n'


def _run(tmp_path, name, loss=DEFAULT_LOSS):
    """A one-epoch run of a small MLP on the digits, in-process; `loss`
    replaces the default config's ``[training.loss]`` block ("": none).
    Returns its folder."""
    from thinc_fast.training import DEFAULT_CONFIG, train as run_training

    assert DEFAULT_LOSS in DEFAULT_CONFIG
    cfg = tmp_path / f"{name}.cfg"
    cfg.write_text(DEFAULT_CONFIG.replace("nO = 128", "nO = 16").replace("nO = 64", "nO = 8")
                   .replace("max_epochs = 20", "max_epochs = 1").replace(DEFAULT_LOSS, loss))
    out = tmp_path / name
    run_training(cfg, out, show_progress=False, log=lambda line: None)
    return out


def _params(folder):
    with numpy.load(folder / "model-last" / "model.bin", allow_pickle=False) as data:
        return {k: data[k].tobytes() for k in data.files if k != "__header__"}


def _metrics(folder):
    return [{k: v for k, v in json.loads(line).items() if k != "examples_per_s"}
            for line in (folder / "metrics.jsonl").read_text().splitlines()]


def test_the_default_config_is_written_from_the_settings_table():
    from thinc_fast.config import Config
    from thinc_fast.training import DEFAULT_CONFIG, TRAINING_DEFAULTS, TRAINING_SETTINGS

    section = Config().from_str(DEFAULT_CONFIG)["training"]
    assert section == TRAINING_DEFAULTS
    assert list(section) == [setting.name for setting in TRAINING_SETTINGS]
    assert TRAINING_DEFAULTS["loss"] == {"@losses": "SummedCrossentropy.v1"}


def test_an_explicit_loss_trains_the_same_bits_as_the_default(tmp_path):
    """The default config names SummedCrossentropy.v1; a config without
    [training.loss] (every config written before the key) trains with it too,
    and its run's config.cfg stays as it was given."""
    named, without = _run(tmp_path, "named"), _run(tmp_path, "without", loss="")
    assert "[training.loss]" not in (without / "config.cfg").read_text()
    assert _params(named) == _params(without)
    assert _metrics(named) == _metrics(without)


@pytest.fixture
def register_loss():
    """``register_loss(name, func)`` adds a loss to the registry for one test
    (removed after it: other tests list the registered losses)."""
    import catalogue

    from thinc_fast.config import registry

    names = []

    def register(name, func):
        registry.losses.register(name, func=func)
        names.append(name)

    yield register
    for name in names:
        catalogue._remove(registry.losses.namespace + (name,))


def test_a_loss_of_ones_own_trains_in_process(tmp_path, register_loss):
    """A loss registered in this process is the one the steps and the dev
    evaluation use, built with the block's settings."""
    from thinc_fast.loss import SummedCrossentropy

    calls = []

    class Counted(SummedCrossentropy):
        def __init__(self, scale):
            super().__init__()
            self.scale = scale

        def __call__(self, guesses, truths):
            calls.append("step")
            d_guesses, value = super().__call__(guesses, truths)
            return d_guesses * self.scale, value

        def get_loss(self, guesses, truths):
            calls.append("dev")
            return super().get_loss(guesses, truths)

    def make_counted(scale: float = 1.0):
        return Counted(scale)

    register_loss("test_counted.v1", make_counted)
    plain = _run(tmp_path, "plain", loss='[training.loss]\n@losses = "test_counted.v1"\n')
    assert calls.count("step") == 45 and "dev" in calls  # 1437 rows / 32 a batch: 45 steps
    assert _params(plain) == _params(_run(tmp_path, "default"))
    halved = _run(tmp_path, "halved", loss='[training.loss]\n@losses = "test_counted.v1"\n'
                  "scale = 0.5\n")
    assert _params(halved) != _params(plain)


@pytest.mark.parametrize("block, message", [
    ('@losses = "CategoricalCrossentropy.v3"',
     "[training.loss] cannot be used for training: CategoricalCrossentropy normalizes"),
    ('@losses = "CategoricalCrossentropy.v3"\nnormalize = true',
     'set normalize = false, or use @losses = "SummedCrossentropy.v1"'),
    ('@layers = "Relu.v1"', "[training.loss] cannot be used for training: it built a Model"),
    ('@losses = "SumedCrossentropy.v1"', "did you mean 'SummedCrossentropy.v1'"),
    ('@losses = "SummedCrossentropy.v1"\nnormalize = false', "normalize"),
], ids=["normalizing", "normalize-true", "not-a-loss", "misspelt", "bad-argument"])
def test_a_loss_that_cannot_train_is_refused_naming_the_key(tmp_path, block, message):
    from thinc_fast.errors import UserError

    with pytest.raises(UserError) as err:
        _run(tmp_path, "bad", loss=f"[training.loss]\n{block}\n")
    assert str(tmp_path / "bad.cfg") in str(err.value)
    assert "[training.loss]" in str(err.value) or "training.loss ->" in str(err.value)
    assert message in str(err.value), str(err.value)
    assert not (tmp_path / "bad").exists(), "refused before anything is written"
