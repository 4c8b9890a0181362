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
           [1.0, 1.0, 0.5 / 1.2, 0.5 / 1.3, 0.5 / 1.4])  # Thinc 9: the unshifted step


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


# ------------------------------------------------------------------------------------------
# Thinc 9's interface: schedule(step, *, key=None, last_score=None), to_generator, plateau

from itertools import islice  # noqa: E402

from thinc_fast._builtins import builtins  # noqa: E402
from thinc_fast.schedules import plateau  # noqa: E402

BUILTIN_SCHEDULES = {name: func for _, name, func in builtins("schedules")}

BUILT = {
    "constant": lambda: constant(0.25),
    "constant_then": lambda: constant_then(1.0, 3, warmup_linear(2.0, 2, 6)),
    "decaying": lambda: decaying(0.01, 0.1, t=2.0),
    "compounding": lambda: compounding(1.0, 32.0, 1.5, t=1.0),
    "plateau": lambda: plateau(2, 0.5, decaying(1.0, 0.5)),
    "warmup_linear": lambda: warmup_linear(1.0, 2, 10),
    "slanted_triangular": lambda: slanted_triangular(1.0, 20.0, ratio=10),
    "cyclic_triangular": lambda: cyclic_triangular(0.1, 1.0, 2),
    "cosine_decay": lambda: cosine_decay(1.0, 5),
    "warmup_cosine": lambda: warmup_cosine(0.0, 1.0, 2, 6),
    "exponential_decay": lambda: exponential_decay(1.0, 2, 0.5),
    "piecewise_constant": lambda: piecewise_constant(1.0, {2: 0.5}),
    "join": lambda: join([constant(1.0), decaying(1.0, 1.0)], [2]),
}


def test_every_registered_schedule_is_covered():
    assert {name[:-3] for name in BUILTIN_SCHEDULES} == set(BUILT)
    assert BUILTIN_SCHEDULES["plateau.v1"] is plateau
    from thinc_fast.config import registry

    assert registry.schedules.get("plateau.v1") is plateau


@pytest.mark.parametrize("name", sorted(BUILT))
def test_call_iterator_and_generator_forms_agree(name):
    make = BUILT[name]
    called = [make()(step) for step in range(12)]
    keyword = [make()(step=step, key=(3, "W"), last_score=None) for step in range(12)]
    iterated = first(make(), 12)
    generated = list(islice(make().to_generator(), 12))
    assert called == keyword == iterated == generated
    s = make()
    assert s(5) == called[5] and s.step == 0, "calling does not move the iterator"
    assert list(islice(s.to_generator(start=3, step_size=2, key=(0, "b")), 3)) == \
        [called[3], called[5], called[7]]
    assert s.step == 0 and isinstance(s.attrs, dict) and s.args is s.attrs


def test_thinc_9_values_against_float64_formulas():
    # warmup_linear and cyclic_triangular: Thinc's own expected values
    assert [warmup_linear(1.0, 2, 10)(step=i, key=(0, "")) for i in range(11)] == \
        [0.0, 0.5, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0.0]
    assert [cyclic_triangular(0.1, 1.0, 2)(step=i) for i in range(10)] == \
        [0.55, 1.0, 0.55, 0.1, 0.55, 1.0, 0.55, 0.1, 0.55, 1.0]
    approx([decaying(0.001, 1e-4, t=1.0)(step=s) for s in range(5)],
           [0.001 / (1 + 1e-4 * (s + 1)) for s in range(5)])
    approx([compounding(1, 16, 1.01, t=2.0)(step=s) for s in range(5)],
           [min(1.01 ** (s + 2), 16.0) for s in range(5)])
    max_rate, cut_frac, ratio, t = 1.0, 0.1, 10, 1.0
    cut = int(20 * cut_frac)
    expected = []
    for s in range(8):
        u = s + t + 1
        p = u / cut if u < cut else 1 - (u - cut) / (cut * (1 / cut_frac - 1))
        expected.append(max_rate * (1 + p * (ratio - 1)) / ratio)
    approx([slanted_triangular(1.0, 20.0, ratio=10, t=1.0)(step=s) for s in range(8)], expected)
    # Thinc's offsets: t shifts the step
    assert decaying(0.001, 1e-4)(step=2) == decaying(0.001, 1e-4, t=1.0)(step=1)
    assert compounding(1, 16, 1.01)(step=2) == compounding(1, 16, 1.01, t=1.0)(step=1)
    assert slanted_triangular(1.0, 20.0, ratio=10)(step=2) == \
        slanted_triangular(1.0, 20.0, ratio=10, t=1.0)(step=1)
    assert constant_then(1.0, 2, constant(100))(step=3) == 100


def plateau_reference(max_patience, scale, inner, calls):
    """float64 reference: scale ** n_plateaus * inner(step), counting evaluations."""
    best = last_step = None
    patience = n_plateaus = 0
    out = []
    for step, last_score in calls:
        if last_score is not None:
            s_step, score = last_score
            if best is None or last_step is None or score > best:
                best, patience = score, 0
            elif s_step > last_step:
                patience += 1
                if patience == max_patience:
                    n_plateaus, patience = n_plateaus + 1, 0
            last_step = s_step
        out.append(scale ** n_plateaus * inner(step))
    return out


