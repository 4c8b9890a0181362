"""minibatch, to_categorical, fix_random_seed."""
import random

import warnings

import numpy
import pytest

from thinc_fast.api import fix_random_seed, minibatch, to_categorical


def test_minibatch_over_list_range_and_array():
    batches = minibatch(list(range(10)), size=4)
    assert len(batches) == 3
    assert list(batches) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert list(batches) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]], "re-iterable"
    assert list(minibatch(range(5), size=2)) == [range(0, 2), range(2, 4), range(4, 5)]
    arr = numpy.arange(20, dtype="i").reshape(10, 2)
    out = list(minibatch(arr, size=4))
    assert all(isinstance(b, numpy.ndarray) for b in out)
    assert [b.shape for b in out] == [(4, 2), (4, 2), (2, 2)]
    numpy.testing.assert_array_equal(numpy.concatenate(out), arr)
    assert numpy.shares_memory(out[0], arr), "unshuffled array batches are views"


def test_minibatch_default_size_is_128():
    assert [len(b) for b in minibatch(numpy.arange(300))] == [128, 128, 44]


def test_minibatch_sizes_from_an_iterable():
    def sizes():
        size = 1
        while True:
            yield size
            size *= 2

    assert [len(b) for b in minibatch(list(range(20)), size=sizes())] == [1, 2, 4, 8, 5]
    assert [len(b) for b in minibatch(list(range(6)), size=[2, 4])] == [2, 4]
    with pytest.raises(ValueError, match="ran out"):
        list(minibatch(list(range(10)), size=[2, 3]))
    with pytest.raises(TypeError, match="only known for an int"):
        len(minibatch(list(range(10)), size=iter([5, 5])))


def test_minibatch_shuffle_is_a_permutation():
    fix_random_seed(1)
    items = numpy.arange(50)
    out = numpy.concatenate(list(minibatch(items, size=7, shuffle=True)))
    assert sorted(out.tolist()) == list(range(50)) and out.tolist() != list(range(50))
    lst = list(minibatch(list("abcdefgh"), size=3, shuffle=True))
    assert sorted(sum(lst, [])) == list("abcdefgh")


@pytest.mark.parametrize("size", [0, -3, 2.5, "8", True])
def test_minibatch_rejects_bad_sizes(size):
    with pytest.raises((ValueError, TypeError), match="size"):
        list(minibatch(list(range(10)), size=size))


def test_minibatch_rejects_non_sequences():
    with pytest.raises(TypeError, match="sequence"):
        minibatch((i for i in range(3)))


def test_to_categorical():
    Y = to_categorical(numpy.array([0, 2, 1]))
    assert Y.dtype == numpy.float32
    numpy.testing.assert_array_equal(Y, numpy.eye(3)[[0, 2, 1]])
    assert to_categorical(numpy.array([1]), n_classes=4).shape == (1, 4)
    smooth = to_categorical(numpy.array([0, 1]), n_classes=3, label_smoothing=0.3)
    numpy.testing.assert_allclose(smooth, [[0.7, 0.15, 0.15], [0.15, 0.7, 0.15]], rtol=1e-6)
    numpy.testing.assert_allclose(smooth.sum(axis=1), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="n_classes=2"):
        to_categorical(numpy.array([0, 5]), n_classes=2)
    with pytest.raises(ValueError, match="integer labels"):
        to_categorical(numpy.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="label_smoothing"):
        to_categorical(numpy.array([0, 1]), label_smoothing=0.9)


def test_fix_random_seed_repeats_numpy_and_python():
    fix_random_seed(5)
    a = (numpy.random.rand(3), random.random())
    fix_random_seed(5)
    b = (numpy.random.rand(3), random.random())
    numpy.testing.assert_array_equal(a[0], b[0])
    assert a[1] == b[1]


