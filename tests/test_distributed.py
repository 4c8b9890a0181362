"""Data-parallel training on a real local Ray cluster (2 workers)."""
import os
import signal
import subprocess
import sys
import tempfile
import json

import numpy
import pytest

ray = pytest.importorskip("ray")

from thinc_fast.api import Config, fix_random_seed, registry  # noqa: E402
from thinc_fast.datasets import digits  # noqa: E402
from thinc_fast.distributed import RayTrainer, RayUnavailableError  # noqa: E402

pytestmark = pytest.mark.ray

CONFIG = """
[model]
@layers = "chain.v1"

[model.*.hidden]
@layers = "Relu.v1"
nO = 32
dropout = DROPOUT

[model.*.output]
@layers = "Softmax.v1"

[optimizer]
@optimizers = "Adam.v1"

[optimizer.learn_rate]
@schedules = "warmup_linear.v1"
initial_rate = 0.01
warmup_steps = 3
total_steps = 100
"""


@pytest.fixture(scope="module")
def data():
    train_X, train_Y, _, _ = digits()
    rng = numpy.random.default_rng(0)
    batches = [rng.integers(0, len(train_X), 64) for _ in range(12)]
    return train_X, train_Y, batches


NO_DROPOUT = CONFIG.replace("dropout = DROPOUT\n", "")
WITH_DROPOUT = CONFIG.replace("DROPOUT", "0.2")


def build(train_X, train_Y, config=NO_DROPOUT):
    fix_random_seed(0)
    resolved = registry.resolve(Config().from_str(config))
    model, optimizer = resolved["model"], resolved["optimizer"]
    model.initialize(X=train_X[:5], Y=train_Y[:5])
    return model, optimizer


def test_cli_trains_with_two_workers(tmp_path):
    # first in the file: runs its own local cluster before this module starts one
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "thinc_fast", "train", "-q", "-o", str(out),
                             "--workers", "2", "--set", "training.max_epochs=3"],
                            capture_output=True, text=True, timeout=600, cwd=tempfile.gettempdir())
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Training on 2 Ray workers" in result.stdout
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 3 and rows[-1]["dev_acc"] > 0.8
    assert (out / "model-best" / "model.bin").is_file()


@pytest.fixture(scope="module")
def cluster():
    from thinc_fast.distributed.ray import neutral_cwd

    with neutral_cwd():  # keep the checkout (uncompiled sources) off the workers' path
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def run(data, *, kill=None, on_failure="restart", steps=12, config=WITH_DROPOUT):
    """Train `steps` global batches on 2 workers (with dropout unless told
    otherwise); `kill(step, trainer)` may kill one."""
    train_X, train_Y, batches = data
    model, optimizer = build(train_X, train_Y, config)
    trainer = RayTrainer(config, model, optimizer, train_X, train_Y, 2, on_failure=on_failure,
                         checksum_every=2, log=lambda message: None)
    try:
        for step, idx in enumerate(batches[:steps]):
            if kill is not None:
                kill(step, trainer)
            trainer.step(idx)
        return model, optimizer, trainer.checksums(), list(trainer.events)
    finally:
        trainer.shutdown()


def test_two_workers_equal_one_process_with_the_global_batch(cluster, data):
    train_X, train_Y, batches = data
    single, optimizer = build(train_X, train_Y)
    for idx in batches:
        Yh, backprop = single.begin_update(train_X[idx])
        backprop(Yh - train_Y[idx])
        single.finish_update(optimizer)
        optimizer.step_schedules()
    model, dist_optimizer, checksums, events = run(data, config=NO_DROPOUT)
    numpy.testing.assert_allclose(model.arena.params, single.arena.params, rtol=1e-5, atol=1e-6)
    assert dist_optimizer.learn_rate == optimizer.learn_rate
    assert len(set(checksums)) == 1, "driver and both replicas must be identical"
    assert events == []


@pytest.mark.parametrize("how", ["ray.kill", "os.kill"])
def test_killed_worker_is_replaced_and_the_run_is_unchanged(cluster, data, how):
    undisturbed, _, _, _ = run(data)

    def kill(step, trainer):
        if step == 5:
            if how == "ray.kill":
                ray.kill(trainer.workers[0])
            else:
                os.kill(trainer.worker_pids()[1], signal.SIGKILL)

    model, _, checksums, events = run(data, kill=kill)
    assert model.arena.params.tobytes() == undisturbed.arena.params.tobytes()
    assert len(set(checksums)) == 1 and len(checksums) == 3
    # ray.kill is asynchronous: the death shows while computing step 6 or, if the
    # actor finished that shard first, while applying it; both must recover exactly
    assert any(("lost while computing at step 6" in e or "lost while applying the update" in e)
               for e in events), events
    assert any("restarted and synced" in e for e in events), events


def test_shrink_goes_on_with_the_survivor(cluster, data):
    undisturbed, _, _, _ = run(data)

    def kill(step, trainer):
        if step == 4:
            ray.kill(trainer.workers[1])

    model, _, checksums, events = run(data, kill=kill, on_failure="shrink")
    assert model.arena.params.tobytes() == undisturbed.arena.params.tobytes()
    assert len(checksums) == 2 and len(set(checksums)) == 1
    assert any("dropped; 1 workers remain" in e for e in events), events


def test_bad_settings_fail_before_any_work(cluster, data, monkeypatch):
    train_X, train_Y, _ = data
    model, optimizer = build(train_X, train_Y)
    with pytest.raises(RayUnavailableError, match="more than the 2 CPUs"):
        RayTrainer(NO_DROPOUT, model, optimizer, train_X, train_Y, 3)
    with pytest.raises(ValueError, match="on_failure"):
        RayTrainer(NO_DROPOUT, model, optimizer, train_X, train_Y, 2, on_failure="pray")
    from thinc_fast.distributed import ray as ray_backend

    with pytest.raises(RayUnavailableError, match="No Ray cluster answers at 127.0.0.1:9"):
        ray_backend._check_reachable("127.0.0.1:9", timeout=2)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RayUnavailableError, match=r"pip install 'thinc_fast\[ray\]'"):
        ray_backend.import_ray()
