"""Initializers: Thinc's functions and registry names (with their settings)."""
import numpy
import pytest

from thinc_fast.api import (NumpyOps, fix_random_seed, glorot_normal_init, glorot_uniform_init,
                            he_normal_init, he_uniform_init, lecun_normal_init,
                            lecun_uniform_init, normal_init, registry, uniform_init, zero_init)

OPS = NumpyOps()


@pytest.mark.parametrize("init,kind,scale", [
    (glorot_uniform_init, "uniform", (6 / (300 + 200)) ** 0.5),
    (he_uniform_init, "uniform", (6 / 200) ** 0.5),
    (lecun_uniform_init, "uniform", (3 / 200) ** 0.5),
    (glorot_normal_init, "normal", (2 / (300 + 200)) ** 0.5),
    (he_normal_init, "normal", (2 / 200) ** 0.5),
    (lecun_normal_init, "normal", (1 / 200) ** 0.5),
])
def test_random_initializers_have_their_scale(init, kind, scale):
    W = init(OPS, (300, 200))
    assert W.shape == (300, 200) and W.dtype == numpy.float32
    if kind == "uniform":
        assert -scale <= W.min() and W.max() <= scale and W.max() > 0.95 * scale
    else:
        assert W.std() == pytest.approx(scale, rel=0.02) and abs(W.mean()) < 0.05 * scale


def test_initializers_repeat_with_the_seed_and_zero_init():
    fix_random_seed(3)
    a = glorot_uniform_init(OPS, (4, 5))
    fix_random_seed(3)
    numpy.testing.assert_array_equal(a, glorot_uniform_init(OPS, (4, 5)))
    assert not zero_init(OPS, (2, 3)).any()


def test_uniform_and_normal_init_settings():
    W = uniform_init(OPS, (1000,), lo=0.5, hi=0.75)
    assert 0.5 <= W.min() and W.max() < 0.75
    assert uniform_init(OPS, (3, 4)).max() <= 0.1
    with pytest.raises(ValueError, match="lo=1.0 must not exceed hi=0.0"):
        uniform_init(OPS, (2,), lo=1.0, hi=0.0)
    # Thinc 9's normal_init uses `mean` as the standard deviation, around 0
    W = normal_init(OPS, (100, 100), mean=0.5)
    assert W.std() == pytest.approx(0.5, rel=0.03) and abs(W.mean()) < 0.02
    assert not normal_init(OPS, (2, 3)).any()


@pytest.mark.parametrize("name,kwargs", [
    ("glorot_uniform_init.v1", {}), ("glorot_normal_init.v1", {}), ("he_normal_init.v1", {}),
    ("he_uniform_init.v1", {}), ("lecun_normal_init.v1", {}), ("lecun_uniform_init.v1", {}),
    ("zero_init.v1", {}), ("uniform_init.v1", {"lo": -0.5, "hi": 0.5}),
    ("normal_init.v1", {"mean": 0.1}),
])
def test_initializers_from_config(name, kwargs):
    func = registry.resolve({"test": {"@initializers": name, **kwargs}})["test"]
    W = func(OPS, (1, 2, 3, 4))
    assert W.shape == (1, 2, 3, 4) and W.dtype == numpy.float32
    if name == "uniform_init.v1":
        assert W.min() >= -0.5 and W.max() < 0.5


def test_initializer_in_a_layer_config():
    model = registry.resolve({"m": {"@layers": "Linear.v1", "nO": 3, "nI": 2000,
                                    "init_W": {"@initializers": "uniform_init.v1",
                                               "lo": 1.0, "hi": 2.0}}})["m"]
    model.initialize()
    W = model.get_param("W")
    assert W.shape == (3, 2000) and 1.0 <= W.min() and W.max() < 2.0


@pytest.mark.parametrize("name", ["glorot_uniform_init", "glorot_normal_init", "he_normal_init",
                                  "he_uniform_init", "lecun_normal_init", "lecun_uniform_init"])