@pytest.mark.parametrize("shape", [(1,), (3,), (4, 3), (5, 4, 3), (3, 2, 1)])
def test_to_categorical_of_nd_labels(shape):
    labels = numpy.random.default_rng(0).integers(0, 5, shape)
    one_hot = to_categorical(labels, 5)
    assert one_hot.shape == shape + (5,) and one_hot.dtype == numpy.float32
    numpy.testing.assert_array_equal(one_hot.argmax(axis=-1), labels)
    smooth = to_categorical(labels, 5, label_smoothing=0.2)
    numpy.testing.assert_allclose(smooth.sum(axis=-1), 1.0, rtol=1e-6)
    assert smooth.max() == pytest.approx(0.8) and smooth.min() == pytest.approx(0.05)


def test_to_categorical_class_counts_as_thinc():
    numpy.testing.assert_array_equal(to_categorical(numpy.array([0, 0, 0])), [[1.0]] * 3)
    numpy.testing.assert_allclose(to_categorical(numpy.array([0, 1, 0]), label_smoothing=0.01),
                                  [[0.99, 0.01], [0.01, 0.99], [0.99, 0.01]], rtol=1e-6)
    with pytest.raises(ValueError, match="n_classes should be at least 1"):
        to_categorical(numpy.array([0, 0]), 0)
    with pytest.raises(ValueError, match=r"n_classes should be greater than 1.*label smoothing.*but 1"):
        to_categorical(numpy.array([0, 1]), 1, label_smoothing=0.01)
    with pytest.raises(ValueError, match=r"label_smoothing parameter.*less than.*0\.8"):
        to_categorical(numpy.arange(5), label_smoothing=0.8)
    with pytest.raises(ValueError, match=r"label_smoothing parameter has to be >= 0"):
        to_categorical(numpy.arange(5), label_smoothing=-0.1)
    with pytest.raises(ValueError, match="labels must be >= 0"):
        to_categorical(numpy.array([-1, 2]))


@pytest.mark.parametrize("content,looks", [
    (b"sepal_length,sepal_width,label\n5.1,3.5,0\n", "CSV text"),
    (b'{"text": "good", "label": "pos"}\n', "JSON text"),
    (b"\x93NUMPY\x01\x00v\x00{'descr': '<f8'", "a single .npy array"),
    (b"", "an empty file"),
    (b"\x80\x04\x95\x00\x00", "binary data that is not a zip archive"),
])
def test_a_file_that_is_not_an_npz_is_named_for_what_it_is(tmp_path, content, looks):
    """Not NumPy's "pickled data ... allow_pickle" message, which blames the
    wrong thing and suggests an unsafe fix."""
    from thinc_fast.datasets import load_npz
    from thinc_fast.errors import DataError

    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(DataError) as info:
        load_npz(path)
    message = str(info.value)
    assert looks in message and "numpy.savez(path, X=X, Y=Y)" in message
    assert "pickle" not in message


def test_labels_starting_at_one_warn(tmp_path):
    from thinc_fast.datasets import load_npz

    path = tmp_path / "data.npz"
    numpy.savez(path, X=numpy.zeros((4, 2)), Y=numpy.array([1, 2, 3, 1]))
    with pytest.warns(UserWarning, match=r"no label in 'Y' is 0 \(they run 1..3\).*subtract 1"):
        arrays = load_npz(path)
    assert arrays["Y"].shape == (4, 4)
    numpy.savez(path, X=numpy.zeros((4, 2)), Y=numpy.array([0, 2, 1, 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_npz(path)


def test_features_on_very_different_scales_warn(tmp_path):
    from thinc_fast.datasets import load_npz

    rng = numpy.random.default_rng(0)
    X = rng.standard_normal((50, 3)) * numpy.array([0.1, 1.0, 300.0])
    path = tmp_path / "wine_like.npz"
    numpy.savez(path, X=X, Y=rng.integers(0, 2, 50))
    with pytest.warns(UserWarning, match=r"very different scales \(standard deviations from "
                                         r"0\.\d+ to \d+\); standardize"):
        load_npz(path)
    numpy.savez(path, X=(X - X.mean(0)) / X.std(0), Y=rng.integers(0, 2, 50))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_npz(path)
