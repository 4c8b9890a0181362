"""Optimizer numerics against a float64 reference of Thinc's formulas."""
import json
import math

import numpy
import pytest
from step_args import step_kw

from thinc_fast.api import SGD, Adam, Linear, Optimizer, RAdam, Relu, Softmax, chain
from thinc_fast.api import NumpyOps, Ops, fix_random_seed
from thinc_fast.backends.kernel_args import KernelScalars


rng = numpy.random.default_rng(11)


class ReferenceOptimizer:
    """Thinc's update, written out in float64 for a list of parameters.

    Order: classic L2, clipping (by each parameter's own norm, as Thinc, or by
    the global norm over all parameters), Adam or SGD, decoupled weight decay,
    averages.
    """

    def __init__(self, lr, *, L2=0.0, beta1=0.9, beta2=0.999, eps=1e-8, grad_clip=1.0,
                 L2_is_weight_decay=True, use_averages=True, use_radam=False,
                 grad_clip_mode="parameter"):
        self.__dict__.update(lr=lr, L2=L2, b1=beta1, b2=beta2, eps=eps, clip=grad_clip,
                             decay=L2_is_weight_decay, use_avg=use_averages, radam=use_radam,
                             clip_global=grad_clip_mode == "global")
        self.t = 0
        self.m = self.v = self.avg = None

    def step(self, weights, grads):
        w = [x.astype("f8") for x in weights]
        g = [x.astype("f8") for x in grads]
        if self.m is None:
            self.m = [numpy.zeros_like(x) for x in w]
            self.v = [numpy.zeros_like(x) for x in w]
            self.avg = [numpy.zeros_like(x) for x in w]
        self.t += 1
        t = self.t
        if self.L2 and not self.decay:
            g = [gi + self.L2 * wi for gi, wi in zip(g, w)]
        if self.clip_global:
            norm = math.sqrt(sum(float((gi ** 2).sum()) for gi in g))
            if self.clip and norm >= self.clip:
                g = [gi * (self.clip / norm) for gi in g]
        elif self.clip:
            norms = [math.sqrt(float((gi ** 2).sum())) for gi in g]
            g = [gi * (self.clip / n) if n >= self.clip else gi for gi, n in zip(g, norms)]
        out = []
        for i, (wi, gi) in enumerate(zip(w, g)):
            if self.radam:
                self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * gi
                self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * gi ** 2
                step = t + 1  # Thinc's RAdam counts one step ahead of its updates
                b2t = self.b2 ** step
                n_max = 2 / (1 - self.b2) - 1
                n_sma = n_max - 2 * step * b2t / (1 - b2t)
                if n_sma >= 5:
                    size = math.sqrt((1 - b2t) * (n_sma - 4) / (n_max - 4) * (n_sma - 2) / n_sma
                                     * n_max / (n_max - 2)) / (1 - self.b1 ** step)
                    wi = wi - size * self.lr * self.m[i] / (numpy.sqrt(self.v[i]) + self.eps)
                else:
                    wi = wi - self.lr / (1 - self.b1 ** step) * self.m[i]
            elif self.b1 > 0:
                self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * gi
                self.v[i] = self.b2 * self.v[i] + (1 - self.b2) * gi ** 2
                lr_hat = self.lr * math.sqrt(1 - self.b2 ** t) / (1 - self.b1 ** t)
                wi = wi - lr_hat * self.m[i] / (numpy.sqrt(self.v[i]) + self.eps)
            else:
                wi = wi - self.lr * gi
            if self.L2 and self.decay:
                wi = wi - self.lr * self.L2 * wi
            d = min((1.0 + t) / (10.0 + t), 0.9999)
            self.avg[i] = self.avg[i] - (1 - d) * (self.avg[i] - wi)
            out.append(wi)
        return out


def make_model():
    X = rng.standard_normal((6, 5)).astype("f")
    Y = numpy.eye(3, dtype="f")[rng.integers(0, 3, 6)]
    model = chain(Relu(4), Softmax(init_W=lambda ops, s: ops.asarray(rng.standard_normal(s) * 0.1,
                                                                    dtype="f")))
    return model.initialize(X=X, Y=Y), X, Y