def test_plateau_matches_thinc_and_reference():
    calls = [(0, None), (1, (1, 1.0)), (2, (2, 1.0)), (3, None), (4, (4, 1.0)), (5, (4, 1.0)),
             (6, (6, 0.9)), (7, (7, 2.0)), (8, (8, 1.0)), (9, (9, 2.0))]
    s = plateau(2, 0.5, constant(1.0))
    got = [s(step=step, last_score=ls) for step, ls in calls]
    assert got == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.25]  # Thinc's test
    assert got == plateau_reference(2, 0.5, lambda step: 1.0, calls)
    with pytest.raises(ValueError, match=r"Expected score with step"):
        s(step=1, last_score=(1, 1.0))
    inner = lambda step: 0.1 / (1 + 0.01 * step)  # noqa: E731
    calls = [(i, (i // 3 * 3, [0.5, 0.4, 0.6, 0.6, 0.3][(i // 3) % 5])) for i in range(40)]
    s = plateau(3, 0.7, decaying(0.1, 0.01))
    approx([s(step, key=(1, "W"), last_score=ls) for step, ls in calls],
           plateau_reference(3, 0.7, inner, calls))


def test_plateau_counts_an_evaluation_once_however_often_it_is_given():
    s = plateau(1, 0.5, constant(1.0))
    s(0, last_score=(0, 1.0))
    for key in [(1, "W"), (1, "b"), (2, "W")]:  # one call per parameter, same score
        assert s(1, key=key, last_score=(1, 0.5)) == 0.5
    assert s.attrs["state"].n_plateaus == 1


def test_plateau_driven_as_an_iterator_reuses_the_last_score():
    s = plateau(1, 0.5, warmup_linear(1.0, 0, 100))
    assert next(s) == 1.0 and s.last_score is None
    assert s.advance(last_score=(1, 0.8)) == pytest.approx(0.99)
    assert s.advance(last_score=(2, 0.7)) == pytest.approx(0.5 * 0.98)  # no improvement
    assert next(s) == pytest.approx(0.5 * 0.97), "same score again: no new plateau"
    assert s.last_score == (2, 0.7) and s.step == 4
    opt = Adam(plateau(2, 0.1, constant(0.01)))
    opt.step_schedules()
    assert opt.learn_rate == 0.01


def test_plateau_state_resumes_exactly_also_nested_and_through_json():
    import json

    def make():
        return constant_then(1.0, 1, plateau(1, 0.5, warmup_linear(1.0, 2, 30)))

    s, twin = make(), make()
    scores = [None, (1, 0.5), (2, 0.4), (3, 0.6), (4, 0.6)]
    for ls in scores:
        s.advance(last_score=ls)
    state = json.loads(json.dumps(s.get_state()))
    assert state["children"][0]["plateau"]["n_plateaus"] == 2
    twin.set_state(state)
    rest = [None, (6, 0.3), (7, 0.9), None]
    assert [s.advance(last_score=ls) for ls in rest] == [twin.advance(last_score=ls) for ls in rest]
    assert twin.get_state() == s.get_state()
    # checked before anything changes
    bad = json.loads(json.dumps(state))
    bad["children"][0]["plateau"]["patience"] = -1
    before = twin.get_state()
    with pytest.raises(ValueError, match="plateau counters"):
        twin.set_state(bad)
    assert twin.get_state() == before
    # a position saved by an earlier thinc_fast (name and step only) still loads
    w = warmup_linear(1.0, 2, 10)
    w.set_state({"name": "warmup_linear.v1", "step": 4})
    assert next(w) == 0.75


def test_custom_schedule_in_thinc_9_style():
    def fn(schedule, step, **extra):
        return schedule.attrs["rate"] * (step + 1) + (1000 if "key" in extra else 0)

    s = Schedule("my_rate", fn, attrs={"rate": 0.5})
    assert s(1) == 1.0 and s(1, key=(0, "W")) == 1001.0 and next(s) == 0.5
    assert list(islice(s.to_generator(2), 2)) == [1.5, 2.0]


@pytest.mark.parametrize("make,argname", [
    (lambda: plateau(0, 0.5, constant(1.0)), "max_patience"),
    (lambda: plateau(1.5, 0.5, constant(1.0)), "max_patience"),
    (lambda: plateau(2, 0.0, constant(1.0)), "scale"),
    (lambda: plateau(2, 0.5, "constant"), "schedule"),
    (lambda: constant(1.0)(-1), "step"),
    (lambda: constant(1.0)("3"), "step"),
    (lambda: constant(1.0).to_generator(start=-1), "start"),
    (lambda: constant(1.0).to_generator(step_size=-2), "step_size"),
    (lambda: plateau(2, 0.5, constant(1.0))(0, last_score=0.9), "last_score"),
    (lambda: plateau(2, 0.5, constant(1.0))(0, last_score=(0.5, 0.9)), "last_score"),
    (lambda: Schedule("x", 3.0), "schedule"),
])
def test_thinc_9_arguments_are_checked_and_named(make, argname):
    with pytest.raises((ValueError, TypeError), match=f"'{argname}'"):
        make()
