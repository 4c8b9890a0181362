"""thinc_fast.types and thinc_fast.compat: Thinc's data types.

Ragged/Padded/Pairs indexing is checked against plain NumPy references built
from the list of sequences; the array annotations against pydantic (both APIs).
"""

import numpy
import pytest
from numpy.testing import assert_array_equal

from thinc_fast import compat
from thinc_fast.types import (ArgsKwargs, Floats1d, Floats2d, Generator, Ints1d, Ints2d,
                              Padded, Pairs, Ragged, SizedGenerator, validate_array)

LENGTHS = [4, 2, 8, 1, 0, 4]


def make_sequences(lengths=LENGTHS, tail=(3, 2)):
    rng = numpy.random.default_rng(0)
    return [rng.standard_normal((n,) + tail).astype("f") for n in lengths]


def ragged_reference(seqs, index):
    """The sequences NumPy selects with `index` from the lengths, concatenated."""
    chosen = numpy.arange(len(seqs))[index]
    chosen = numpy.atleast_1d(chosen)
    tail = seqs[0].shape[1:]
    if len(chosen) == 0:
        return numpy.zeros((0,) + tail, dtype="f"), numpy.zeros(0, dtype="i")
    data = numpy.concatenate([seqs[i] for i in chosen])
    return data, numpy.array([len(seqs[i]) for i in chosen], dtype="i")


INDICES = [
    0, 3, 4, 5, -1, -6, numpy.int64(2), numpy.int32(-2), numpy.array(1),
    slice(None), slice(0, 2), slice(1, 3), slice(None, 3), slice(2, None), slice(-2, None),
    slice(-1, None), slice(3, 3), slice(5, 2), slice(10, 20), slice(None, None, 2),
    slice(None, None, -1), slice(4, 0, -2),
    [2, 1, 5], [0, 0], [], numpy.array([2, 1, 4], dtype="i"), numpy.array([-1, 0]),
    numpy.array([True, False, True, False, True, True]),
]


@pytest.mark.parametrize("index", INDICES, ids=repr)
def test_ragged_indexing_matches_numpy(index):
    seqs = make_sequences()
    ragged = Ragged(numpy.concatenate(seqs), numpy.array(LENGTHS, dtype="i"))
    expected_data, expected_lengths = ragged_reference(seqs, index)
    result = ragged[index]
    assert isinstance(result, Ragged)
    assert_array_equal(result.lengths, expected_lengths)
    assert result.lengths.dtype == ragged.lengths.dtype
    assert result.dataXd.shape == expected_data.shape
    assert_array_equal(result.dataXd, expected_data)
    assert result.data.shape == (expected_data.shape[0], 6)
    assert result.data_shape == ragged.data_shape == (-1, 3, 2)
    assert len(result) == len(expected_lengths)
    assert int(result.lengths.sum()) == result.data.shape[0]


def test_ragged_int_and_step_slice_are_views():
    data = numpy.arange(40, dtype="f").reshape(20, 2)
    ragged = Ragged(data, numpy.array([4, 2, 8, 1, 4], dtype="i"))
    assert numpy.shares_memory(ragged[2].data, data)
    assert numpy.shares_memory(ragged[1:3].data, data)
    assert_array_equal(ragged[1].data, data[4:6])


def test_ragged_shapes_and_dataXd():
    data = numpy.zeros((7, 3, 2), dtype="f")
    ragged = Ragged(data, numpy.array([3, 4], dtype="i"))
    assert ragged.data.shape == (7, 6)
    assert ragged.dataXd.shape == (7, 3, 2)
    assert ragged.data_shape == (-1, 3, 2)
    one_d = Ragged(numpy.arange(5, dtype="f"), numpy.array([2, 3], dtype="i"))
    assert one_d.data.shape == (5, 1)
    assert one_d.dataXd.shape == (5,)
    assert_array_equal(one_d[1].dataXd, [2, 3, 4])
    flat = numpy.zeros((4, 3), dtype="f")
    assert Ragged(flat, numpy.array([4], dtype="i")).data is flat


