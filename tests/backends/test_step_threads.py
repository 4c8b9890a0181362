"""The step clock (src/include/step_threads.h): whole training steps timed on
every thread and on one, the faster way kept for a while. Its rule is pure
and tested on synthetic step times; in a real loop it must change no bit of
the result, and it must let go of the threads once training stops."""
import time

import numpy
import pytest

import thinc_fast
from thinc_fast.api import Adam, Relu, Softmax, chain, fix_random_seed
from thinc_fast.backends import numpy_ops
from thinc_fast.backends.numpy_ops import gemm_config, gemm_options, set_gemm_options

BLOCK, HOLD = 24, 40  # step_threads.h: steps per measured block, blocks held


def trace(all_us, one_us, steps):
    return numpy_ops._step_clock_trace(all_us, one_us, steps)


def test_one_thread_is_tried_for_one_block_and_kept_when_faster():
    flags = trace(100.0, 60.0, 3000)
    # the first block on every thread, the second on one, then one thread held
    assert not any(flags[:BLOCK]) and all(flags[BLOCK:2 * BLOCK])
    assert all(flags[2 * BLOCK:2 * BLOCK + HOLD * BLOCK])
    # after the hold the cycle starts again: a block on every thread
    start = 2 * BLOCK + HOLD * BLOCK
    assert not any(flags[start:start + BLOCK]) and all(flags[start + BLOCK:start + 2 * BLOCK])


def test_every_thread_is_kept_unless_one_is_clearly_faster():
    for one_us in (140.0, 100.0, 97.0):  # slower, equal, within the 5% margin
        flags = trace(100.0, one_us, 2000)
        assert flags[BLOCK:2 * BLOCK] == [True] * BLOCK  # tried
        assert not any(flags[2 * BLOCK:2 * BLOCK + HOLD * BLOCK]), one_us
    # exploring costs one block in each cycle of (2 + HOLD) blocks
    flags = trace(100.0, 150.0, (2 + HOLD) * BLOCK * 3)
    assert sum(flags) == 3 * BLOCK


def test_long_steps_are_never_tried_on_one_thread():
    assert not any(trace(1500.0, 10.0, 5000))  # over 1 ms a step: every thread


def test_disabled_clock_never_caps():
    assert not any(numpy_ops._step_clock_trace(100.0, 10.0, 500, False))


@pytest.fixture
def two_threads_clock():
    if not gemm_config()["pool_threads_supported"]:
        pytest.skip("no worker pool on this platform")
    before, options = thinc_fast.get_num_threads(), gemm_options()
    thinc_fast.set_num_threads(2)
    set_gemm_options(adaptive_split=1, step_threads=1)
    yield
    set_gemm_options(**options)
    thinc_fast.set_num_threads(before)


def _train(steps, seed=0, one_thread_from=None):
    fix_random_seed(seed)
    rng = numpy.random.default_rng(seed)
    X = rng.standard_normal((64, 20)).astype("f")
    Y = numpy.eye(4, dtype="f")[rng.integers(0, 4, 64)]
    model = chain(Relu(16), Softmax())
    model.initialize(X=X[:4], Y=Y[:4])
    opt = Adam(0.01)
    for i in range(steps):
        if i == one_thread_from:
            numpy_ops._step_clock_force_one()  # as if one thread had measured faster
        rows = slice((i * 8) % 64, (i * 8) % 64 + 8)
        Yh, backprop = model.begin_update(X[rows])
        backprop(Yh - Y[rows])
        model.finish_update(opt)
    return model


def test_training_with_the_clock_gives_the_same_bits(two_threads_clock):
    """Steps on two threads, then (from step 150) held on one, end bit for bit
    as with the clock off and as on one thread."""
    with_clock = _train(300, one_thread_from=150)
    assert gemm_config()["step_all_us"] > 0  # the first block was timed
    set_gemm_options(step_threads=0)
    without = _train(300)
    thinc_fast.set_num_threads(1)
    one = _train(300)
    for a, b, c in zip(with_clock.walk(), without.walk(), one.walk()):
        for name in a.param_names:
            pa, pb, pc = a.get_param(name), b.get_param(name), c.get_param(name)
            assert pa.tobytes() == pb.tobytes() == pc.tobytes(), (a.name, name)


def test_the_cap_lets_go_when_steps_stop(two_threads_clock):
    """A loop whose steps measured faster on one thread runs on one while it
    trains; 50 ms after its last step the kernels have every thread again,
    and set_num_threads / set_gemm_options start the cycle over."""
    numpy_ops._step_clock_force_one()
    assert numpy_ops._step_clock_capped_after(0.0) is True
    assert numpy_ops._step_clock_capped_after(49.0) is True
    assert numpy_ops._step_clock_capped_after(51.0) is False
    time.sleep(0.06)
    assert gemm_config()["step_one_thread"] is False  # the real clock: lapsed
    numpy_ops._step_clock_force_one()
    thinc_fast.set_num_threads(2)
    assert gemm_config()["step_one_thread"] is False
    numpy_ops._step_clock_force_one()
    set_gemm_options(step_threads=1)
    assert gemm_config()["step_one_thread"] is False


def test_the_clock_is_off_without_the_adaptive_split(two_threads_clock):
    set_gemm_options(adaptive_split=0)
    before = gemm_config()["step_tries"]
    _train(200)
    assert gemm_config()["step_tries"] == before
    assert gemm_config()["step_one_thread"] is False
