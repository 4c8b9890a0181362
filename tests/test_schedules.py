"""Schedules: first values against their formulas, argument checks, positions,
and the optimizer's two ways of scheduling a hyperparameter."""
import math

import pytest

from thinc_fast.api import (SGD, Adam, Schedule, compounding, constant, constant_then,
                            cosine_decay, cyclic_triangular, decaying, exponential_decay, join,
                            piecewise, piecewise_constant, slanted_triangular, warmup_cosine,
                            warmup_linear)


def first(schedule, n=8):
    return [next(schedule) for _ in range(n)]


def approx(values, expected):
    assert len(values) == len(expected)
    for got, want in zip(values, expected):
        assert math.isclose(got, want, rel_tol=1e-12, abs_tol=1e-15), (values, expected)


def test_seed_example_verbatim():
    def my_schedule():
        yield 0.001
        yield 0.0001

    optimizer = Adam(1.0, schedules={"learn_rate": my_schedule()})
    assert optimizer.learn_rate == 1.0
    optimizer.step_schedules(); assert optimizer.learn_rate == 0.001
    optimizer.step_schedules(); assert optimizer.learn_rate == 0.0001
    optimizer.step_schedules(); assert optimizer.learn_rate == 0.0001  # exhausted: keeps last


def test_generator_passed_as_hyperparameter_starts_at_once():
    def rates():
        value = 0.1
        while True:
            yield value
            value /= 2

    opt = Adam(learn_rate=rates())
    assert opt.learn_rate == 0.1
    opt.step_schedules()
    assert opt.learn_rate == 0.05
    opt2 = SGD(warmup_linear(1.0, 2, 4))
    assert [opt2.learn_rate] + [(opt2.step_schedules(), opt2.learn_rate)[1] for _ in range(4)] == \
        [0.0, 0.5, 1.0, 0.5, 0.0]


@pytest.mark.parametrize("name", ["beta1", "L2", "grad_clip", "eps", "b2"])
def test_any_hyperparameter_can_be_scheduled(name):
    values = {"beta1": [0.5, 0.8], "L2": [0.0, 0.01], "grad_clip": [1.0, 5.0], "eps": [1e-8, 1e-6],
              "b2": [0.99, 0.995]}[name]
    opt = Adam(0.001, schedules={name: iter(values)})
    opt.step_schedules()
    attr = {"beta1": "b1", "b2": "b2"}.get(name, name)
    assert getattr(opt, attr) == values[0]
    opt.step_schedules()
    assert getattr(opt, attr) == values[1]


def test_bad_schedules_are_named():
    with pytest.raises(ValueError, match="unknown hyperparameter 'momentum'"):
        Adam(0.1, schedules={"momentum": iter([0.9])})
    with pytest.raises(ValueError, match=r"schedule for 'beta1'.*beta1"):
        Adam(0.1, schedules={"beta1": iter([1.5])}).step_schedules()
    with pytest.raises(ValueError, match="yields no value"):
        Adam(iter([]))
    with pytest.raises(TypeError, match="learn_rate"):
        Adam("fast")


def test_constant_and_constant_then():
    approx(first(constant(0.3), 3), [0.3] * 3)
    approx(first(constant_then(1.0, 2, decaying(0.5, 0.1)), 5),
           [1.0, 1.0, 0.5, 0.5 / 1.1, 0.5 / 1.2])


def test_decaying():
    approx(first(decaying(0.001, 1e-4)), [0.001 / (1 + 1e-4 * t) for t in range(8)])
    approx(first(decaying(1.0, 0.5, t=2.0), 2), [1 / 2.0, 1 / 2.5])


def test_compounding():
    approx(first(compounding(1.0, 10.0, 1.5)), [min(1.5 ** t, 10.0) for t in range(8)])
    approx(first(compounding(10.0, 1.0, 0.5), 6), [max(10 * 0.5 ** t, 1.0) for t in range(6)])


def test_warmup_linear():
    rate, warm, total = 0.01, 3, 8
    expected = [rate * (t / warm if t < warm else max(0.0, (total - t) / (total - warm)))
                for t in range(10)]
    approx(first(warmup_linear(rate, warm, total), 10), expected)
    assert expected[0] == 0.0 and expected[3] == rate and expected[-1] == 0.0