def test_ragged_empty():
    ragged = Ragged(numpy.zeros((0, 4), dtype="f"), numpy.array([], dtype="i"))
    assert len(ragged) == 0
    for index in (slice(0, 0), slice(0, 2), slice(1, 2), [], numpy.array([], dtype="i")):
        part = ragged[index]
        assert part.data.shape == (0, 4)
        assert part.lengths.shape == (0,)
    assert ragged.dataXd.shape == (0, 4)
    with pytest.raises(IndexError):
        ragged[0]


def test_ragged_starts_ends():
    ragged = Ragged(numpy.zeros((20, 4), dtype="f"), numpy.array([4, 2, 8, 1, 4], dtype="i"))
    starts_ends = ragged._get_starts_ends()
    assert starts_ends.dtype == numpy.int32
    assert list(starts_ends) == [0, 4, 6, 14, 15, 19]
    assert list(ragged._get_starts()) == [0, 4, 6, 14, 15]
    assert list(ragged._get_ends()) == [4, 6, 14, 15, 19]
    assert ragged._get_starts_ends() is starts_ends  # cached
    assert ragged.starts_ends is starts_ends


def test_ragged_lengths_checks():
    data = numpy.zeros((20, 4), dtype="f")
    with pytest.raises(ValueError) as err:
        Ragged(data, numpy.array([10, 8, 3], dtype="i"))
    assert "21" in str(err.value) and "20" in str(err.value)
    with pytest.raises(ValueError, match="negative"):
        Ragged(data, numpy.array([5, -1], dtype="i"))
    with pytest.raises(ValueError, match="1d"):
        Ragged(data, numpy.array([[5, 5]], dtype="i"))
    with pytest.raises(TypeError):
        Ragged(numpy.float32(1.0), numpy.array([1], dtype="i"))
    # Fewer rows used than there are is accepted, as in Thinc (whose own tests rely on it).
    ragged = Ragged(data, numpy.array([4, 2], dtype="i"))
    assert ragged[1].data.shape == (2, 4)
    # A list of lengths becomes an int32 array.
    ragged = Ragged(data, [15, 5])
    assert ragged.lengths.dtype == numpy.int32
    assert ragged[1].data.shape == (5, 4)


@pytest.mark.parametrize("index,error", [
    (6, "out of bounds"), (-7, "out of bounds"), ((0, 1), "2d"),
    (numpy.array([0, 6]), "out of bounds"), (numpy.array([0.5]), "integers"),
    (numpy.array([[0, 1]]), "1d"), (numpy.array([True, False]), "boolean"),
])
def test_ragged_bad_index(index, error):
    ragged = Ragged(numpy.concatenate(make_sequences()), numpy.array(LENGTHS, dtype="i"))
    with pytest.raises(IndexError, match=error):
        ragged[index]


# ------------------------------------------------------------------ Padded
def make_padded(lengths, width=3):
    """Sequences in their original order and the Padded batch of them (time-major,
    sorted by decreasing length, as Thinc's list2padded makes it)."""
    rng = numpy.random.default_rng(1)
    seqs = [rng.standard_normal((n, width)).astype("f") for n in lengths]
    order = numpy.argsort(-numpy.array(lengths), kind="stable")
    steps = max(lengths)
    data = numpy.zeros((steps, len(seqs), width), dtype="f")
    for col, i in enumerate(order):
        data[:lengths[i], col] = seqs[i]
    sorted_lengths = numpy.array(lengths, dtype="i")[order]
    size_at_t = numpy.array([(sorted_lengths > t).sum() for t in range(steps)], dtype="i")
    return seqs, Padded(data, size_at_t, sorted_lengths, order.astype("i"))


