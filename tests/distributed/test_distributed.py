"""Data-parallel training on a real local Ray cluster (2 workers).

The GLOO tests need torch (CPU build: pip install torch==2.13.0 here, or
pip install torch --index-url https://download.pytorch.org/whl/cpu); without
it they skip and the object-store path is tested alone.
"""
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy
import pytest

ray = pytest.importorskip("ray")

from thinc_fast.api import Config, fix_random_seed, registry  # noqa: E402
from thinc_fast.datasets import digits  # noqa: E402
from thinc_fast.distributed import Plan, RayTrainer, RayUnavailableError  # noqa: E402
from thinc_fast.distributed import ray as ray_backend  # noqa: E402
from thinc_fast.loss import CategoricalCrossentropy  # noqa: E402
from configs import mlp_config  # noqa: E402

pytestmark = pytest.mark.ray
HAVE_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAVE_TORCH, reason="GLOO allreduce needs torch (CPU build)")

CONFIG = mlp_config([32], dropout=0.2, learn_rate={
    "@schedules": "warmup_linear.v1", "initial_rate": 0.01, "warmup_steps": 3, "total_steps": 100})
NO_DROPOUT = CONFIG.replace("dropout = 0.2\n", "")
PLAN = Plan(shards=2, shard_size=32, threads=1, seed=0)


