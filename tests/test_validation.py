"""Data validation: under ``data_validation(True)``, ``Model.initialize`` checks the
sample X and Y against the annotations of each forward function (Thinc 9.1.1's
``validate_fwd_input_output``) and raises ``DataValidationError``."""
from collections import deque
from typing import Callable, Dict, List, Literal, Optional, Sequence, Tuple, TypeVar, Union

import numpy
import pytest

from thinc_fast import model as model_module
from thinc_fast.api import (Model, Ragged, chain, list2ragged, reduce_max, reduce_mean,
                            reduce_sum, with_ragged)
from thinc_fast.errors import ThincFastError
from thinc_fast.types import Floats1d, Floats2d, Ints1d, Padded
from thinc_fast.util import (DATA_VALIDATION, DataValidationError, data_validation,
                             validate_fwd_input_output)

F2 = numpy.zeros((2, 3), dtype="float32")
F3 = numpy.zeros((2, 3, 1), dtype="float32")
I1 = numpy.zeros((2,), dtype="int32")


def layer(forward, name="custom"):
    return Model(name, forward)


def fwd_floats2d(model: Model, X: Floats2d, is_train: bool) -> Tuple[Floats2d, Callable]:
    return X, lambda dY: dY


def errors_of(forward, X, Y=None):
    with pytest.raises(DataValidationError) as info:
        validate_fwd_input_output("custom", forward, X, Y)
    return [(" -> ".join(map(str, e.get("loc", ()))), e["msg"]) for e in info.value.errors]


def test_the_error_is_thincs_and_a_value_error():
    err = DataValidationError("relu", F3, None, [{"loc": ("X",), "msg": "wrong"}])
    assert isinstance(err, ValueError) and isinstance(err, ThincFastError)
    text = str(err)
    assert text.startswith("\n\nData validation error in 'relu'\n")
    assert "X: <class 'numpy.ndarray'> Y: <class 'NoneType'>" in text
    assert text.rstrip().endswith("X   wrong")


def test_off_by_default_and_on_only_inside_the_block():
    assert DATA_VALIDATION.get() is False
    model = layer(fwd_floats2d)
    model.initialize(X=F3)  # not checked
    with data_validation(True):
        with pytest.raises(DataValidationError):
            layer(fwd_floats2d).initialize(X=F3)
        with data_validation(False):
            layer(fwd_floats2d).initialize(X=F3)
    assert DATA_VALIDATION.get() is False


def test_nothing_is_looked_at_while_validation_is_off(monkeypatch):
    def boom(*args):
        raise AssertionError("validation ran while off")

    monkeypatch.setattr(model_module, "validate_fwd_input_output", boom)
    chain(list2ragged(), reduce_sum()).initialize(X=[F2])


def test_arrays_are_checked_for_rank_and_dtype_and_the_layer_is_named():
    with data_validation(True):
        with pytest.raises(DataValidationError, match="Data validation error in 'custom'") as info:
            layer(fwd_floats2d).initialize(X=F3, Y=F2)
    text = str(info.value)
    assert "expected Floats2d, got a 3d float32 array of shape (2, 3, 1)" in text
    assert "wrong array dimensions (expected 2, got 3)" in text
    assert errors_of(fwd_floats2d, F2.astype("float64"))[0][1].endswith(
        "(wrong array data type (expected float32, got float64))")
    assert errors_of(fwd_floats2d, [F2]) == [
        ("X", "expected Floats2d, got a list of ndarray (1 items) (not a valid numpy or cupy array)")]
    validate_fwd_input_output("custom", fwd_floats2d, F2, F2)


def test_y_is_checked_against_the_first_item_of_the_returned_tuple():
    assert errors_of(fwd_floats2d, F2, I1) == [
        ("Y", "expected Floats2d, got a 1d int32 array of shape (2,) (wrong array dimensions "
              "(expected 2, got 1), wrong array data type (expected float32, got int32))")]

    def whole(model: Model, X: Floats2d, is_train: bool) -> Floats2d:
        return X

    validate_fwd_input_output("custom", whole, F2, F2)
    assert errors_of(whole, F2, F3)[0][0] == "Y"