PADDED_INDICES = [0, 2, -1, numpy.int64(3), slice(None), slice(1, 3), slice(None, None, 2),
                  slice(None, None, -1), slice(2, 2), [3, 0, 2], numpy.array([1, 4], dtype="i"),
                  numpy.array([True, False, True, True, False]), []]


@pytest.mark.parametrize("index", PADDED_INDICES, ids=repr)
def test_padded_indexing_matches_numpy(index):
    lengths = [3, 5, 1, 4, 2]
    seqs, padded = make_padded(lengths)
    cols = numpy.sort(numpy.atleast_1d(numpy.arange(len(lengths))[index]))
    result = padded[index]
    assert isinstance(result, Padded)
    assert len(result) == len(cols)
    assert_array_equal(result.data, padded.data[:, cols])
    assert_array_equal(result.lengths, padded.lengths[cols])
    assert_array_equal(result.indices, padded.indices[cols])
    assert result.data.shape == (padded.data.shape[0], len(cols), 3)
    # Still sorted by decreasing length, size_at_t counts the sequences kept ...
    assert list(result.lengths) == sorted(result.lengths, reverse=True)
    expected_size = [(result.lengths > t).sum() for t in range(padded.data.shape[0])]
    assert_array_equal(result.size_at_t, expected_size)
    assert result.size_at_t.dtype == padded.size_at_t.dtype
    # ... and every column is still the sequence its index names.
    for col in range(len(result)):
        n = int(result.lengths[col])
        assert_array_equal(result.data[:n, col], seqs[int(result.indices[col])])


def test_padded_copy_and_len():
    _, padded = make_padded([2, 3])
    copy = padded.copy()
    copy.data += 1
    copy.lengths[0] = 0
    assert len(copy) == 2
    assert not numpy.shares_memory(copy.data, padded.data)
    assert padded.lengths[0] == 3
    with pytest.raises(IndexError):
        padded[2]
    with pytest.raises(IndexError):
        padded[0, 1]


# ------------------------------------------------------------ Pairs, ArgsKwargs
@pytest.mark.parametrize("index", [0, -1, slice(None, 2), slice(-1, None), slice(None, None, 3),
                                   numpy.array([3, 1])])
def test_pairs_indexing(index):
    one = numpy.arange(128 * 5, dtype="f").reshape(128, 5)
    two = numpy.arange(128 * 2, dtype="f").reshape(128, 2)
    pairs = Pairs(one, two)
    assert len(pairs) == 128
    assert_array_equal(pairs[index].one, one[index])
    assert_array_equal(pairs[index].two, two[index])
    words = Pairs(["a", "b", "c"], [1, 2, 3])
    assert words[1:] == Pairs(["b", "c"], [2, 3])


def test_argskwargs():
    ak = ArgsKwargs(args=("x", 2), kwargs={"a": 1, "b": None})
    assert list(ak.keys()) == [0, 1, "a", "b"]
    assert list(ak.values()) == ["x", 2, 1, None]
    assert list(ak.items()) == [(0, "x"), (1, 2), ("a", 1), ("b", None)]
    assert ArgsKwargs.from_items(ak.items()) == ak
    # Int keys give positions by order, not by value.
    rebuilt = ArgsKwargs.from_items([(5, "p"), ("k", 3), (0, "q")])
    assert rebuilt.args == ("p", "q") and rebuilt.kwargs == {"k": 3}
    f = lambda *args, **kwargs: (args, kwargs)  # noqa: E731
    assert f(*ak.args, **ak.kwargs) == (("x", 2), {"a": 1, "b": None})


# ------------------------------------------------------- array annotations
def test_validate_array_messages():
    arr = numpy.zeros((2, 3), dtype="f")
    assert validate_array(arr, ndim=2, dtype="f") is arr
    with pytest.raises(TypeError, match="not a valid numpy or cupy array"):
        validate_array([[1.0]])
    with pytest.raises(ValueError, match=r"wrong array dimensions \(expected 1, got 2\)"):
        validate_array(arr, ndim=1)
    with pytest.raises(ValueError, match=r"expected int32/int64/uint32/uint64, got float32"):
        validate_array(arr, dtype="i")
    with pytest.raises(ValueError, match=r"expected float32, got float64"):
        validate_array(arr.astype("float64"), dtype="f")
    for dtype in ("int32", "int64", "uint32", "uint64"):
        validate_array(numpy.zeros(2, dtype=dtype), ndim=1, dtype="i")
    with pytest.raises(TypeError, match="annotation"):
        Floats2d()


