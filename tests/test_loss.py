"""Losses: gradients and loss values against a float64 NumPy reference, finite
differences where the gradient is the derivative of a loss, masking, label
smoothing, string and negative labels, the registry, and errors that name the
problem."""
import doctest

import numpy
import pytest

from thinc_fast.api import (CategoricalCrossentropy, Config, ConfigValidationError,
                            CosineDistance, L2Distance, Loss, SequenceCategoricalCrossentropy,
                            registry)
from thinc_fast import loss as loss_module

NAMES = ["A", "B", "C", "D"]


def probs(n, c=4, dtype="float32", seed=0):
    x = numpy.random.default_rng(seed).random((n, c))
    return (x / x.sum(axis=1, keepdims=True)).astype(dtype)


def labels(n, c=4, seed=1):
    return numpy.random.default_rng(seed).integers(0, c, n)


# ---------------------------------------------------------------------------------------
# float64 references


def target64(lab, c, smoothing=0.0):
    t = numpy.full((len(lab), c), smoothing / (c - 1) if smoothing else 0.0)
    t[numpy.arange(len(lab)), lab] = 1.0 - smoothing
    return t


def cce_grad64(guesses, target, row_mask=None, normalize=True):
    d = guesses.astype("float64") - target
    if row_mask is not None:
        d *= row_mask[:, None]
    return d / len(guesses) if normalize else d


def cosine64(a, b):
    a = a.astype("float64") + 1e-8
    b = b.astype("float64") + 1e-8
    return (a * b).sum(1) / (numpy.linalg.norm(a, axis=1) * numpy.linalg.norm(b, axis=1))