def test_slanted_triangular():
    max_rate, num_steps, cut_frac, ratio = 0.1, 50, 0.1, 32
    cut = int(num_steps * cut_frac)
    expected = []
    for u in range(1, 11):
        p = u / cut if u < cut else 1 - (u - cut) / (cut * (1 / cut_frac - 1))
        expected.append(max_rate * (1 + p * (ratio - 1)) / ratio)
    approx(first(slanted_triangular(max_rate, num_steps), 10), expected)
    assert max(expected) == pytest.approx(max_rate)


def test_cyclic_triangular():
    values = first(cyclic_triangular(0.1, 1.0, 4), 16)
    expected = []
    for it in range(1, 17):
        cycle = math.floor(1 + it / 8)
        expected.append(0.1 + 0.9 * max(0.0, 1 - abs(it / 4 - 2 * cycle + 1)))
    approx(values, expected)
    assert max(values) == pytest.approx(1.0) and min(values) == pytest.approx(0.1)


def test_cosine_decay():
    s = cosine_decay(2.0, 10, alpha=0.1)
    expected = [2.0 * (0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 10) / 10)) + 0.1) for t in range(13)]
    approx(first(s, 13), expected)
    assert expected[0] == pytest.approx(2.0) and expected[-1] == pytest.approx(0.2)


def test_warmup_cosine():
    s = warmup_cosine(0.0, 1.0, warmup_steps=4, decay_steps=12, end_value=0.1)
    values = first(s, 14)
    approx(values[:5], [0.0, 0.25, 0.5, 0.75, 1.0])
    approx(values[4:], [0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 8) / 8))
                        for t in range(10)])


def test_exponential_decay():
    approx(first(exponential_decay(1.0, 2, 0.5), 5), [0.5 ** (t / 2) for t in range(5)])
    approx(first(exponential_decay(1.0, 2, 0.5, staircase=True, transition_begin=1), 6),
           [1.0, 1.0, 1.0, 0.5, 0.5, 0.25])
    approx(first(exponential_decay(1.0, 1, 0.1, end_value=0.01), 4), [1.0, 0.1, 0.01, 0.01])


def test_piecewise_and_join():
    assert piecewise is piecewise_constant
    approx(first(piecewise(1.0, {2: 0.5, 4: 0.1}), 6), [1.0, 1.0, 0.5, 0.5, 0.05, 0.05])
    s = join([constant(1.0), warmup_linear(2.0, 2, 4)], [3])
    approx(first(s, 6), [1.0, 1.0, 1.0, 0.0, 1.0, 2.0])


@pytest.mark.parametrize("make,argname", [
    (lambda: warmup_linear(0.1, -1, 10), "warmup_steps"),
    (lambda: warmup_linear(0.1, 20, 10), "total_steps"),
    (lambda: decaying(0.1, -0.5), "decay"),
    (lambda: compounding(1.0, 2.0, 0.0), "compound"),
    (lambda: cyclic_triangular(0.1, 1.0, 0), "period"),
    (lambda: cosine_decay(1.0, 0), "decay_steps"),
    (lambda: cosine_decay(1.0, 10, alpha=2.0), "alpha"),
    (lambda: warmup_cosine(0.0, 1.0, 10, 5), "decay_steps"),
    (lambda: exponential_decay(1.0, 0, 0.5), "transition_steps"),
    (lambda: slanted_triangular(0.1, 0), "num_steps"),
    (lambda: constant(float("nan")), "rate"),
    (lambda: constant_then(1.0, 2, "later"), "schedule"),
    (lambda: join([constant(1.0)], [3]), "boundaries"),
    (lambda: piecewise(1.0, [(1, 0.5)]), "boundaries_and_scales"),
])
def test_schedule_arguments_are_checked_and_named(make, argname):
    with pytest.raises((ValueError, TypeError), match=f"'{argname}'"):
        make()


def test_schedules_know_their_position():
    s = warmup_linear(1.0, 4, 10)
    assert isinstance(s, Schedule) and iter(s) is s
    first(s, 3)
    assert s.step == 3
    state = s.get_state()
    fresh = warmup_linear(1.0, 4, 10)
    fresh.set_state(state)
    assert first(fresh, 5) == first(s, 5)
    assert s(2) == 0.5 and s.step == 8, "calling with a step does not move the iterator"
    with pytest.raises(ValueError, match="cannot restore"):
        constant(1.0).set_state(state)