def _pydantic_apis():
    pytest.importorskip("pydantic")
    apis = []
    try:
        from pydantic import v1
        apis.append(v1)
    except ImportError:  # pragma: no cover - pydantic 1
        pass
    import pydantic
    apis.append(pydantic)
    return apis


@pytest.mark.parametrize("arr,annotation,ok", [
    (numpy.zeros(3, dtype="f"), Floats1d, True),
    (numpy.zeros((2, 2), dtype="f"), Floats2d, True),
    (numpy.zeros((2, 2), dtype="i"), Ints2d, True),
    (numpy.zeros(3, dtype="uint64"), Ints1d, True),
    (numpy.zeros((2, 2), dtype="f"), Floats1d, False),
    (numpy.zeros((2, 2), dtype="f"), Ints2d, False),
    (numpy.zeros((2, 2), dtype="float64"), Floats2d, False),
    ([1.0, 2.0], Floats1d, False),
])
def test_array_annotations_validate_with_pydantic(arr, annotation, ok):
    for api in _pydantic_apis():
        model = api.create_model("M", arr=(annotation, ...))
        if ok:
            assert model(arr=arr).arr is arr
        else:
            with pytest.raises(api.ValidationError):
                model(arr=arr)


def test_generator_annotation():
    for api in _pydantic_apis():
        model = api.create_model("M", items=(Generator, ...))
        gen = (i for i in range(3))
        assert model(items=gen).items is gen
        assert model(items=[1, 2]).items == [1, 2]
        with pytest.raises(api.ValidationError):
            model(items=5)


def test_sized_generator_is_the_backends_one():
    from thinc_fast.backends import SizedGenerator as OpsSizedGenerator

    assert SizedGenerator is OpsSizedGenerator
    sized = SizedGenerator(lambda: iter([1, 2, 3]), 3)
    assert len(sized) == 3 and list(sized) == list(sized) == [1, 2, 3]


# ------------------------------------------------------------------ compat
def test_compat_flags():
    import importlib.util

    from thinc_fast.backends import cupy_ops

    assert compat.has_torch == (importlib.util.find_spec("torch") is not None)
    assert compat.has_cupy == (cupy_ops.cupy is not None)
    assert compat.has_cupy_gpu == (cupy_ops.cupy is not None and cupy_ops.gpu_status() is None)
    assert compat.has_blis is True
    assert compat.has_tensorflow is False and compat.has_mxnet is False
    if not compat.has_torch:
        assert str(compat.torch_version) == "0.0.0"
        assert compat.torch is None and compat.has_torch_gpu is False
    assert compat.has_gpu == bool(compat.has_cupy_gpu or compat.has_torch_mps_gpu)
    with pytest.raises(AttributeError):
        compat.no_such_flag


def test_compat_does_not_import_torch_for_flags(helpers):
    code = ("import sys; from thinc_fast.compat import has_torch, torch_version, has_cupy, "
            "has_cupy_gpu, has_gpu, has_torch_mps_gpu, has_blis; import thinc_fast.api; "
            "import thinc_fast.types; assert 'torch' not in sys.modules, 'torch imported'")
    run = helpers.run_python(code)
    assert run.returncode == 0, run.stderr[-2000:]


def test_api_exports():
    import thinc_fast.api as api

    for name in ("Ragged", "Padded", "ArgsKwargs", "Unserializable", "enable_mxnet",
                 "enable_tensorflow"):
        assert name in api.__all__ and hasattr(api, name)