def params_and_grads(model):
    nodes = [(n, name) for n in model.walk() for name in n.param_names if n.has_param(name)]
    return nodes


SETTINGS = [
    dict(),
    dict(grad_clip=0.0),
    dict(grad_clip=0.05),
    dict(L2=0.01, L2_is_weight_decay=False),
    dict(L2=0.01, L2_is_weight_decay=True),
    dict(L2=0.1, L2_is_weight_decay=False, grad_clip=0.1),
    dict(beta1=0.0, beta2=0.0),
    dict(beta1=0.0, beta2=0.0, L2=0.01, L2_is_weight_decay=False, grad_clip=0.1),
    dict(use_radam=True),
    dict(use_radam=True, L2=0.01, L2_is_weight_decay=True, grad_clip=0.1),
    dict(use_radam=True, beta2=0.9),
    dict(use_averages=False),
    dict(grad_clip_mode="global"),
    dict(grad_clip_mode="global", grad_clip=0.05, L2=0.1, L2_is_weight_decay=False),
    dict(beta1=0.0, beta2=0.0, grad_clip_mode="global", grad_clip=0.1),
]


@pytest.mark.parametrize("settings", SETTINGS, ids=[str(s) for s in SETTINGS])
@pytest.mark.parametrize("n_steps", [1, 8])
def test_arena_update_matches_float64_reference(settings, n_steps):
    model, X, Y = make_model()
    opt = Optimizer(0.05, **settings)
    ref = ReferenceOptimizer(0.05, **settings)
    entries = params_and_grads(model)
    w_ref = [n.get_param(name).astype("f8") for n, name in entries]
    for step in range(n_steps):
        for n, name in entries:  # keep the float32 model on the reference's parameters
            n.set_param(name, w_ref[entries.index((n, name))])
        Yh, backprop = model.begin_update(X)
        backprop(Yh - Y)
        grads = [n.get_grad(name).copy() for n, name in entries]
        w_ref = ref.step([n.get_param(name) for n, name in entries], grads)
        model.finish_update(opt)
        for (n, name), expected in zip(entries, w_ref):
            numpy.testing.assert_allclose(n.get_param(name), expected, rtol=2e-5, atol=2e-6,
                                          err_msg=f"step {step}: {n.name}.{name}")
            assert not n.get_grad(name).any()
    state = opt._arena_states[model.id]
    if opt.use_averages:
        flat_avg = [state.arrays["averages"][off:off + math.prod(shape)].reshape(shape)
                    for _, off, shape in model.arena.layout]
        for got, expected in zip(flat_avg, ref.avg):
            numpy.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-6)


def test_thinc_style_per_parameter_call_matches_reference():
    opt = Adam(0.1, grad_clip=0.0)
    ref = ReferenceOptimizer(0.1, grad_clip=0.0)
    w = rng.standard_normal((4, 3)).astype("f")
    expected = w.astype("f8")
    for _ in range(3):
        g = rng.standard_normal((4, 3)).astype("f")
        (expected,) = ref.step([expected.astype("f")], [g])
        w2, g2 = opt((1, "W"), w, g)
        assert w2 is w and not g.any()
        numpy.testing.assert_allclose(w, expected, rtol=1e-5, atol=5e-6)
    assert opt.nr_update[(1, "W")] == 3