def cli(*args, cwd, timeout=240):
    return subprocess.run([sys.executable, "-m", "thinc_fast", "train", "-q", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=cwd)


def metrics(folder):
    rows = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    for row in rows:
        row.pop("examples_per_s")
    return rows


def test_cli_relative_data_path_with_and_without_workers(tmp_path):
    # first in the file: runs its own local cluster before this module starts one.
    # A config naming its data relative to the working directory trains the
    # same way in-process and with --workers (the workers never load the file)
    train_X, train_Y, dev_X, dev_Y = digits()
    numpy.savez(tmp_path / "data.npz", X=train_X, Y=train_Y.argmax(1), X_dev=dev_X,
                Y_dev=dev_Y.argmax(1))
    from thinc_fast.training import DEFAULT_CONFIG

    config = DEFAULT_CONFIG.replace('@datasets = "digits.v1"\ndev_fraction = 0.2\nseed = 0',
                                    '@datasets = "npz.v1"\npath = "data.npz"')
    assert 'path = "data.npz"' in config
    (tmp_path / "train.cfg").write_text(config)
    local = cli("train.cfg", "-o", "local", "--set", "training.max_epochs=1", cwd=tmp_path)
    assert local.returncode == 0, local.stderr[-3000:]
    result = cli("train.cfg", "-o", "ray", "--workers", "2", "--set", "training.max_epochs=2",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Training on 2 Ray workers" in result.stdout
    rows = metrics(tmp_path / "ray")
    assert len(rows) == 2 and rows[-1]["dev_acc"] > 0.7
    assert (tmp_path / "ray" / "model-best" / "model.bin").is_file()


@pytest.fixture(scope="module")
def cluster():
    ray_backend.start_local_cluster(ray, num_cpus=2)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def data():
    train_X, train_Y, _, _ = digits()
    rng = numpy.random.default_rng(0)
    batches = [rng.integers(0, len(train_X), 64) for _ in range(12)]
    return train_X, train_Y, batches


def build(train_X, train_Y, config=CONFIG):
    fix_random_seed(0)
    resolved = registry.resolve(Config().from_str(config))
    model, optimizer = resolved["model"], resolved["optimizer"]
    model.initialize(X=train_X[:5], Y=train_Y[:5])
    return model, optimizer


def train(data, workers, *, config=CONFIG, kill=None, on_failure="restart",
          exchange="auto", plan=PLAN, **options):
    """12 global batches in chunks of 4 on `workers` workers; with `kill`, the
    second worker's process is SIGKILLed from a thread as the second chunk starts
    (after a warm spare is ready, as in a long run, when there is one).
    options: RayTrainer's (overlap, bucket_bytes)."""
    train_X, train_Y, batches = data
    model, optimizer = build(train_X, train_Y, config)
    trainer = RayTrainer(config, model, optimizer, train_X, train_Y, workers, plan=plan,
                         on_failure=on_failure, exchange=exchange, log=lambda message: None,
                         **options)
    try:
        losses = trainer.run(batches[:4], 0)
        if kill:
            if trainer._spare is not None:
                ray.get(trainer._spare.pid.remote())
            pid = trainer.worker_pids()[1]
            threading.Timer(0.002, os.kill, (pid, signal.SIGKILL)).start()
        losses += trainer.run(batches[4:8], 4) + trainer.run(batches[8:], 8)
        trainer.sync_driver()
        return {"params": model.arena.params.copy(), "stats": trainer.exchange_stats(),
                "losses": losses, "checksums": trainer.checksums(), "events": trainer.events,
                "recoveries": trainer.recoveries, "exchange": trainer.exchange,
                "optimizer": optimizer, "workers": len(trainer.workers)}
    finally:
        trainer.shutdown()


_runs = {}


def reference(data, key):
    """Runs shared by several tests (each costs seconds of actor start-up)."""
    if key not in _runs:
        workers, exchange = key
        _runs[key] = train(data, workers, exchange=exchange)
    return _runs[key]


def test_object_store_path_equals_one_worker_with_dropout(cluster, data):
    one = reference(data, (1, "auto"))
    two = reference(data, (2, "object_store"))
    assert two["exchange"] == "object_store"
    assert two["params"].tobytes() == one["params"].tobytes()
    assert two["losses"] == one["losses"]
    assert len(set(two["checksums"])) == 1 and len(two["checksums"]) == 3


@needs_torch
def test_gloo_allreduce_equals_object_store_and_one_worker(cluster, data):
    gloo = reference(data, (2, "auto"))
    assert gloo["exchange"] == "gloo"
    assert gloo["params"].tobytes() == reference(data, (1, "auto"))["params"].tobytes()
    assert gloo["losses"] == reference(data, (2, "object_store"))["losses"]
    assert len(set(gloo["checksums"])) == 1 and gloo["events"] == []


def test_shards_sum_to_the_global_batch_gradient(cluster, data):
    # without dropout, 2 shards give (up to float sums in another order) the
    # parameters of one process training on the whole global batch
    train_X, train_Y, batches = data
    single, optimizer = build(train_X, train_Y, NO_DROPOUT)
    for idx in batches:
        Yh, backprop = single.begin_update(train_X[idx])
        backprop(Yh - train_Y[idx])
        single.finish_update(optimizer)
        optimizer.step_schedules()
    run = train(data, 1, config=NO_DROPOUT)
    numpy.testing.assert_allclose(run["params"], single.arena.params, rtol=1e-5, atol=1e-6)
    assert run["optimizer"].learn_rate == optimizer.learn_rate


@needs_torch
def test_sigkilled_worker_costs_no_step_and_changes_nothing(cluster, data):
    # killed while the buckets of the overlapped exchange are in flight (small
    # buckets: 4 of them), against an undisturbed run with one bucket
    undisturbed = reference(data, (2, "auto"))
    run = train(data, 2, kill=True, bucket_bytes=SMALL_BUCKETS)
    assert run["params"].tobytes() == undisturbed["params"].tobytes()
    assert run["losses"] == undisturbed["losses"]
    assert len(set(run["checksums"])) == 1 and len(run["checksums"]) == 3
    assert any("lost" in e for e in run["events"]), run["events"]
    assert len(run["recoveries"]) == 1 and run["recoveries"][0] < 5.0, run["events"]


def test_shrink_goes_on_with_the_survivor(cluster, data):
    undisturbed = reference(data, (1, "auto"))
    run = train(data, 2, kill=True, on_failure="shrink",
                exchange="object_store")
    assert run["params"].tobytes() == undisturbed["params"].tobytes()
    assert run["losses"] == undisturbed["losses"]
    assert run["workers"] == 1
    assert any("going on with 1 worker(s)" in e for e in run["events"]), run["events"]


def test_resume_after_ctrl_c_with_dropout_is_identical(cluster, tmp_path):
    # dropout seeds come from (seed, global step, shard), the
    # step from the loop's checkpointed state; the shard plan is in the checkpoint
    from thinc_fast.errors import TrainingInterrupted
    from thinc_fast.training import train as run_training

    # 90 steps an epoch; the first evaluation (step 50) is mid-epoch, and Ctrl-C
    # during it stops the run right after it
    settings = {"training.max_epochs": 2, "training.batch_size": 8,
                "training.eval_frequency": 50}
    run_training(None, tmp_path / "a", overrides=dict(settings), workers=2,
                 show_progress=False, log=lambda line: None)

    def interrupt_after_first_evaluation(line):
        if line.lstrip().startswith("0 "):  # the first metrics row
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(TrainingInterrupted):
        run_training(None, tmp_path / "b", overrides=dict(settings), workers=2,
                     show_progress=False, log=interrupt_after_first_evaluation)
    progress = json.loads((tmp_path / "b" / "model-last" / "meta.json").read_text())
    assert 0 < progress["step"] < 180 and progress["step"] % 90, progress  # mid-epoch
    summary = run_training(None, tmp_path / "b", resume=True, workers=2, show_progress=False,
                           log=lambda line: None)
    assert summary["steps"] == 180
    for name in ("model-last", "model-best"):
        assert (tmp_path / "a" / name / "model.bin").read_bytes() == \
            (tmp_path / "b" / name / "model.bin").read_bytes()
    assert metrics(tmp_path / "a") == metrics(tmp_path / "b")
    with pytest.raises(Exception, match="resume it with --workers N"):
        run_training(None, tmp_path / "b", resume=True, overrides={"training.max_epochs": 3},
                     show_progress=False, log=lambda line: None)


def test_the_workers_train_with_the_configs_loss(cluster, tmp_path):
    """[training.loss] reaches the workers: a registered loss with 1000 times
    the summed cross-entropy's value shows in the workers' training loss (and
    in the driver's dev loss); per example the plain one is at most ~21."""
    import catalogue

    from thinc_fast.loss import SummedCrossentropy
    from thinc_fast.training import DEFAULT_CONFIG
    from thinc_fast.training import train as run_training

    class Thousandfold(SummedCrossentropy):  # local: Ray copies it to the workers by value
        def __call__(self, guesses, truths):
            d_guesses, value = super().__call__(guesses, truths)
            return d_guesses, 1000.0 * value

        def get_loss(self, guesses, truths):
            return 1000.0 * super().get_loss(guesses, truths)

    def make_thousandfold():
        return Thousandfold()

    name = "test_thousandfold_ray.v1"
    registry.losses.register(name, func=make_thousandfold)
    cfg = tmp_path / "own.cfg"
    cfg.write_text(DEFAULT_CONFIG.replace('"SummedCrossentropy.v1"', f'"{name}"'))
    try:
        run_training(cfg, tmp_path / "run", overrides={"training.max_epochs": 1}, workers=2,
                     show_progress=False, log=lambda line: None)
    finally:  # other tests list the registered losses
        catalogue._remove(registry.losses.namespace + (name,))
    row = metrics(tmp_path / "run")[-1]
    assert row["loss"] > 50 and row["dev_loss"] > 50, row
    assert row["dev_acc"] > 0.5, row


def test_local_cluster_binds_to_loopback_without_usage_stats(cluster):
    assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
    assert ray.util.get_node_ip_address() == "127.0.0.1"
    # the cluster's own processes run with usage statistics off (and, as a
    # variable set only around ray.init, it does not leak into later children)
    node = ray._private.worker._global_node
    pids = [info.process.pid for infos in node.all_processes.values() for info in infos]
    assert pids
    for pid in pids:
        assert b"RAY_USAGE_STATS_ENABLED=0" in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    try:
        listening = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True).stdout
    except FileNotFoundError:
        return
    ours = [line.split()[3] for line in listening.splitlines()
            if any(f"pid={pid}," in line for pid in pids)]
    assert ours and all("127.0.0.1" in address for address in ours), ours


def test_exchange_info_says_which_path(monkeypatch):
    from thinc_fast import distributed

    monkeypatch.setattr(ray_backend, "torch_version", lambda: "2.13.0+cpu")
    assert "GLOO allreduce" in distributed.exchange_info()
    monkeypatch.setattr(ray_backend, "torch_version", lambda: None)
    line = distributed.exchange_info()
    assert "object store" in line and "download.pytorch.org/whl/cpu" in line


def test_bad_settings_fail_before_any_work(cluster, data, monkeypatch):
    train_X, train_Y, _ = data
    model, optimizer = build(train_X, train_Y)
    with pytest.raises(RayUnavailableError, match="more than the 2 CPUs"):
        RayTrainer(NO_DROPOUT, model, optimizer, train_X, train_Y, 3)
    with pytest.raises(ValueError, match="on_failure"):
        RayTrainer(NO_DROPOUT, model, optimizer, train_X, train_Y, 2, on_failure="pray")
    with pytest.raises(ValueError, match="RayTrainer: loss CategoricalCrossentropy normalizes"):
        RayTrainer(NO_DROPOUT, model, optimizer, train_X, train_Y, 2,
                   loss=CategoricalCrossentropy())
    with pytest.raises(RayUnavailableError, match=r"cannot split this run's 3 shards"):
        RayTrainer(NO_DROPOUT, model, optimizer, train_X, train_Y, 2,
                   plan=Plan(shards=3, shard_size=8, threads=1))
    with pytest.raises(RayUnavailableError, match="No Ray cluster answers at 127.0.0.1:9"):
        ray_backend._check_reachable("127.0.0.1:9", timeout=2)
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(RayUnavailableError,
                       match=r"needs Ray: pip install 'ray>=2.60,<3' \(thinc_fast's \[ray\] extra\)"):
        ray_backend.import_ray()


def test_tree_sum_is_the_same_for_every_power_of_two_split():
    from thinc_fast.distributed._worker import tree_sum

    rng = numpy.random.default_rng(0)
    parts = [rng.standard_normal(1000).astype("float32") * 10.0 ** rng.integers(-6, 6)
             for _ in range(8)]
    whole = tree_sum(parts)
    for workers in (1, 2, 4, 8):
        per = 8 // workers
        blocks = [tree_sum(parts[r * per:(r + 1) * per]) for r in range(workers)]
        assert tree_sum(blocks).tobytes() == whole.tobytes()
    # ... and not, in general, the left-to-right sum
    left = parts[0].copy()
    for part in parts[1:]:
        left += part
    assert left.tobytes() != whole.tobytes()


@pytest.fixture(scope="module")
def text_data(tmp_path_factory):
    from thinc_fast.datasets.text import (conllu_tagger, jsonl_textcat, make_tagger_docs,
                                          make_textcat_docs, write_conllu, write_jsonl)

    folder = tmp_path_factory.mktemp("text")
    docs, labels = make_textcat_docs(200, n_classes=3, seed=1)
    textcat = jsonl_textcat(str(write_jsonl(folder / "t.jsonl", docs, labels)))
    docs, tags = make_tagger_docs(150, n_tags=5, seed=1)
    tagger = conllu_tagger(str(write_conllu(folder / "t.conllu", docs, tags)))
    rng = numpy.random.default_rng(2)
    out = {}
    for kind, (train_X, train_Y, _, _) in (("textcat", textcat), ("tagger", tagger)):
        batches = [rng.integers(0, len(train_X), 32) for _ in range(8)]
        out[kind] = (train_X, train_Y, batches)
    return out


def _text_run(kind, data, workers, kill=False):
    from thinc_fast.training.text_configs import TAGGER_CONFIG, TEXTCAT_CONFIG

    config = TEXTCAT_CONFIG if kind == "textcat" else TAGGER_CONFIG
    train_X, train_Y, batches = data
    fix_random_seed(0)
    # [model] and [optimizer] only: the text configs' [data] names a file
    config = ray_backend.replica_config(config)
    resolved = registry.resolve(Config().from_str(config))
    model, optimizer = resolved["model"], resolved["optimizer"]
    model.initialize(X=train_X[:5], Y=train_Y[:5])
    plan = Plan(shards=2, shard_size=16, threads=1, seed=0)
    trainer = RayTrainer(config, model, optimizer, train_X, train_Y, workers, plan=plan,
                         log=lambda message: None)
    try:
        losses = trainer.run(batches[:4], 0)
        if kill:
            if trainer._spare is not None:
                ray.get(trainer._spare.pid.remote())
            os.kill(trainer.worker_pids()[1], signal.SIGKILL)
        losses += trainer.run(batches[4:], 4)
        trainer.sync_driver()
        return model.arena.params.copy(), losses, trainer.recoveries
    finally:
        trainer.shutdown()


@pytest.mark.parametrize("kind", ["textcat", "tagger"])
def test_text_models_on_workers_are_exact(cluster, text_data, kind):
    """Documents are sharded like rows: the same parameters, bit for bit, on 1
    and 2 workers for a plan of 2 shards, and after a worker is killed."""
    one_params, one_losses, _ = _text_run(kind, text_data[kind], 1)
    two_params, two_losses, _ = _text_run(kind, text_data[kind], 2)
    assert two_params.tobytes() == one_params.tobytes()
    assert two_losses == one_losses
    if kind == "textcat":
        killed_params, killed_losses, recoveries = _text_run(kind, text_data[kind], 2, kill=True)
        assert len(recoveries) >= 1, "the killed worker was replaced"
        assert killed_params.tobytes() == one_params.tobytes()
        assert killed_losses == one_losses


# ------------------------------------------- overlapping the exchange
SMALL_BUCKETS = 512  # bytes: the digits MLP's arena in 2 buckets, one per layer
FOUR_SHARDS = Plan(shards=4, shard_size=16, threads=1, seed=0)


@needs_torch
def test_overlapped_exchange_is_bit_identical_to_the_whole_arena_sum(cluster, data):
    """Buckets summed during the backward pass (2 shards per worker added
    bucket by bucket) give the bits of the whole arena summed after it, and of
    one worker computing all 4 shards."""
    overlapped = train(data, 2, plan=FOUR_SHARDS, bucket_bytes=SMALL_BUCKETS)
    whole = train(data, 2, plan=FOUR_SHARDS, overlap=False)
    one = train(data, 1, plan=FOUR_SHARDS)
    assert overlapped["params"].tobytes() == whole["params"].tobytes()
    assert overlapped["params"].tobytes() == one["params"].tobytes()
    assert overlapped["losses"] == whole["losses"] == one["losses"]
    assert len(set(overlapped["checksums"])) == 1 and overlapped["events"] == []
    for stats in overlapped["stats"]:
        assert stats["overlap"] and len(stats["timings"]) == 12
        buckets = stats["buckets"]  # (bytes, ready, summed) of the last step
        assert len(buckets) == 2 and sum(b for b, _, _ in buckets) == 4 * len(
            overlapped["params"])
        # the output layer's bucket was handed over before the backward pass ended
        assert buckets[0][1] < stats["backward_end"]
    assert not any(stats["overlap"] for stats in whole["stats"])


def _mlp():
    """Relu(5) >> Relu(4) >> Relu(2) (a Softmax starts at zero: no gradient below it)."""
    from thinc_fast.api import Relu, chain

    fix_random_seed(0)
    X = numpy.random.default_rng(0).random((6, 3), dtype="float32")
    model = chain(Relu(5), Relu(4), Relu(2)).initialize(X=X)
    return model, X


def test_gradient_buckets_are_reported_as_their_backward_finishes():
    from thinc_fast.step import GradientBuckets

    model, X = _mlp()
    arena = model.arena
    buckets = GradientBuckets(model, bucket_bytes=1)  # one layer each
    assert len(buckets) == 3 and len(arena.entries) == 6
    # together the buckets cover the arena, padding included
    assert sorted(r for lo, hi in buckets.ranges for r in range(lo, hi)) == list(range(len(arena)))
    first = model.layers[0]
    seen = []

    def ready(number):  # what the first layer's gradient holds when a bucket is reported
        seen.append((number, float(abs(first.get_grad("W")).sum())))

    model.zero_grads()
    with buckets.watch(ready):
        Yh, backprop = model.begin_update(X)
        backprop(numpy.ones_like(Yh))
    assert [n for n, _ in seen] == list(range(3))
    # the output layer's and the middle layer's buckets came before the first
    # layer had a gradient: that is the time the exchange overlaps
    assert all(g == 0.0 for n, g in seen if n < 2) and seen[-1][1] > 0
    assert buckets.ranges[0][1] == len(arena)  # the output layer is laid out last

    # bigger buckets: two layers in one (40 + 96 bytes); it waits for both
    two = GradientBuckets(model, bucket_bytes=150)
    assert len(two) == 2 and two.ranges[1][0] == 0
    order = []
    with two.watch(order.append):
        Yh, backprop = model.begin_update(X)
        backprop(Yh)
    assert order == [0, 1]


def test_gradient_buckets_report_a_dense_layer_before_its_input_gradient():
    """A dense layer says its gradients are final after dW and db, so its
    bucket is summed while its input's gradient (dZ @ W) is computed."""
    from thinc_fast.model import gradients_final
    from thinc_fast.step import GradientBuckets

    model, X = _mlp()
    first = model.layers[0]
    ops = first.ops
    gemms = []
    real_gemm = ops.gemm

    def counting_gemm(*args, **kwargs):
        gemms.append(kwargs.get("trans1", False))
        return real_gemm(*args, **kwargs)

    at_report = {}

    def ready(number):
        at_report[number] = (len(gemms), first.get_grad("W").copy(), first.get_grad("b").copy())

    buckets = GradientBuckets(model, bucket_bytes=1)  # one layer each
    model.zero_grads()
    ops.gemm = counting_gemm
    try:
        with buckets.watch(ready):
            Yh, backprop = model.begin_update(X)
            forward = len(gemms)
            dX = backprop(numpy.ones_like(Yh))
    finally:
        del ops.gemm
    assert forward == 3 and len(gemms) == 9 and dX.shape == X.shape
    # the first layer's bucket came after its dW gemm (trans1) and before its dX gemm
    count, W_grad, b_grad = at_report[2]
    assert count == 8 and gemms[7] is True and gemms[8] is False
    # ... and what was reported is final
    numpy.testing.assert_array_equal(W_grad, first.get_grad("W"))
    numpy.testing.assert_array_equal(b_grad, first.get_grad("b"))
    assert abs(W_grad).sum() > 0
    # outside a watched callback it does nothing (the first layer is not reported early)
    at_report.clear()
    with buckets.watch(ready):
        Yh, backprop = model.begin_update(X)
        gradients_final(first)
        assert at_report == {}
        backprop(numpy.ones_like(Yh))
    assert sorted(at_report) == [0, 1, 2]


def test_gradient_buckets_refuse_a_forward_after_the_backward():
    from thinc_fast.step import GradientBuckets

    model, X = _mlp()
    buckets = GradientBuckets(model, bucket_bytes=1)
    reported = []
    with pytest.raises(RuntimeError, match="ran forward again after its backward"):
        with buckets.watch(reported.append):
            Yh, backprop = model.begin_update(X)
            backprop(Yh)
            model.begin_update(X)
    # leaving by the error reports nothing more; a fresh watch starts clean
    assert reported == list(range(3))
    again = []
    with buckets.watch(again.append):
        pass  # nothing ran: every bucket is reported on leaving
    assert again == list(range(3))
    with pytest.raises(ValueError, match="bucket_bytes must be >= 1"):
        GradientBuckets(model, bucket_bytes=0)


def test_overlapped_exchange_hands_a_failed_sum_to_the_main_thread():
    from thinc_fast.distributed._overlap import OverlappedExchange

    summed = []

    def reduce(array):
        if len(summed) == 1 and array[0] == 7:
            raise ConnectionError("connection closed by peer")
        array *= 2.0  # a stand-in for the group's sum
        summed.append(len(array))

    exchange = OverlappedExchange(reduce, lambda losses: None)
    try:
        grads = numpy.arange(48, dtype="float32")
        ranges = [(32, 48), (16, 32), (0, 16)]
        exchange.start(grads, ranges)
        exchange.losses(numpy.zeros(2))
        for number in range(3):
            exchange.ready(number)
        assert exchange.finish() >= 0.0
        assert grads.tolist() == [2.0 * i for i in range(48)]  # bucket by bucket
        assert [b for b, _, _ in exchange.timeline()] == [64, 64, 64]
        # a failed sum: raised by finish, in the main thread
        summed.clear()
        grads = numpy.ones(48, dtype="float32")
        grads[16] = 7
        exchange.start(grads, ranges)
        exchange.ready(0)
        exchange.ready(1)
        with pytest.raises(ConnectionError, match="closed by peer"):
            exchange.finish(numpy.zeros(2))
        # an aborted step (the backward pass raised): the next step runs
        exchange.start(numpy.ones(48, dtype="float32"), ranges)
        exchange.ready(0)
        exchange.abort()
        grads = numpy.ones(48, dtype="float32")
        exchange.start(grads, ranges)
        exchange.finish(numpy.zeros(2))  # buckets not reported are sent now
        assert grads.tolist() == [2.0] * 48
    finally:
        exchange.close()


HALVING_CHILD = """
import sys
import numpy
import torch.distributed as dist
from thinc_fast.distributed._pair import connect_links
from thinc_fast.distributed._worker import halving_doubling_allreduce

rank, world, store = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
dist.init_process_group("gloo", init_method="file://" + store, rank=rank, world_size=world)
links = connect_links(rank, world, "127.0.0.1", 60.0)
rng = numpy.random.default_rng(rank)
mine = (rng.standard_normal(5000) * 10.0 ** rng.integers(-6, 6, 5000)).astype("float32")
whole = mine.copy()
halving_doubling_allreduce(whole, rank, world, links)
bucketed = mine.copy()
for lo, hi in [(4000, 5000), (1617, 4000), (16, 1617), (0, 16), (16, 16)]:
    halving_doubling_allreduce(bucketed[lo:hi], rank, world, links)
# the tree over ranks, from every rank's values
every = []
for r in range(world):
    g = numpy.random.default_rng(r)
    every.append((g.standard_normal(5000) * 10.0 ** g.integers(-6, 6, 5000)).astype("float32"))
tree = (every[0] + every[1]) + (every[2] + every[3])
ok = bucketed.tobytes() == whole.tobytes() == tree.tobytes()
print("same" if ok else "DIFFERENT")
dist.destroy_process_group()
"""


@needs_torch
def test_halving_doubling_by_buckets_equals_the_whole_arena(tmp_path):
    """4 processes: the recursive halving sum over their own connections,
    bucket after bucket (odd lengths, an empty one), is the sum of the whole
    buffer and the tree ``(b0 + b1) + (b2 + b3)``, bit for bit."""
    import thinc_fast

    (tmp_path / "child.py").write_text(HALVING_CHILD)
    env = dict(os.environ, PYTHONPATH=str(Path(thinc_fast.__file__).resolve().parent.parent),
               OMP_NUM_THREADS="1")
    store = str(tmp_path / "store")
    procs = [subprocess.Popen([sys.executable, "child.py", str(rank), "4", store], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for rank in range(4)]
    outs = [proc.communicate(timeout=180) for proc in procs]
    for proc, (out, err) in zip(procs, outs):
        assert proc.returncode == 0, err[-3000:]
        assert out.strip() == "same", out + err[-2000:]


PAIR_CHILD = """
import os
import sys
import numpy
import torch.distributed as dist
from thinc_fast.distributed._pair import connect_links

rank, store = int(sys.argv[1]), sys.argv[2]
dist.init_process_group("gloo", init_method="file://" + store, rank=rank, world_size=2)
link = connect_links(rank, 2, "127.0.0.1", 60.0)[1 - rank]

def data(r):
    rng = numpy.random.default_rng(r)
    values = (rng.standard_normal(300_000) * 10.0 ** rng.integers(-6, 6, 300_000)).astype("float32")
    values[:4] = [numpy.nan, -0.0, numpy.inf, 1.0]
    return values

expected = data(0) + data(1)  # the tree's one addition, rank 0's operand first
whole = data(rank)
link.allreduce(whole)
bucketed = data(rank)
for lo, hi in [(4000, 300_000), (16, 4000), (0, 16)]:
    link.allreduce(bucketed[lo:hi])
losses = numpy.zeros(4)
losses[2 * rank:2 * rank + 2] = [0.1 + rank, -0.0]
link.allreduce(losses)
ok = (whole.tobytes() == expected.tobytes() and bucketed.tobytes() == expected.tobytes()
      and losses.tolist() == [0.1, 0.0, 1.1, 0.0])
print("same" if ok else "DIFFERENT", flush=True)
dist.barrier()
if rank == 1:
    os._exit(0)  # gone without a word: rank 0's next sum must fail, not hang
try:
    link.allreduce(whole)
except ConnectionError as err:
    print("closed by peer" in str(err))
"""


@needs_torch
def test_pair_exchange_gives_both_workers_the_trees_bits(tmp_path):
    """2 processes: the sum over their own connection gives both ranks
    ``b0 + b1`` bit for bit (NaN, -0.0 and inf among the values; 1.2 MB,
    more than a socket buffer), by buckets as whole, and the float64 loss
    vector exactly; when one process dies, the other's next sum raises."""
    import thinc_fast

    (tmp_path / "child.py").write_text(PAIR_CHILD)
    env = dict(os.environ, PYTHONPATH=str(Path(thinc_fast.__file__).resolve().parent.parent),
               OMP_NUM_THREADS="1")
    store = str(tmp_path / "store")
    procs = [subprocess.Popen([sys.executable, "child.py", str(rank), store], cwd=tmp_path,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for rank in range(2)]
    outs = [proc.communicate(timeout=180) for proc in procs]
    for proc, (out, err) in zip(procs, outs):
        assert proc.returncode == 0, err[-3000:]
    assert outs[0][0].split() == ["same", "True"], outs[0][0] + outs[0][1][-2000:]
    assert outs[1][0].split() == ["same"], outs[1][0] + outs[1][1][-2000:]
