"""thinc_fast.util: Thinc's helpers (get_width, get_array_module, convert_recursive, ...)."""
import numpy
import pytest

from thinc_fast.util import (convert_recursive, data_validation, get_array_module, get_width,
                             is_cupy_array, is_numpy_array, is_xp_array, iterate_recursive,
                             partial)


@pytest.mark.parametrize("obj,width", [
    (numpy.zeros((1, 2, 3, 4)), 4),
    (numpy.zeros((5, 7)), 7),
    (numpy.array(1), 0),
    (numpy.array([1, 2]), 3),
    (numpy.array([4], dtype="uint8"), 5),
    ([numpy.zeros((1, 2)), numpy.zeros(1)], 2),
    ((numpy.zeros((3, 6)),), 6),
    ([], 0),
])
def test_get_width(obj, width):
    assert get_width(obj) == width


def test_get_width_of_ragged_like_and_dim():
    class RaggedLike:
        def __init__(self, data, lengths):
            self.data, self.lengths = data, lengths

    assert get_width(RaggedLike(numpy.zeros((4, 3)), numpy.array([2, 2]))) == 3
    assert get_width(numpy.zeros((2, 5, 6)), dim=1) == 5


@pytest.mark.parametrize("obj", [1234, "foo", {"a": numpy.array(0)}])
def test_get_width_fail(obj):
    with pytest.raises(ValueError, match="Cannot get width of object of type"):
        get_width(obj)


def test_array_module_and_predicates():
    with pytest.raises(ValueError, match="Only numpy and cupy arrays are supported, but found "
                                         "<class 'int'> instead"):
        get_array_module(0)
    zeros = numpy.zeros((1, 2))
    assert get_array_module(zeros) is numpy
    assert is_numpy_array(zeros) and is_xp_array(zeros) and not is_cupy_array(zeros)
    assert not is_numpy_array((1, 2)) and not is_xp_array([1.0])


def test_convert_and_iterate_recursive():
    obj = {"a": {("b", "foo"): {"c": "foo", "d": ["foo", {"e": "foo", "f": (1, "foo")}]}}}
    out = convert_recursive(lambda x: x == "foo", str.upper, obj)
    assert out == {"a": {("b", "FOO"): {"c": "FOO", "d": ["FOO", {"e": "FOO", "f": (1, "FOO")}]}}}
    assert obj["a"][("b", "foo")]["c"] == "foo", "the input is not changed"
    assert list(iterate_recursive(lambda x: x == "foo", obj)) == ["foo"] * 5

    class ArgsKwargsLike:
        def __init__(self, args, kwargs):
            self.args, self.kwargs = args, kwargs

        def items(self):
            return [*enumerate(self.args), *self.kwargs.items()]

        @classmethod
        def from_items(cls, items):
            args = tuple(v for k, v in items if isinstance(k, int))
            return cls(args, {k: v for k, v in items if isinstance(k, str)})

    out = convert_recursive(lambda x: x == "foo", str.upper,
                            ArgsKwargsLike(("foo", [{"b": "foo"}]), {"a": ["x", "foo"]}))
    assert out.args == ("FOO", [{"b": "FOO"}]) and out.kwargs == {"a": ["x", "FOO"]}


def test_data_validation_and_partial():
    from thinc_fast.util import DATA_VALIDATION

    assert DATA_VALIDATION.get() is False
    with data_validation(True):
        assert DATA_VALIDATION.get() is True
    assert DATA_VALIDATION.get() is False

    def scale(x, *, by=2):
        """Multiply."""
        return x * by

    triple = partial(scale, by=3)
    assert triple(2) == 6 and triple.__doc__ == "Multiply."