@pytest.mark.parametrize("view", ["transposed", "strided"])
def test_per_parameter_call_updates_views_in_place_as_contiguous_arrays(view):
    """Weights and gradients that are views (a Fortran-ordered array, every
    other column of a wider one) update exactly as contiguous copies would,
    in place, and the returned arrays are the updated ones."""
    own = numpy.random.default_rng(7)
    w0 = own.standard_normal((4, 3)).astype("f")
    grads = [own.standard_normal((4, 3)).astype("f") for _ in range(3)]

    def as_view(a):
        if view == "transposed":
            return a.T.copy().T
        wide = numpy.zeros((4, 6), "f")
        wide[:, ::2] = a
        return wide[:, ::2]

    plain, viewed = Adam(0.1), Adam(0.1)
    w_plain, w_view = w0.copy(), as_view(w0)
    assert not w_view.flags.c_contiguous
    for g in grads:
        plain((1, "W"), w_plain, g.copy())
        g_view = as_view(g)
        w2, g2 = viewed((1, "W"), w_view, g_view)
        assert w2 is w_view and g2 is g_view and not g_view.any()
    numpy.testing.assert_array_equal(w_view, w_plain)
    assert not numpy.array_equal(w_plain, w0)
    assert viewed.nr_update[(1, "W")] == 3


@pytest.mark.parametrize("which", ["weights", "gradient"])
def test_per_parameter_call_refuses_read_only_arrays_before_any_change(which):
    w, g = numpy.ones((4, 3), "f"), numpy.full((4, 3), 0.5, "f")
    arrays = {"weights": w, "gradient": g}
    arrays[which] = numpy.broadcast_to(arrays[which][:, :1], (4, 3))  # stride 0: read-only
    opt = Adam(0.1)
    with pytest.raises(ValueError, match=f"the {which} array is read-only"):
        opt((1, "W"), arrays["weights"], arrays["gradient"])
    assert (1, "W") not in opt.nr_update, "no step was counted"
    numpy.testing.assert_array_equal(w, 1.0)


def test_thinc_defaults():
    opt = Adam()
    assert (opt.learn_rate, opt.beta1, opt.beta2, opt.eps) == (0.001, 0.9, 0.999, 1e-8)
    assert (opt.L2, opt.grad_clip, opt.use_averages, opt.L2_is_weight_decay) == (0.0, 1.0, True, True)
    sgd = SGD(0.1)
    assert not sgd.uses_moments and sgd.grad_clip == 1.0