def test_containers_unions_typevars_and_literals():
    T = TypeVar("T", bound=Union[Ragged, Padded])
    C = TypeVar("C", Floats1d, Floats2d)

    def fwd_list(model: Model, X: List[Floats2d], is_train: bool) -> Tuple[Ragged, Callable]:
        return X, None

    def fwd_tuple(model: Model, X: Tuple[Floats2d, Ints1d], is_train: bool) -> Tuple[T, Callable]:
        return X, None

    def fwd_misc(model: Model, X: Optional[Dict[str, Sequence[int]]], is_train: bool
                 ) -> Tuple[Literal["a", "b"], Callable]:
        return X, None

    def fwd_var(model: Model, X: T, is_train: bool) -> Tuple[C, Callable]:
        return X, None

    validate_fwd_input_output("custom", fwd_list, [F2, F2], Ragged(F2, I1))
    validate_fwd_input_output("custom", fwd_list, (F2,), None)
    assert errors_of(fwd_list, [F2, F3]) == [
        ("X -> 1", "expected Floats2d, got a 3d float32 array of shape (2, 3, 1) "
                   "(wrong array dimensions (expected 2, got 3))")]
    assert errors_of(fwd_list, F2)[0] == ("X", "expected List[Floats2d], got a 2d float32 array "
                                               "of shape (2, 3)")
    assert errors_of(fwd_list, [F2], F2)[0][0] == "Y"
    validate_fwd_input_output("custom", fwd_list, [F2] * 5 + [F3], None)  # first 5 items only
    validate_fwd_input_output("custom", fwd_tuple, (F2, I1), None)
    assert errors_of(fwd_tuple, (F2,))[0][1] == \
        "expected Tuple[Floats2d, Ints1d], got a tuple of 1 items"
    assert errors_of(fwd_tuple, (F2, F2))[0][0] == "X -> 1"
    validate_fwd_input_output("custom", fwd_misc, {"k": deque([1, 2])}, "a")
    validate_fwd_input_output("custom", fwd_misc, None, "b")
    assert errors_of(fwd_misc, {"k": [1, "2"]})[0] == ("X -> k -> 1", "expected int, got a str")
    assert errors_of(fwd_misc, {1: [1]})[0][0] == "X -> key 1"
    assert errors_of(fwd_misc, None, "c") == [("Y", "expected Literal['a', 'b'], got 'c'")]
    validate_fwd_input_output("custom", fwd_var, Ragged(F2, I1), F2)
    assert errors_of(fwd_var, F2)[0] == ("X", "expected Ragged | Padded, got a 2d float32 array "
                                              "of shape (2, 3)")
    assert errors_of(fwd_var, Ragged(F2, I1), F3)[0][1].startswith("expected Floats1d | Floats2d")


def test_string_annotations_are_resolved_and_unknown_ones_check_nothing():
    namespace = {"Model": Model}
    exec("def fwd(model: 'Model', X: 'Floats2d', is_train: bool) -> 'Tuple[Ragged, Callable]':\n"
         "    return X, None\n"
         "def odd(model, X: 'NoSuchType', is_train) -> 'Tuple[NoSuchType, int]':\n"
         "    return X, None\n", namespace)
    assert errors_of(namespace["fwd"], F3)[0][1].startswith("expected Floats2d")
    assert errors_of(namespace["fwd"], F2, F2)[0] == ("Y", "expected Ragged, got a 2d float32 "
                                                           "array of shape (2, 3)")
    validate_fwd_input_output("custom", namespace["odd"], object(), object())


def test_unannotated_and_any_check_nothing_and_bad_signatures_are_named():
    def plain(model, X, is_train):
        return X, None

    validate_fwd_input_output("custom", plain, object(), object())

    def two(model, X):
        return X, None

    assert errors_of(two, F2) == [
        ("", "Invalid forward function. Expected 3 arguments (model, X, is_train), got 2 "
             "(model, X)")]


def test_layers_are_checked_where_they_sit_in_a_chain():
    """Thinc's model/test_validation.py, on layers whose annotations thinc_fast has."""
    model = chain(list2ragged(), reduce_sum(), with_ragged(reduce_max()))
    with data_validation(True):
        with pytest.raises(DataValidationError, match="Data validation error in "
                                                      r"'with_ragged\(reduce_max\)'"):
            model.initialize(X=[F2])
        with pytest.raises(DataValidationError, match="'list2ragged'"):
            model.initialize(X=F2)
        with pytest.raises(DataValidationError, match="'reduce_mean'.*\n.*\n+X   expected Ragged"):
            reduce_mean().initialize(X=F2)
        chain(list2ragged(), reduce_sum()).initialize(X=[F2, F2])


def test_thincs_bad_attention_model_is_refused():
    pytest.importorskip("thinc_fast.layers.parametricattention")
    from thinc_fast.api import ParametricAttention, Relu

    bad = chain(list2ragged(), reduce_sum(), Relu(12, dropout=0.5), ParametricAttention(12),
                Relu(1))
    X = [numpy.zeros((4, 75), dtype="f")]
    with data_validation(True):
        with pytest.raises(DataValidationError):
            bad.initialize(X, numpy.zeros((1,), dtype="f"))