def log_softmax64(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - numpy.log(numpy.exp(z).sum(axis=1, keepdims=True))


# ---------------------------------------------------------------------------------------
# CategoricalCrossentropy: values


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("form", ["ints", "int32", "list", "onehot", "strings", "str_array"])
def test_cce_matches_reference(dtype, normalize, form):
    g, lab = probs(7, dtype=dtype), labels(7)
    truths = {"ints": lab, "int32": lab.astype("int32"), "list": lab.tolist(),
              "onehot": numpy.eye(4, dtype="float32")[lab],
              "strings": [NAMES[i] for i in lab],
              "str_array": numpy.asarray([NAMES[i] for i in lab])}[form]
    loss = CategoricalCrossentropy(normalize=normalize, names=NAMES)
    d, value = loss(g, truths)
    ref = cce_grad64(g, target64(lab, 4), normalize=normalize)
    assert d.dtype == numpy.dtype(dtype) and d.shape == g.shape
    numpy.testing.assert_allclose(d, ref, rtol=1e-6, atol=1e-7)
    assert float(value) == pytest.approx((ref ** 2).sum(), rel=1e-5)
    numpy.testing.assert_array_equal(loss.get_grad(g, truths), d)
    assert float(loss.get_loss(g, truths)) == pytest.approx(float(value), rel=1e-7)


def test_cce_hand_values():
    g = numpy.asarray([[0.1, 0.5, 0.6], [0.4, 0.6, 0.3], [1, 1, 1], [0, 0, 0]])
    d, value = CategoricalCrossentropy()(g, numpy.asarray([2, 1, 0, 2]))
    numpy.testing.assert_allclose(d[1], [0.1, -0.1, 0.075])
    numpy.testing.assert_allclose(d[2], [0.0, 0.25, 0.25])
    numpy.testing.assert_allclose(d[3], [0.0, 0.0, -0.25])
    assert float(value) == pytest.approx(0.239375)


def test_cce_gradient_is_the_crossentropy_derivative_wrt_logits(helpers):
    """guesses = softmax(z): d_guesses = d/dz [-sum(target * log softmax(z)) / n]."""
    z = numpy.random.default_rng(3).standard_normal((5, 4))
    lab = labels(5)
    d = CategoricalCrossentropy()(helpers.softmax64(z), lab)[0]
    T = target64(lab, 4)
    fd = helpers.finite_diff(lambda: float(-(T * log_softmax64(z)).sum() / 5), z)
    numpy.testing.assert_allclose(d, fd, atol=1e-7, rtol=1e-5)


def test_cce_loss_value_is_sum_of_squared_gradient(helpers):
    g, lab = probs(4, dtype="float64"), labels(4)
    loss = CategoricalCrossentropy(normalize=False)
    fd = helpers.finite_diff(lambda: float(loss.get_loss(g, lab)), g)
    numpy.testing.assert_allclose(loss.get_grad(g, lab), fd / 2, atol=1e-7)


def test_cce_dtypes_follow_numpy_promotion():
    lab = numpy.asarray([0, 1])
    assert CategoricalCrossentropy().get_grad(numpy.zeros((2, 2), "float32"), lab).dtype == "f"
    assert CategoricalCrossentropy().get_grad(numpy.zeros((2, 2), "float16"), lab).dtype == "f"
    assert CategoricalCrossentropy().get_grad(numpy.zeros((2, 2), "int64"), lab).dtype == "d"
    # dense int one-hot truths keep numpy's promotion (float32 - int64 -> float64)
    onehot = numpy.eye(2, dtype="int64")
    assert CategoricalCrossentropy().get_grad(numpy.zeros((2, 2), "f"), onehot).dtype == "d"


def test_cce_empty_batch():
    g = numpy.zeros((0, 3), dtype="f")
    for truths in ([], numpy.zeros((0,), dtype="i"), numpy.zeros((0, 3), dtype="f")):
        d, value = CategoricalCrossentropy()(g, truths)
        assert d.shape == (0, 3) and d.dtype == "f" and float(value) == 0.0


def test_cce_convert_truths_gives_dense_target_and_mask():
    g = probs(4)
    loss = CategoricalCrossentropy(names=NAMES, neg_prefix="!", missing_value="",
                                   normalize=False)
    truths = ["A", "!B", "", "D"]
    target, mask = loss.convert_truths(truths, g)
    numpy.testing.assert_array_equal(target[[0, 1, 3]], [[1, 0, 0, 0], [0, 0, 0, 0],
                                                          [0, 0, 0, 1]])
    numpy.testing.assert_array_equal(mask, [[1, 1, 1, 1], [0, 1, 0, 0], [0, 0, 0, 0],
                                            [1, 1, 1, 1]])
    assert mask.dtype == "f"
    numpy.testing.assert_array_equal(loss.get_grad(g, truths), (g - target) * mask)


# ---------------------------------------------------------------------------------------
# missing values, negative labels, label smoothing


@pytest.mark.parametrize("form", ["ints", "list", "onehot"])
def test_missing_value_masks_rows(form):
    g, lab = probs(6), numpy.asarray([2, 0, 1, 0, 3, 2])
    truths = {"ints": lab, "list": lab.tolist(), "onehot": numpy.eye(4, dtype="f")[lab]}[form]
    d = CategoricalCrossentropy(missing_value=0).get_grad(g, truths)
    keep = (lab != 0).astype("float64")
    numpy.testing.assert_allclose(d, cce_grad64(g, target64(lab, 4), keep), rtol=1e-6)
    assert not d[lab == 0].any()
    # rows that are not missing are unchanged; n stays the number of rows
    full = CategoricalCrossentropy().get_grad(g, truths)
    numpy.testing.assert_array_equal(d[lab != 0], full[lab != 0])


def test_missing_value_outside_the_label_range_is_allowed():
    g = probs(3)
    d = CategoricalCrossentropy(missing_value=-1).get_grad(g, numpy.asarray([1, -1, 2]))
    assert not d[1].any()
    numpy.testing.assert_allclose(d[[0, 2]], cce_grad64(g, target64([1, 0, 2], 4))[[0, 2]],
                                  rtol=1e-6)
    d = CategoricalCrossentropy(missing_value=None).get_grad(g, [1, None, 2])
    assert not d[1].any()


def test_missing_string_label():
    g = probs(3)
    d = CategoricalCrossentropy(names=NAMES, missing_value="").get_grad(g, ["A", "", "C"])
    numpy.testing.assert_allclose(d, cce_grad64(g, target64([0, 0, 2], 4),
                                                numpy.asarray([1.0, 0.0, 1.0])), rtol=1e-6)
    # with no missing_value, None in a string list counts as missing (as in Thinc)
    d = CategoricalCrossentropy(names=NAMES).get_grad(g, ["A", None, "C"])
    assert not d[1].any()


def test_negative_labels():
    g = numpy.asarray([[0.1, 0.5, 0.6, 0.0], [0.4, 0.6, 0.3, 0.2]])
    d = CategoricalCrossentropy(names=NAMES, neg_prefix="!", normalize=False).get_grad(
        g, ["A", "!A"])
    numpy.testing.assert_allclose(d[0], [-0.9, 0.5, 0.6, 0.0])
    numpy.testing.assert_allclose(d[1], [0.4, 0.0, 0.0, 0.0])  # only "not A" is learned


@pytest.mark.parametrize("smoothing", [0.1, 0.3, 0.7])
@pytest.mark.parametrize("form", ["ints", "list", "strings"])
def test_label_smoothing(smoothing, form):
    g, lab = probs(5, dtype="float64"), labels(5)
    truths = {"ints": lab, "list": lab.tolist(), "strings": [NAMES[i] for i in lab]}[form]
    d = CategoricalCrossentropy(names=NAMES, label_smoothing=smoothing,
                                normalize=False).get_grad(g, truths)
    # targets are float32 values, as Thinc's to_categorical makes them
    numpy.testing.assert_allclose(d, cce_grad64(g, target64(lab, 4, smoothing),
                                                normalize=False), rtol=0, atol=1e-7)


def test_label_smoothing_limits():
    g = probs(2, c=2)
    with pytest.raises(ValueError, match="with 2 classes label_smoothing must be below 0.5"):
        CategoricalCrossentropy(label_smoothing=0.5).get_grad(g, [0, 1])
    with pytest.raises(ValueError, match="at least 2 classes"):
        CategoricalCrossentropy(label_smoothing=0.1).get_grad(numpy.ones((2, 1), "f"), [0, 0])
    with pytest.raises(ValueError, match="label smoothing is only applied when truths are "
                                         "class indices"):
        CategoricalCrossentropy(label_smoothing=0.1).get_grad(g, numpy.eye(2, dtype="f"))
    for bad in (-0.1, 1.0, "0.1"):
        with pytest.raises(ValueError, match="label_smoothing must be >= 0 and < 1"):
            CategoricalCrossentropy(label_smoothing=bad)


def test_negative_label_with_label_smoothing_targets_zero():
    g = probs(2)
    d = CategoricalCrossentropy(names=NAMES, neg_prefix="!", label_smoothing=0.2,
                                normalize=False).get_grad(g, ["!B", "C"])
    numpy.testing.assert_allclose(d[0], [0.0, g[0, 1], 0.0, 0.0])
    numpy.testing.assert_allclose(d[1], g[1] - target64([2], 4, 0.2)[0], atol=1e-7)


# ---------------------------------------------------------------------------------------
# SequenceCategoricalCrossentropy


@pytest.mark.parametrize("normalize", [True, False])
def test_sequence_cce_matches_reference(normalize):
    gs = [probs(5, seed=1), probs(2, seed=2), probs(0)]
    labs = [labels(5, seed=3), labels(2, seed=4), labels(0)]
    truths = [labs[0], [NAMES[i] for i in labs[1]], labs[2].tolist()]
    loss = SequenceCategoricalCrossentropy(normalize=normalize, names=NAMES)
    ds, value = loss(gs, truths)
    expect = 0.0
    for g, lab, d in zip(gs, labs, ds):
        ref = cce_grad64(g, target64(lab, 4), normalize=False) / (3 if normalize else 1)
        numpy.testing.assert_allclose(d, ref, rtol=1e-6, atol=1e-8)
        assert d.dtype == "f"
        expect += (ref ** 2).sum()
    assert float(value) == pytest.approx(expect, rel=1e-5)
    assert float(loss.get_loss(gs, truths)) == pytest.approx(float(value))
    assert loss.get_grad([], []) == []
    assert loss.names == NAMES and loss.cc.normalize is False


def test_sequence_cce_gradient_is_the_crossentropy_derivative(helpers):
    zs = [numpy.random.default_rng(i).standard_normal((n, 3)) for i, n in enumerate((4, 2))]
    labs = [labels(4, 3), labels(2, 3, seed=5)]
    ds = SequenceCategoricalCrossentropy()([helpers.softmax64(z) for z in zs], labs)[0]
    for z, lab, d in zip(zs, labs, ds):
        T = target64(lab, 3)
        fd = helpers.finite_diff(lambda: float(-(T * log_softmax64(z)).sum() / 2), z)
        numpy.testing.assert_allclose(d, fd, atol=1e-7, rtol=1e-5)


def test_sequence_cce_settings_reach_each_sequence():
    loss = SequenceCategoricalCrossentropy(names=NAMES, neg_prefix="!", missing_value="",
                                           label_smoothing=0.1, normalize=False)
    g = probs(3)
    d = loss.get_grad([g], [["A", "", "!C"]])[0]
    assert not d[1].any()
    numpy.testing.assert_allclose(d[2], [0, 0, g[2, 2], 0])
    numpy.testing.assert_allclose(d[0], g[0] - target64([0], 4, 0.1)[0], atol=1e-7)


# ---------------------------------------------------------------------------------------
# L2Distance and CosineDistance


@pytest.mark.parametrize("normalize", [True, False])
def test_l2_matches_reference_and_derivative(normalize, helpers):
    rng = numpy.random.default_rng(0)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    loss = L2Distance(normalize=normalize)
    d, value = loss(a, b)
    n = 4 if normalize else 1
    numpy.testing.assert_allclose(d, (a - b) / n)
    assert float(value) == pytest.approx((((a - b) / n) ** 2).sum())
    # loss = sum((a - b)^2) / n^2, so its derivative is 2 * d / n
    fd = helpers.finite_diff(lambda: float(loss.get_loss(a, b)), a)
    numpy.testing.assert_allclose(2 * d / n, fd, atol=1e-7)
    assert loss(a.astype("f"), b.astype("f"))[0].dtype == "f"


def test_l2_hand_values():
    a, b = numpy.asarray([[1, 2], [8, 9]]), numpy.asarray([[1, 2], [10, 5]])
    assert float(L2Distance(normalize=False).get_loss(a, b)) == 20
    assert float(L2Distance().get_loss(a, b)) == 5


@pytest.mark.parametrize("ignore_zeros", [False, True])
@pytest.mark.parametrize("normalize", [True, False])
def test_cosine_matches_reference_and_derivative(normalize, ignore_zeros, helpers):
    rng = numpy.random.default_rng(1)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    b[2] = 0
    loss = CosineDistance(normalize=normalize, ignore_zeros=ignore_zeros)
    d, value = loss(a, b)
    per_row = 1 - cosine64(a, b)
    if ignore_zeros:
        per_row[2] = 0
    n = 5 if normalize else 1
    assert float(value) == pytest.approx(per_row.sum() / n, rel=1e-12)
    fd = helpers.finite_diff(lambda: float(loss.get_loss(a, b)), a)
    numpy.testing.assert_allclose(d, fd, atol=1e-8, rtol=1e-5)
    if ignore_zeros:
        assert not d[2].any()
    numpy.testing.assert_allclose(loss.get_similarity(a, b)[:, 0], cosine64(a, b))


def test_cosine_hand_values():
    orth_a, orth_b = numpy.asarray([[0, 2], [0, 5]]), numpy.asarray([[8, 0], [7, 0]])
    assert float(CosineDistance(normalize=False).get_loss(orth_a, orth_b)) == pytest.approx(2)
    same_a = numpy.asarray([[1, 2], [8, 9]], dtype="f")
    d, value = CosineDistance()(same_a, 10 * same_a)
    assert abs(float(value)) < 1e-6 and numpy.abs(d).max() < 1e-6 and d.dtype == "f"


# ---------------------------------------------------------------------------------------
# errors


def test_errors_for_shape_mismatches():
    g = probs(3)
    with pytest.raises(ValueError, match=r"mismatched shapes: 2 labels for 3 rows"):
        CategoricalCrossentropy().get_grad(g, [0, 1])
    with pytest.raises(ValueError, match=r"mismatched shapes: 4 labels for 3 rows"):
        CategoricalCrossentropy().get_grad(g, numpy.asarray([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=r"mismatched shapes: guesses \(3, 4\) vs truths "
                                         r"\(3, 3\)"):
        CategoricalCrossentropy().get_grad(g, numpy.eye(3, dtype="f"))
    with pytest.raises(ValueError, match=r"guesses must be a 2d array, got shape \(4,\)"):
        CategoricalCrossentropy().get_grad(g[0], [0])
    with pytest.raises(ValueError, match=r"truths must be 1d class indices or a 2d array"):
        CategoricalCrossentropy().get_grad(g, numpy.zeros((3, 4, 1), dtype="i"))
    with pytest.raises(ValueError, match=r"L2 distance: mismatched shapes: guesses \(3, 4\) "
                                         r"vs truths \(3, 3\)"):
        L2Distance().get_grad(g, g[:, :3])
    with pytest.raises(ValueError, match=r"L2 distance: mismatched shapes"):
        L2Distance().get_loss(g, g[:2])
    for method in ("get_grad", "get_loss", "get_similarity"):
        with pytest.raises(ValueError, match=r"cosine similarity: mismatched shapes"):
            getattr(CosineDistance(), method)(g, g[:, :3])
    with pytest.raises(ValueError, match="must be same length, got 1 and 2 sequences"):
        SequenceCategoricalCrossentropy().get_grad([g], [[0, 1, 2], [0]])
    with pytest.raises(ValueError, match=r"in sequence 1 of 2"):
        SequenceCategoricalCrossentropy().get_grad([g, g], [[0, 1, 2], [0]])


def test_errors_for_labels_out_of_range():
    g = probs(3)
    for truths in ([0, 4, 1], numpy.asarray([0, 4, 1])):
        with pytest.raises(ValueError, match="label 4 at position 1 is out of range for 4 "
                                             "classes"):
            CategoricalCrossentropy().get_grad(g, truths)
    with pytest.raises(ValueError, match="label -1 at position 2 is out of range"):
        CategoricalCrossentropy().get_grad(g, numpy.asarray([0, 1, -1]))
    with pytest.raises(ValueError, match="unknown label 'Z' at position 1; names are"):
        CategoricalCrossentropy(names=NAMES).get_grad(g, ["A", "Z", "B"])
    with pytest.raises(ValueError, match="unknown label 'Z' at position 0"):
        CategoricalCrossentropy(names=NAMES, neg_prefix="!").get_grad(g, ["!Z", "A", "B"])
    with pytest.raises(ValueError, match="3 names were given but guesses have 4 columns"):
        CategoricalCrossentropy(names=NAMES[:3]).get_grad(g, ["A", "B", "C"])


def test_errors_for_values_outside_unit_interval():
    with pytest.raises(ValueError, match=r"Cannot calculate CategoricalCrossentropy loss with "
                                         r"guesses outside the \[0,1\] interval: found values "
                                         r"from -0.1"):
        CategoricalCrossentropy().get_grad(numpy.asarray([[-0.1, 0.5, 0.6]]), [2])
    with pytest.raises(ValueError, match=r"guesses outside the \[0,1\] interval"):
        CategoricalCrossentropy().get_grad(numpy.asarray([[1.1, 0.5, 0.6]]), [2])
    with pytest.raises(ValueError, match=r"truth values outside the \[0,1\] interval"):
        CategoricalCrossentropy().get_grad(numpy.asarray([[0.1, 0.4, 0.5]]),
                                           numpy.asarray([[2.0, 0.5, 0.6]]))


def test_errors_for_wrong_types():
    g = probs(2)
    with pytest.raises(TypeError, match="guesses must be a NumPy or CuPy array, got list"):
        CategoricalCrossentropy().get_grad(g.tolist(), [0, 1])
    with pytest.raises(TypeError, match="guesses must hold numbers"):
        L2Distance().get_grad(numpy.asarray([["a"]]), numpy.asarray([["a"]]))
    with pytest.raises(TypeError, match="1d truths must be integer class indices, got dtype "
                                        "float64"):
        CategoricalCrossentropy().get_grad(g, numpy.asarray([0.0, 1.0]))
    with pytest.raises(TypeError, match="truths must be an array of class indices.*got dict"):
        CategoricalCrossentropy().get_grad(g, {0: 1})
    with pytest.raises(TypeError, match=r"truths mix ints and str \('B' at position 1\)"):
        CategoricalCrossentropy(names=NAMES).get_grad(g, [0, "B"])
    with pytest.raises(TypeError, match=r"label 1 at position 1 is a int, not a string name"):
        CategoricalCrossentropy(names=NAMES).get_grad(g, ["A", 1])
    with pytest.raises(ValueError, match="Cannot calculate loss from list of strings without "
                                         "names"):
        CategoricalCrossentropy().get_grad(g, ["A", "B"])
    with pytest.raises(TypeError, match="names must be a sequence of strings"):
        CategoricalCrossentropy(names="ABCD")
    with pytest.raises(TypeError, match="truths must be an array like the guesses, got list"):
        L2Distance().get_grad(g, g.tolist())
    with pytest.raises(TypeError, match="guesses must be a list of 2d arrays"):
        SequenceCategoricalCrossentropy().get_grad(g, [0, 1])
    with pytest.raises(TypeError, match="truths must be a list with one entry per sequence"):
        SequenceCategoricalCrossentropy().get_grad([g], numpy.asarray([[0, 1]]))


def test_errors_change_nothing():
    g = probs(3)
    before = g.copy()
    with pytest.raises(ValueError):
        CategoricalCrossentropy().get_grad(g, [0, 9, 1])
    numpy.testing.assert_array_equal(g, before)


# ---------------------------------------------------------------------------------------
# base class, registry, GPU


def test_module_docstring_example_runs():
    result = doctest.testmod(loss_module)
    assert result.attempted > 0 and result.failed == 0


def test_loss_base_class():
    class Half(Loss):
        def get_grad(self, guesses, truths):
            return (guesses - truths) / 2

        def get_loss(self, guesses, truths):
            return float(((guesses - truths) ** 2).sum() / 4)

    d, value = Half()(numpy.asarray([3.0]), numpy.asarray([1.0]))
    assert d.tolist() == [1.0] and value == 1.0
    with pytest.raises(NotImplementedError, match="Loss does not implement get_grad"):
        Loss().get_grad(None, None)


@pytest.mark.parametrize("name,kwargs,cls,args", [
    ("CategoricalCrossentropy.v1", {"missing_value": 0}, CategoricalCrossentropy,
     (probs(3), [0, 1, 2])),
    ("CategoricalCrossentropy.v2", {"neg_prefix": "!", "names": NAMES},
     CategoricalCrossentropy, (probs(3), ["A", "!B", "C"])),
    ("CategoricalCrossentropy.v3", {"label_smoothing": 0.1}, CategoricalCrossentropy,
     (probs(3), [0, 1, 2])),
    ("SequenceCategoricalCrossentropy.v1", {"normalize": False},
     SequenceCategoricalCrossentropy, ([probs(3)], [[0, 1, 2]])),
    ("SequenceCategoricalCrossentropy.v2", {"neg_prefix": "!"},
     SequenceCategoricalCrossentropy, ([probs(3)], [[0, 1, 2]])),
    ("SequenceCategoricalCrossentropy.v3", {"missing_value": 1, "label_smoothing": 0.2},
     SequenceCategoricalCrossentropy, ([probs(3)], [[0, 1, 2]])),
    ("L2Distance.v1", {"normalize": False}, L2Distance, (probs(3), probs(3, seed=1))),
    ("CosineDistance.v1", {"ignore_zeros": True}, CosineDistance,
     (probs(3), probs(3, seed=1))),
])
def test_registry(name, kwargs, cls, args):
    loss = registry.resolve({"loss": {"@losses": name, **kwargs}})["loss"]
    assert type(loss) is cls
    for key, value in kwargs.items():
        assert getattr(loss, key) == value
    direct = cls(**kwargs)
    got, want = loss(*args), direct(*args)
    numpy.testing.assert_array_equal(numpy.asarray(got[0]), numpy.asarray(want[0]))
    assert got[1] == want[1]


def test_registry_versions_take_their_own_arguments():
    with pytest.raises(ConfigValidationError):
        registry.resolve({"loss": {"@losses": "CategoricalCrossentropy.v1",
                                   "neg_prefix": "!"}})
    with pytest.raises(ConfigValidationError):
        registry.resolve({"loss": {"@losses": "SequenceCategoricalCrossentropy.v2",
                                   "label_smoothing": 0.1}})
    config = Config().from_str("""
        [loss]
        @losses = "CategoricalCrossentropy.v3"
        names = ["A", "B"]
        missing_value = ""
        label_smoothing = 0.1
    """)
    loss = registry.resolve(config)["loss"]
    assert loss.names == ["A", "B"] and loss.missing_value == ""
    assert loss.label_smoothing == 0.1
    # a config's int missing_value stays an int (Thinc's registry turns 0 into "0")
    loss = registry.resolve(Config().from_str("""
        [loss]
        @losses = "SequenceCategoricalCrossentropy.v3"
        missing_value = 0
    """))["loss"]
    assert loss.missing_value == 0 and isinstance(loss.missing_value, int)
    assert not loss.get_grad([probs(2)], [[0, 1]])[0][0].any()
    with pytest.raises(TypeError, match="missing_value must be None, a string or an int"):
        registry.resolve({"loss": {"@losses": "CategoricalCrossentropy.v1",
                                   "missing_value": [0]}})
    assert sorted(registry.losses.get_all()) == sorted([
        "CategoricalCrossentropy.v1", "CategoricalCrossentropy.v2",
        "CategoricalCrossentropy.v3", "SequenceCategoricalCrossentropy.v1",
        "SequenceCategoricalCrossentropy.v2", "SequenceCategoricalCrossentropy.v3",
        "SummedCrossentropy.v1", "L2Distance.v1", "CosineDistance.v1"])


def test_losses_on_gpu_match_numpy(gpu):
    import cupy

    g, lab = probs(6), labels(6)
    g[1] = 0.25
    cg = cupy.asarray(g)
    cce = CategoricalCrossentropy(names=NAMES, neg_prefix="!", missing_value=3,
                                  label_smoothing=0.1)
    strings = ["A", "!B", "C", "D", "!A", "B"]
    for truths, ctruths in [(lab, cupy.asarray(lab)), (lab, lab), (lab.tolist(), lab.tolist()),
                            (strings, strings)]:
        if isinstance(truths, list) and isinstance(truths[0], str):
            cce.missing_value = "D"
        d, value = cce(g, truths)
        cd, cvalue = cce(cg, ctruths)
        assert isinstance(cd, cupy.ndarray) and cd.dtype == d.dtype
        numpy.testing.assert_allclose(cupy.asnumpy(cd), d, rtol=1e-6, atol=1e-8)
        assert float(cvalue) == pytest.approx(float(value), rel=1e-5)
    onehot = numpy.eye(4, dtype="f")[lab]
    numpy.testing.assert_allclose(
        cupy.asnumpy(CategoricalCrossentropy(missing_value=0).get_grad(cg, cupy.asarray(onehot))),
        CategoricalCrossentropy(missing_value=0).get_grad(g, onehot), rtol=1e-6)
    seq = SequenceCategoricalCrossentropy()
    for a, b in zip(seq([cg, cg[:2]], [lab, lab[:2]])[0], seq([g, g[:2]], [lab, lab[:2]])[0]):
        numpy.testing.assert_allclose(cupy.asnumpy(a), b, rtol=1e-6)
    b = probs(6, seed=9)
    for loss in (L2Distance(), CosineDistance(ignore_zeros=True)):
        cd, cvalue = loss(cg, cupy.asarray(b))
        d, value = loss(g, b)
        numpy.testing.assert_allclose(cupy.asnumpy(cd), d, rtol=1e-5, atol=1e-7)
        assert float(cvalue) == pytest.approx(float(value), rel=1e-5)
    with pytest.raises(TypeError, match="not on the device of the guesses"):
        L2Distance().get_grad(g, cupy.asarray(b))
