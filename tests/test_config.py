"""Config files: a model, optimizer and schedule described in .cfg text."""
import importlib.metadata

import numpy

import pytest

from thinc_fast.api import (Adam, Config, ConfigValidationError, Model, Optimizer, Relu, Schedule,
                            registry)

CONFIG = """
[model]
@layers = "chain.v1"

[model.*.hidden]
@layers = "Relu.v1"
nO = 32
dropout = 0.1

[model.*.hidden2]
@layers = "Maxout.v1"
nO = 16
nP = 2
normalize = true

[model.*.output]
@layers = "Softmax.v1"

[optimizer]
@optimizers = "Adam.v1"
L2 = 0.0001
grad_clip = 5.0

[optimizer.learn_rate]
@schedules = "warmup_linear.v1"
initial_rate = 0.01
warmup_steps = 5
total_steps = 200
"""


def resolve(text):
    return registry.resolve(Config().from_str(text))


def test_config_resolves_and_trains():
    resolved = resolve(CONFIG)
    model, optimizer = resolved["model"], resolved["optimizer"]
    assert isinstance(model, Model) and isinstance(optimizer, Optimizer)
    assert [layer.name for layer in model.walk()][1:4] == ["relu>>dropout", "maxout>>layernorm",
                                                          "softmax"]
    assert isinstance(optimizer.schedules["learn_rate"], Schedule)
    assert optimizer.learn_rate == 0.0 and optimizer.L2 == 0.0001
    rng = numpy.random.default_rng(0)
    X = rng.standard_normal((64, 10)).astype("f")
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0).astype(int)
    Y = numpy.eye(3, dtype="f")[labels]
    model.initialize(X=X[:5], Y=Y[:5])

    def loss():
        P = model.predict(X)
        return float(-(Y * numpy.log(P + 1e-9)).sum() / len(X))

    before = loss()
    for _ in range(60):
        Yh, backprop = model.begin_update(X)
        backprop(Yh - Y)
        model.finish_update(optimizer)
        optimizer.step_schedules()
    assert loss() < 0.5 * before
    assert optimizer.learn_rate == pytest.approx(0.01 * (200 - 60) / 195)


def test_every_builtin_name_is_registered():
    """Names sit on their functions (@builtin); each one resolves to that function."""
    from thinc_fast._builtins import builtins

    recorded = builtins()
    kinds = {kind for kind, _, _ in recorded}
    assert kinds >= {"layers", "optimizers", "schedules", "initializers", "losses", "datasets"}
    for kind, name, func in recorded:
        assert getattr(registry, kind).get(name) is func, f"{kind} {name}"
    assert registry.layers.get("Relu.v1") is Relu and registry.optimizers.get("Adam.v1") is Adam


def test_schedule_nested_in_a_schedule_and_initializer_by_name():
    resolved = resolve("""
[optimizer]
@optimizers = "SGD.v1"

[optimizer.learn_rate]
@schedules = "constant_then.v1"
rate = 0.5
steps = 2

[optimizer.learn_rate.schedule]
@schedules = "decaying.v1"
base_rate = 0.1
decay = 0.5

[model]
@layers = "Linear.v1"
nO = 2
nI = 3

[model.init_W]
@initializers = "zero_init.v1"
""")
    opt = resolved["optimizer"]
    values = [opt.learn_rate]
    for _ in range(3):
        opt.step_schedules()
        values.append(opt.learn_rate)
    assert values == pytest.approx([0.5, 0.5, 0.1 / 2.0, 0.1 / 2.5])  # Thinc 9: unshifted step
    model = resolved["model"].initialize()
    assert not model.get_param("W").any()


# confection 0.x (beside Thinc 9.1) validates with pydantic; confection 1.x (beside
# Thinc 8.3 and spaCy 3.8) with its own checks, in its own words, naming only the
# last section of a path ("hidden" for "model.*.hidden")
CONFECTION_1 = int(importlib.metadata.version("confection").split(".")[0]) >= 1