@pytest.mark.parametrize("shape", [(4, 6), (8, 3, 5), (2, 3, 4, 5)])
def test_same_values_as_thinc_for_every_rank(name, shape):
    """Thinc takes fan_in = shape[1] whatever the rank: the same seed gives the
    same weights, Maxout's (nO, nP, nI) included."""
    thinc_init = pytest.importorskip("thinc.initializers")
    thinc_api = pytest.importorskip("thinc.api")
    import thinc_fast.api as fast_api

    thinc_api.fix_random_seed(3)
    expected = getattr(thinc_init, name)(thinc_api.NumpyOps(), shape)
    fast_api.fix_random_seed(3)
    got = getattr(fast_api, name)(fast_api.NumpyOps(), shape)
    numpy.testing.assert_array_equal(got, expected)


def test_maxout_starts_as_in_thinc():
    thinc_api = pytest.importorskip("thinc.api")
    import thinc_fast.api as fast_api

    weights = []
    for api in (thinc_api, fast_api):
        api.fix_random_seed(0)
        model = api.Maxout(8, 5, nP=3)
        model.initialize()
        weights.append(model.get_param("W"))
    assert weights[0].shape == (8, 3, 5)
    numpy.testing.assert_array_equal(weights[1], weights[0])


_rng = numpy.random.default_rng(0)
_X2 = _rng.standard_normal((6, 8)).astype("f")
_SEQS = [_rng.standard_normal((n, 8)).astype("f") for n in (3, 5, 2)]
_IDS = numpy.arange(6, dtype="uint64")
# every layer with parameters, built the same way with Thinc's and with ours
LAYERS = {
    "Linear": (lambda L: L.Linear(4, 8), _X2),
    "Relu": (lambda L: L.Relu(4, 8), _X2),
    "Maxout": (lambda L: L.Maxout(4, 8, nP=3, normalize=True), _X2),
    "Softmax": (lambda L: L.Softmax(4, 8), _X2),
    "Softmax_v2": (lambda L: L.Softmax_v2(4, 8), _X2),
    "LayerNorm": (lambda L: L.LayerNorm(8), _X2),
    "Mish": (lambda L: L.Mish(4, 8), _X2),
    "Gelu": (lambda L: L.Gelu(4, 8), _X2),
    "Swish": (lambda L: L.Swish(4, 8), _X2),
    "HardSwish": (lambda L: L.HardSwish(4, 8), _X2),
    "Dish": (lambda L: L.Dish(4, 8), _X2),
    "Sigmoid": (lambda L: L.Sigmoid(4, 8), _X2),
    "ClippedLinear": (lambda L: L.ClippedLinear(4, 8), _X2),
    "HashEmbed": (lambda L: L.HashEmbed(4, 50, seed=3), _IDS),
    "Embed": (lambda L: L.Embed(4, 50), _IDS),
    "LSTM": (lambda L: L.with_padded(L.LSTM(4, 8, bi=True, depth=2)), _SEQS),
    "ParametricAttention": (lambda L: L.with_ragged(L.ParametricAttention(8)), _SEQS),
    "ParametricAttention_v2": (
        lambda L: L.with_ragged(L.ParametricAttention_v2(key_transform=L.Gelu(8, 8))), _SEQS),
    "MultiSoftmax": (lambda L: L.MultiSoftmax((2, 3), 8), _X2),
    "SparseLinear": (lambda L: L.SparseLinear(4, 100), None),
    "CauchySimilarity": (lambda L: L.CauchySimilarity(8), (_X2, _X2)),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_every_layer_starts_with_thincs_weights(name):
    """The same seed gives every parameter of every layer the same bits as in
    Thinc (3-d weights, the LSTM's packed gates and attention included)."""
    thinc_api = pytest.importorskip("thinc.api")
    import thinc_fast.api as fast_api

    build, X = LAYERS[name]
    params = []
    for api in (thinc_api, fast_api):
        api.fix_random_seed(0)
        model = build(api)
        model.initialize(X=X) if X is not None else model.initialize()
        params.append({(i, p): node.get_param(p) for i, node in enumerate(model.walk())
                       for p in node.param_names if node.has_param(p)})
    theirs, ours = params
    assert theirs and ours.keys() == theirs.keys()
    for key in theirs:
        numpy.testing.assert_array_equal(ours[key], theirs[key], err_msg=str(key))
