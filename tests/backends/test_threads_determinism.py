"""One result for any thread count: seeded training runs give bit-identical
parameters with 1, 2, 3 and 8 threads (more threads than this machine's cores
is allowed, and splits every threaded kernel differently).

Each model covers a family of kernels: dense gemms of every shape class (thin,
mid and large), the fused optimizer steps with gradient clipping (whose norm is
a threaded reduction), the sequence kernels (seq2col, maxout, reductions,
layer norm), embeddings (hash, gather/scatter) and the LSTM."""
from __future__ import annotations

import numpy
import pytest

import thinc_fast
from thinc_fast.api import (LSTM, Adam, HashEmbed, LayerNorm, Maxout, Relu, SGD,
                            Softmax, chain, expand_window, fix_random_seed, list2ragged,
                            reduce_mean, with_array, with_padded)

THREADS = (1, 2, 3, 8)


def _mlp():
    return chain(Relu(256), Relu(64), Relu(20), Softmax(10))


def _cnn():
    return chain(with_array(chain(expand_window(1), Maxout(48, nP=3), LayerNorm())),
                 list2ragged(), reduce_mean(), Softmax(10))


def _text():
    return chain(with_array(chain(HashEmbed(32, 500, seed=7), expand_window(1), Relu(32))),
                 with_padded(LSTM(16, 32)), list2ragged(), reduce_mean(), Softmax(5))


def _data(kind, rng):
    if kind == "mlp":
        X = rng.standard_normal((300, 120)).astype("f")
        return X, numpy.eye(10, dtype="f")[rng.integers(0, 10, 300)]
    if kind == "cnn":
        X = [rng.standard_normal((int(n), 40)).astype("f") for n in rng.integers(3, 40, 64)]
        return X, numpy.eye(10, dtype="f")[rng.integers(0, 10, 64)]
    X = [rng.integers(0, 10**6, int(n)).astype("uint64") for n in rng.integers(2, 25, 48)]
    return X, numpy.eye(5, dtype="f")[rng.integers(0, 5, 48)]


def _train(kind, threads, optimizer_name):
    before = thinc_fast.get_num_threads()
    thinc_fast.set_num_threads(threads)
    try:
        fix_random_seed(3)
        rng = numpy.random.default_rng(3)
        X, Y = _data(kind, rng)
        model = {"mlp": _mlp, "cnn": _cnn, "text": _text}[kind]()
        model.initialize(X=X[:8], Y=Y[:8])
        if optimizer_name == "adam":
            optimizer = Adam(0.002, grad_clip=0.5, L2=1e-4)
        else:
            optimizer = SGD(0.05, grad_clip=1.0)
        for step in range(4):
            # the MLP's batch of 300 makes its first products large enough to be split
            order = rng.permutation(len(Y))[:{"mlp": 300, "cnn": 64, "text": 32}[kind]]
            Xb = X[order] if isinstance(X, numpy.ndarray) else [X[i] for i in order]
            Yh, backprop = model.begin_update(Xb)
            backprop((Yh - Y[order]) / len(order))
            model.finish_update(optimizer)
        return {(i, name): node.get_param(name).copy() for i, node in enumerate(model.walk())
                for name in node.param_names if node.has_param(name)}
    finally:
        thinc_fast.set_num_threads(before)


@pytest.mark.parametrize("kind,optimizer_name", [("mlp", "adam"), ("mlp", "sgd"),
                                                 ("cnn", "adam"), ("text", "adam")])
def test_training_is_bit_identical_on_any_thread_count(kind, optimizer_name):
    runs = {threads: _train(kind, threads, optimizer_name) for threads in THREADS}
    reference = runs[1]
    assert reference, "the model has parameters"
    for threads, params in runs.items():
        assert params.keys() == reference.keys()
        differ = [key for key in reference if not numpy.array_equal(params[key], reference[key])]
        assert differ == [], f"{threads} threads changed {differ}"