@pytest.mark.parametrize("change,section,key,message,message_1", [
    (('"Adam.v1"', '"Adamm.v1"'), "optimizer", "@optimizers", "unknown function 'Adamm.v1'",
     "Adamm.v1"),
    (('@layers = "Relu.v1"', '@layer = "Relu.v1"'), "model.*.hidden", "@layer",
     "unknown registry", "unknown registry"),
    (("nO = 32", 'nO = "many"'), "model.*.hidden", "nO", "integer", "is not <class 'int'>"),
    (("initial_rate = 0.01\n", ""), "optimizer.learn_rate", "initial_rate", "field required",
     "missing required argument"),
    (("grad_clip = 5.0", "grad_clip = 5.0\nmomentum = 3"), "optimizer", "momentum",
     "extra fields", "unexpected argument"),
])
def test_bad_config_names_section_and_key(change, section, key, message, message_1):
    with pytest.raises(ConfigValidationError) as info:
        resolve(CONFIG.replace(*change))
    text = str(info.value)
    if CONFECTION_1:
        section, message = section.rpartition(".")[2], message_1
    assert section in text and key in text and message in text, text


def test_registry_at_the_top_level_and_registries_of_your_own():
    """Thinc's `thinc.registry` and `registry.create`."""
    import thinc_fast

    assert thinc_fast.registry is registry
    registry.create("greetings_for_test")
    try:
        @thinc_fast.registry.greetings_for_test("hello.v1")
        def hello(name: str) -> str:
            return f"hello {name}"

        cfg = Config().from_str('[x]\n@greetings_for_test = "hello.v1"\nname = "you"\n')
        assert registry.resolve(cfg)["x"] == "hello you"
        with pytest.raises(ValueError, match="already exists"):
            registry.create("greetings_for_test")
    finally:
        delattr(registry, "greetings_for_test")
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        thinc_fast.nothing_here


def test_unknown_function_suggests_the_close_names():
    with pytest.raises(ConfigValidationError) as info:
        resolve(CONFIG.replace('"Adam.v1"', '"Adamm.v1"'))
    text = str(info.value)
    assert "did you mean 'Adam.v1'" in text, text
    with pytest.raises(ConfigValidationError) as info:
        resolve(CONFIG.replace('@layers = "Relu.v1"', '@layers = "Zzzz.v9"'))
    text = str(info.value)
    assert "did you mean" not in text and "are registered" in text, text
    assert text.count(".v1") < 10, "not every registered name on one line"


def test_the_array_types_are_importable_from_the_api():
    from thinc_fast import api

    for name in ("Pairs", "Floats2d", "Ints1d", "ArrayXd"):
        assert name in api.__all__ and getattr(api, name) is not None


def test_fill_writes_only_what_thinc_can_read_back():
    """registry.fill writes every default in, except the arguments thinc_fast
    adds to a function Thinc also has (Adam.v1's grad_clip_mode and
    schedules, Softmax.v1's normalize_outputs) where the config did not give
    them: the filled config then resolves in Thinc too. Given ones stay."""
    text = """
[optimizer]
@optimizers = "Adam.v1"

[optimizer.learn_rate]
@schedules = "warmup_linear.v1"
initial_rate = 0.01
warmup_steps = 2
total_steps = 10

[model]
@layers = "Softmax.v1"
nO = 3

[sgd]
@optimizers = "SGD.v1"
learn_rate = 0.1
grad_clip_mode = "global"
"""
    filled = registry.fill(Config().from_str(text))
    assert filled["optimizer"]["beta1"] == 0.9 and filled["optimizer"]["use_averages"] is True
    assert "grad_clip_mode" not in filled["optimizer"] and "schedules" not in filled["optimizer"]
    assert "normalize_outputs" not in filled["model"]
    assert filled["sgd"]["grad_clip_mode"] == "global" and "schedules" not in filled["sgd"]
    assert filled["optimizer"]["learn_rate"]["total_steps"] == 10
    ours = registry.resolve(filled)
    assert ours["sgd"].grad_clip_mode == "global"
    thinc_api = pytest.importorskip("thinc.api")
    del filled["sgd"]["grad_clip_mode"]  # thinc_fast's own: Thinc has no such argument
    theirs = thinc_api.registry.resolve(thinc_api.Config().from_str(filled.to_str()))
    for step in (0, 3, 9):  # the same warmup_linear schedule on both sides
        assert (float(theirs["optimizer"].learn_rate(step=step))
                == pytest.approx(float(ours["optimizer"].learn_rate(step=step))))
    assert theirs["model"].name == ours["model"].name == "softmax"