@pytest.mark.parametrize("kwargs,match", [
    (dict(learn_rate=-1.0), "learn_rate"),
    (dict(learn_rate=float("nan")), "learn_rate"),
    (dict(learn_rate=0.1, beta1=1.0), "beta1"),
    (dict(learn_rate=0.1, beta1=0.9, beta2=0.0), "beta2"),
    (dict(learn_rate=0.1, grad_clip=-1), "grad_clip"),
    (dict(learn_rate="fast"), "learn_rate"),
])
def test_bad_hyperparameters_name_the_argument(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        Optimizer(**kwargs)


@pytest.mark.parametrize("bad", [numpy.nan, numpy.inf])
def test_nonfinite_gradient_names_the_parameter_and_changes_nothing(bad):
    model, X, Y = make_model()
    opt = Adam(0.01)
    Yh, backprop = model.begin_update(X)
    backprop(Yh - Y)
    model.layers[1].get_grad("W")[0, 0] = bad
    before = model.arena.params.copy()
    with pytest.raises(FloatingPointError, match=r"gradient of parameter 'W' of model 'softmax'"):
        model.finish_update(opt)
    numpy.testing.assert_array_equal(model.arena.params, before)
    model.zero_grads()
    model.finish_update(opt)  # recovers once the bad gradient is gone
    assert numpy.isfinite(model.arena.params).all()


def test_per_parameter_call_rejects_nan():
    w, g = numpy.ones(3, "f"), numpy.array([1, numpy.nan, 0], "f")
    with pytest.raises(FloatingPointError, match="NaN"):
        Adam(0.1)((1, "b"), w, g)
    numpy.testing.assert_array_equal(w, 1.0)


def test_one_optimizer_for_two_models_keeps_separate_state():
    m1, X, Y = make_model()
    m2 = m1.copy()
    opt = Adam(0.01)
    for model in (m1, m2, m1):
        Yh, backprop = model.begin_update(X)
        backprop(Yh - Y)
        model.finish_update(opt)
    assert opt.nr_update[m1.id] == 2 and opt.nr_update[m2.id] == 1


def test_linear_regression_converges():
    X = rng.standard_normal((64, 3)).astype("f")
    true_W = numpy.array([[1.5, -2.0, 0.5]], "f")
    Y = X @ true_W.T + 0.25
    model = Linear(1).initialize(X=X, Y=Y)
    opt = Adam(0.05, grad_clip=0.0, use_averages=False)
    for _ in range(400):
        Yh, backprop = model.begin_update(X)
        backprop((Yh - Y) / len(X))
        model.finish_update(opt)
    numpy.testing.assert_allclose(model.get_param("W"), true_W, atol=0.02)
    numpy.testing.assert_allclose(model.get_param("b"), [0.25], atol=0.02)


def test_radam_and_sgd_factories():
    assert RAdam().use_radam and RAdam().learn_rate == 0.001
    with pytest.raises(ValueError, match="RAdam"):
        Optimizer(0.1, beta1=0.0, beta2=0.0, use_radam=True)


def test_use_params_with_averages():
    model, X, Y = make_model()
    opt = Adam(0.05)
    for _ in range(3):
        Yh, backprop = model.begin_update(X)
        backprop(Yh - Y)
        model.finish_update(opt)
    averages = opt.averages
    W = model.layers[0].get_param("W")
    current = W.copy()
    key = (model.layers[0].id, "W")
    assert key in averages and not numpy.allclose(averages[key], current)
    with model.use_params(averages):
        numpy.testing.assert_array_equal(model.layers[0].get_param("W"), averages[key])
        assert model.layers[0].get_param("W") is W, "swapped in place: the arena view stays"
    numpy.testing.assert_array_equal(model.layers[0].get_param("W"), current)
    assert Adam(0.1, use_averages=False).averages is None


def test_use_params_with_thinc_style_averages_and_bad_shapes():
    model = Linear(3, 4).initialize()
    opt = Adam(0.1)
    for _ in range(2):
        opt((model.id, "W"), model.get_param("W"), numpy.ones((3, 4), "f"))
    averages = opt.averages
    assert averages[(model.id, "W")].shape == (3, 4)
    before = model.get_param("W").copy()
    with model.use_params(averages):
        numpy.testing.assert_array_equal(model.get_param("W"), averages[(model.id, "W")])
    numpy.testing.assert_array_equal(model.get_param("W"), before)
    with pytest.raises(ValueError, match="shape"):
        with model.use_params({(model.id, "b"): numpy.zeros(3, "f"), (model.id, "W"): numpy.zeros(12, "f")}):
            pass
    numpy.testing.assert_array_equal(model.get_param("W"), before)
    assert numpy.shares_memory(model.get_param("W"), model.arena.params)
    assert model.get_param("b").shape == (3,)


def test_from_bytes_keeps_fixed_hyperparameters_and_is_all_or_nothing():
    from thinc_fast.api import warmup_linear
    from thinc_fast._io import pack, unpack

    saved = Adam(0.002, L2=0.1)
    restored = Adam(0.0001, L2=0.1).from_bytes(saved.to_bytes())
    assert restored.learn_rate == 0.0001, "fixed hyperparameters come from the optimizer as built"
    scheduled = Adam(warmup_linear(1.0, 2, 10))
    for _ in range(3):
        scheduled.step_schedules()
    data = scheduled.to_bytes()
    fresh = Adam(warmup_linear(1.0, 2, 10))
    fresh.from_bytes(data)
    assert fresh.learn_rate == scheduled.learn_rate and fresh.step == scheduled.step == 3
    header, arrays = unpack(data, kind="optimizer", max_version=2)
    header["step"] = -5
    target = Adam(warmup_linear(1.0, 2, 10))
    with pytest.raises(ValueError, match="step count"):
        target.from_bytes(pack(header, arrays))
    assert target.step == 0 and target.learn_rate == 0.0


# ------------------------------------------------ per-tensor clipping kernels
def _segments_case(n_values=70_000):
    bounds = sorted(set([0, 5, 5, 17, 40_000, 40_003, n_values]))
    own = numpy.random.default_rng(5)  # its own data, whatever other tests drew before
    g = own.standard_normal(n_values).astype("f")
    w = own.standard_normal(n_values).astype("f")
    return numpy.asarray(bounds), g, w


@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_segment_sum_of_squares_matches_float64_and_any_thread_count(l2):
    from thinc_fast.backends import NumpyOps, Ops
    from thinc_fast.backends.numpy_ops import get_num_threads, set_num_threads

    bounds, g, w = _segments_case()
    bounds = numpy.asarray([0, 5, 5, 17, 40_000, 40_003, g.size])  # one empty segment
    # the kernel forms g + l2 w in float32 (one rounding, with FMA, or two):
    # each term may be off by an ulp of |g| + |l2 w| (more than an ulp of
    # g + l2 w where the two nearly cancel), so each segment's bound scales
    # with its sum of (|g| + |l2 w|)^2
    l2_f = float(numpy.float32(l2))
    full = g.astype("f8") + l2_f * w.astype("f8")
    size = (numpy.abs(g.astype("f8")) + abs(l2_f) * numpy.abs(w.astype("f8"))) ** 2
    expected = [float((full[a:b] ** 2).sum()) for a, b in zip(bounds, bounds[1:])]
    bound = numpy.asarray([4e-7 * float(size[a:b].sum()) for a, b in zip(bounds, bounds[1:])])
    before = get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            set_num_threads(threads)
            results.append(NumpyOps().segment_sum_of_squares(g, w, l2, bounds))
    finally:
        set_num_threads(before)
    assert (numpy.abs(results[0] - expected) <= bound).all(), (results[0], expected)
    assert results[0].tobytes() == results[1].tobytes(), "same totals for any thread count"
    generic = Ops(numpy).segment_sum_of_squares(g, w, l2, bounds)
    assert (numpy.abs(generic - expected) <= bound).all(), (generic, expected)


@pytest.mark.parametrize("kind", ["adam", "sgd"])
def test_per_segment_scale_matches_reference_and_bad_segments_are_refused(kind):
    from thinc_fast.backends import NumpyOps, Ops

    bounds = numpy.asarray([0, 5, 5, 17, 40_000, 40_003, 70_000])
    scales = numpy.asarray([0.5, 9.0, 1.0, 0.25, 2.0, 0.125], dtype="f")
    results = []
    for ops in (NumpyOps(), Ops(numpy)):
        local = numpy.random.default_rng(3)
        w, g, m, v, avg = (local.standard_normal(70_000).astype("f") for _ in range(5))
        v = numpy.abs(v)
        if kind == "adam":
            ops.adam_step(w, g, m, v, avg, **step_kw(lr_hat=0.01, beta1=0.9, beta2=0.999, eps=1e-8,
                                                     grad_scale=scales, l2_coupled=0.01,
                                                     decay=0.001, avg_rate=0.1, segments=bounds))
        else:
            ops.sgd_step(w, g, avg, **step_kw(learn_rate=0.1, grad_scale=scales, l2_coupled=0.01,
                                              decay=0.001, avg_rate=0.1, segments=bounds))
        assert not g.any()
        results.append((w, avg))
    for got, expected in zip(results[0], results[1]):
        numpy.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    ops = NumpyOps()
    w = numpy.zeros(10, dtype="f")
    with pytest.raises(ValueError, match="segments must rise from 0"):
        ops.sgd_step(w, w.copy(), **step_kw(learn_rate=0.1, grad_scale=numpy.ones(2, "f"),
                                            segments=[0, 4, 9]))
    with pytest.raises(ValueError, match="one scale per segment"):
        ops.sgd_step(w, w.copy(), **step_kw(learn_rate=0.1, grad_scale=numpy.ones(3, "f"),
                                            segments=[0, 4, 10]))


def test_clipping_is_per_parameter_by_default_and_global_on_request():
    model, X, Y = make_model()
    twin = model.copy()
    Yh, backprop = model.begin_update(X)
    backprop((Yh - Y) * 100.0)
    Yh, backprop = twin.begin_update(X)
    backprop((Yh - Y) * 100.0)
    grads = {(i, name): node.get_grad(name).astype("f8").copy()
             for i, node in enumerate(model.walk()) for name in node.param_names}
    before = {(i, name): node.get_param(name).copy()
              for i, node in enumerate(model.walk()) for name in node.param_names}
    model.finish_update(SGD(1.0, grad_clip=1.0, use_averages=False))
    twin.finish_update(SGD(1.0, grad_clip=1.0, use_averages=False, grad_clip_mode="global"))
    total = math.sqrt(sum(float((g ** 2).sum()) for g in grads.values()))
    for i, (node, tnode) in enumerate(zip(model.walk(), twin.walk())):
        for name in node.param_names:
            g = grads[(i, name)]
            own = math.sqrt(float((g ** 2).sum()))
            expected = before[(i, name)] - g * min(1.0, 1.0 / own)
            numpy.testing.assert_allclose(node.get_param(name), expected, rtol=1e-5, atol=1e-6)
            expected_global = before[(i, name)] - g / total
            numpy.testing.assert_allclose(tnode.get_param(name), expected_global, rtol=1e-5,
                                          atol=1e-6)
    with pytest.raises(ValueError, match="grad_clip_mode"):
        Adam(0.1, grad_clip_mode="layer")


# ------------------------------------------------ Thinc 9's interface and the original one
def test_thinc9_hyperparameters_are_callable_and_the_seed_floats_still_hold():
    def gen():
        yield 0.001
        yield 0.0005

    opt = Adam(1.0, schedules={"learn_rate": gen()})
    assert opt.learn_rate == 1.0 and opt.learn_rate(step=opt._step, key=(0, "W")) == 1.0
    opt.step_schedules()
    assert opt.learn_rate == 0.001 and opt._step == 1
    opt.step_schedules()
    opt.step_schedules()
    assert opt.learn_rate == 0.0005, "an exhausted generator keeps its last value"
    lists = Optimizer([0.9, 0.8, 0.7])
    assert [lists.learn_rate(step=s) for s in range(4)] == [0.9, 0.8, 0.7, 0.7]
    lists.learn_rate = lambda *, step, key: 0.5 * step
    lists.step_schedules()
    assert lists.learn_rate(step=lists._step, key=(0, "")) == lists.learn_rate == 0.5
    opt2 = Optimizer(iter([0.1, 0.2, 0.3]))
    assert opt2.learn_rate(step=2) == 0.3 and opt2.learn_rate == 0.1, "the current step's value"
    with pytest.raises(ValueError, match="must not decrease"):
        opt2.learn_rate(step=1)


def test_last_score_and_step_are_thinc9s():
    opt = SGD(0.1)
    assert opt.last_score is None
    opt.last_score = 0.5
    opt.step_schedules()
    assert opt.last_score == (0, 0.5) and opt.step == 1
    opt.last_score = 0.7
    assert opt.last_score == (1, 0.7)


def test_sgd_keeps_no_moments_and_averages_can_be_switched_off():
    model, X, Y = make_model()
    opt = SGD(0.1)
    Yh, backprop = model.begin_update(X)
    backprop(Yh - Y)
    model.finish_update(opt)
    assert set(opt._arena_states[model.id].arrays) == {"averages"}
    opt.averages = None
    assert opt.averages is None and not opt.use_averages
    Yh, backprop = model.begin_update(X)
    backprop(Yh - Y)
    model.finish_update(opt)
    assert opt._arena_states[model.id].arrays == {}


def test_bad_hyperparameters_are_value_errors_naming_the_argument():
    for bad in ("hello", iter([]), []):
        with pytest.raises(ValueError, match="learn_rate"):
            Optimizer(learn_rate=bad)
    weights, empty = numpy.zeros((1, 2), dtype="f"), numpy.zeros(0, dtype="f")
    assert Adam(0.1)((0, "x"), weights, empty)[1] is empty, "an empty gradient returns at once"


def test_a_plateau_schedule_resumes_exactly_with_its_counters():
    from thinc_fast.api import constant, plateau

    def run(opt, scores):
        values = []
        for score in scores:
            opt.last_score = score
            opt.step_schedules()
            values.append(float(opt.learn_rate))
        return values

    scores = [0.5, 0.4, 0.4, 0.3, 0.3, 0.3, 0.2, 0.2, 0.2]
    whole = run(Adam(plateau(2, 0.5, constant(1.0))), scores)
    first = Adam(plateau(2, 0.5, constant(1.0)))
    head = run(first, scores[:4])
    resumed = Adam(plateau(2, 0.5, constant(1.0))).from_bytes(first.to_bytes())
    assert head + run(resumed, scores[4:]) == whole
    assert min(whole) < 1.0, "the plateau did lower the rate"


def test_schedule_states_saved_with_registry_names_still_load():
    """The built-in schedules carry Thinc's names ("plateau"); optimizer files
    written before, whose schedule states say "plateau.v1", load and resume."""
    from thinc_fast._io import pack, unpack
    from thinc_fast.api import constant, plateau

    scores = [0.5, 0.4, 0.4, 0.3, 0.3, 0.3, 0.2]
    first = Adam(plateau(2, 0.5, constant(1.0)))
    assert (first.learn_rate.name, constant(1.0).name) == ("plateau", "constant")
    for score in scores[:4]:
        first.last_score = score
        first.step_schedules()
    header, arrays = unpack(first.to_bytes(), kind="optimizer", max_version=2)
    renamed = []

    def old_names(node):
        if isinstance(node, dict):
            if node.get("name") in ("plateau", "constant"):
                node["name"] += ".v1"
                renamed.append(node["name"])
            for value in node.values():
                old_names(value)
        elif isinstance(node, list):
            for value in node:
                old_names(value)

    old_names(header)
    assert "plateau.v1" in renamed and "constant.v1" in renamed
    resumed = Adam(plateau(2, 0.5, constant(1.0))).from_bytes(pack(header, arrays))
    twin = Adam(plateau(2, 0.5, constant(1.0))).from_bytes(first.to_bytes())
    for score in scores[4:]:
        for opt in (resumed, twin):
            opt.last_score = score
            opt.step_schedules()
        assert float(resumed.learn_rate) == float(twin.learn_rate)
    with pytest.raises(ValueError):  # another schedule's name is still refused
        Adam(plateau(2, 0.5, constant(1.0))).from_bytes(
            pack(json.loads(json.dumps(header).replace('"plateau.v1"', '"decaying.v1"')), arrays))


def _train_bits(opt):
    """The parameters of make_model() after a few arena updates and a few
    Thinc-style per-key calls with `opt`."""
    fix_random_seed(5)
    local = numpy.random.default_rng(5)
    X = local.standard_normal((6, 5)).astype("f")
    Y = numpy.eye(3, dtype="f")[local.integers(0, 3, 6)]
    model = chain(Relu(4), Softmax(init_W=lambda ops, s: ops.asarray(
        local.standard_normal(s) * 0.1, dtype="f"))).initialize(X=X, Y=Y)
    for _ in range(4):
        Yh, backprop = model.begin_update(X)
        backprop(Yh - Y)
        model.finish_update(opt)
        opt.step_schedules()
    rng = numpy.random.default_rng(11)
    w = rng.standard_normal(5003).astype("f")
    for _ in range(3):
        opt(("key", "W"), w, rng.standard_normal(5003).astype("f"))
    return [p.tobytes() for p in (model.arena.params, w)]


@pytest.mark.parametrize("name,alias", [
    ("radam", dict(use_radam=True)),
    ("adam", dict()),
    ("sgd", dict(beta1=0.0, beta2=0.0)),
])
def test_rule_by_name_gives_the_bits_of_thincs_alias(name, alias):
    by_name = Optimizer(0.01, rule=name, L2=1e-3, grad_clip=0.5)
    by_alias = Optimizer(0.01, L2=1e-3, grad_clip=0.5, **alias)
    assert by_name.rule == by_alias.rule == name
    assert by_name.use_radam == by_alias.use_radam == (name == "radam")
    assert _train_bits(by_name) == _train_bits(by_alias)


def test_rule_names_are_checked_and_use_radam_stays_thincs_attribute():
    with pytest.raises(ValueError, match="rule must be one of 'adam', 'radam', 'sgd'"):
        Optimizer(0.01, rule="adagrad")
    with pytest.raises(ValueError, match="use_radam=True asks for rule 'radam'"):
        Optimizer(0.01, rule="sgd", use_radam=True)
    opt = Adam(0.01)
    assert opt.rule == "adam" and opt.use_radam is False
    opt.use_radam = True
    assert opt.rule == "radam" and RAdam(0.01).rule == "radam"
    assert SGD(0.01).rule == "sgd", "Adam's rule with both betas 0 is plain SGD, as in Thinc"
    # "sgd" by name ignores the betas: the bits of SGD()
    assert _train_bits(Optimizer(0.01, rule="sgd")) == _train_bits(SGD(0.01))


@pytest.mark.parametrize("ops", [NumpyOps(), Ops(numpy)], ids=["numpy", "reference"])
def test_the_step_record_reaches_the_kernel_and_a_bad_one_is_refused(ops):
    w, g, m, v = (numpy.ones(40_000, dtype="f") for _ in range(4))
    with pytest.raises(TypeError, match="adam_step: `scalars` must be a KernelScalars record"):
        ops.adam_step(w, g, m, v, scalars={"lr_hat": 0.1})
    with pytest.raises(TypeError, match="sgd_step: `scalars` must be a KernelScalars record"):
        ops.sgd_step(w, g, scalars=(0.1,))
    with pytest.raises(TypeError):  # the 11 keywords of old are gone
        ops.sgd_step(w, g, learn_rate=0.1)
    assert (w == 1).all() and (g == 1).all(), "a refused step changes nothing"
    # every field of the record reaches the kernel: lr_hat, l2_coupled, decay, avg_rate
    avg = numpy.zeros_like(w)
    k = KernelScalars(lr_hat=0.5, l2_coupled=1.0, decay=0.25, avg_rate=0.5)
    ops.sgd_step(w, g, avg, scalars=k, grad_scale=0.5)
    expected = (1.0 - 0.5 * (1.0 + 1.0) * 0.5) * 0.75  # 0.375
    assert (w == numpy.float32(expected)).all() and not g.any()
    assert (avg == numpy.float32(0.5 * expected)).all()
    # ... and Adam's: beta1, beta2, eps, use_denominator
    w, g, m, v = (numpy.ones(40_000, dtype="f") for _ in range(4))
    k = KernelScalars(lr_hat=0.1, beta1=0.5, beta2=0.75, eps=0.0, use_denominator=False)
    ops.adam_step(w, g, m, v, scalars=k)
    assert (m == 1).all() and (v == 1).all() and (w == numpy.float32(0.9)).all()
    w, g, m, v = (numpy.ones(40_000, dtype="f") for _ in range(4))
    ops.adam_step(w, g, m, v, scalars=KernelScalars(lr_hat=0.1, beta1=0.5, beta2=0.75, eps=1.0))
    assert (w == numpy.float32(1 - 0.1 * 1 / 2)).all()


def test_hyperparameter_shows_the_attributes_of_its_schedule():
    """Thinc 9's optimizer holds the Schedule as ``learn_rate``: code reading
    its ``attrs`` (or calling it) works on thinc_fast's value too."""
    from thinc_fast.api import Adam, warmup_linear

    schedule = warmup_linear(0.01, 2, 10)
    optimizer = Adam(schedule)
    assert optimizer.learn_rate.attrs == {"initial_rate": 0.01, "warmup_steps": 2,
                                          "total_steps": 10}
    assert optimizer.learn_rate.name == schedule.name
    assert optimizer.learn_rate(step=3) == schedule(step=3)
    with pytest.raises(AttributeError, match="no attribute 'attrs'"):
        Adam(0.001).learn_rate.attrs
