"""Bad input gets an error that names the problem, never silent corruption."""
import numpy
import pytest

from thinc_fast.api import Adam, Linear, Model, Relu, Softmax, chain

rng = numpy.random.default_rng(5)


@pytest.fixture
def model():
    X = rng.standard_normal((4, 6)).astype("f")
    Y = numpy.eye(3, dtype="f")[[0, 1, 2, 0]]
    return chain(Relu(8), Softmax()).initialize(X=X, Y=Y)


def test_wrong_width_names_both_widths(model):
    with pytest.raises(ValueError, match=r"nI=6.*width 5"):
        model.predict(numpy.zeros((2, 5), "f"))


@pytest.mark.parametrize("shape", [(6,), (2, 3, 6)])
def test_wrong_rank(model, shape):
    with pytest.raises(ValueError, match=r"2d input.*shape"):
        model.begin_update(numpy.zeros(shape, "f"))


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool", "complex64"])
def test_non_float_input(model, dtype):
    with pytest.raises(TypeError, match=f"floating-point input, got dtype {dtype}"):
        model.predict(numpy.zeros((2, 6), dtype))


def test_not_an_array(model):
    with pytest.raises(TypeError, match="2d float array, got list"):
        model.predict([[0.0] * 6])


def test_float64_input_is_converted_once(model):
    X = rng.standard_normal((3, 6))
    Y = model.predict(X)
    assert Y.dtype == numpy.float32
    numpy.testing.assert_allclose(Y, model.predict(X.astype("f")), rtol=1e-6)
    Yh, backprop = model.begin_update(X)
    dX = backprop(Yh - numpy.eye(3, dtype="f"))
    assert dX.dtype == numpy.float32 and dX.shape == (3, 6)


def test_uninitialized_model_names_the_missing_dim():
    model = chain(Relu(8), Softmax())
    with pytest.raises(ValueError, match=r"'W'.*'relu'.*not initialized.*'nI' is unset"):
        model.begin_update(numpy.zeros((2, 6), "f"))
    with pytest.raises(ValueError, match="'nI'"):
        Linear(3).initialize()


def test_backprop_with_wrong_gradient_shape(model):
    Yh, backprop = model.begin_update(rng.standard_normal((4, 6)).astype("f"))
    with pytest.raises(ValueError, match=r"gradient has shape \(4, 2\).*output had shape \(4, 3\)"):
        backprop(numpy.zeros((4, 2), "f"))
    with pytest.raises(ValueError, match=r"gradient has shape \(3, 3\)"):
        backprop(numpy.zeros((3, 3), "f"))
    assert not model.arena.grads.any(), "a rejected gradient must not touch the gradients"


def test_initialize_with_mismatched_sample_data():
    model = Linear(3, 4)
    with pytest.raises(ValueError, match="change dimension 'nI'.*from 4 to 5"):
        model.initialize(X=numpy.zeros((2, 5), "f"))
    # As Thinc: 1-d integer labels give nO = max + 1
    assert Linear().initialize(X=numpy.zeros((2, 5), "f"), Y=numpy.array([0, 3], "i")).get_dim("nO") == 4
    with pytest.raises(ValueError, match="Cannot infer nO.*type str"):
        Linear().initialize(X=numpy.zeros((2, 5), "f"), Y="not an array")
    with pytest.raises(ValueError, match="Cannot infer nO"):
        Linear().initialize(X=numpy.zeros((2, 5), "f"), Y=[[0, 1]])


def test_nan_input_reaches_optimizer_as_clear_error(model):
    X = rng.standard_normal((4, 6)).astype("f")
    X[1, 2] = numpy.nan
    Yh, backprop = model.begin_update(X)
    backprop(Yh - numpy.eye(3, dtype="f")[[0, 1, 2, 0]])
    before = model.arena.params.copy()
    with pytest.raises(FloatingPointError, match="NaN or inf in the gradient of parameter"):
        model.finish_update(Adam(0.01))
    numpy.testing.assert_array_equal(model.arena.params, before)


def test_model_rejects_bad_construction():
    with pytest.raises(TypeError, match="forward must be callable"):
        Model("x", None)
    with pytest.raises(TypeError, match="not a Model"):
        chain(Linear(2), "relu")


def test_every_cli_error_type_shares_one_base_and_keeps_its_old_home():
    from thinc_fast import errors
    from thinc_fast.distributed import RayUnavailableError, WorkerFailure
    from thinc_fast.training import UserError

    assert UserError is errors.UserError
    assert RayUnavailableError is errors.RayUnavailableError and WorkerFailure is errors.WorkerFailure
    for cls in (errors.UserError, errors.TrainingInterrupted, errors.DataError,
                errors.RayUnavailableError, errors.WorkerFailure):
        assert issubclass(cls, errors.ThincFastError), cls
    assert issubclass(errors.RayUnavailableError, RuntimeError)
    assert issubclass(errors.DataError, ValueError)
    assert errors.TrainingInterrupted("x").exit_code == 130 and errors.UserError("x").exit_code == 1


# ------------------------------------------- bad input accepted or unclear
@pytest.mark.parametrize("build", [lambda: Relu(0), lambda: Linear(3, 0), lambda: Softmax(0),
                                   lambda: Relu(nO=-2), lambda: Relu(2.5)])
def test_a_layer_of_width_zero_is_refused_when_built(build):
    with pytest.raises(ValueError, match=r"(Relu|Linear|Softmax): n[OI] must be a positive integer"):
        build()


def test_a_width_of_zero_inferred_from_data_is_refused():
    with pytest.raises(ValueError, match=r"'linear': dimension 'nI' is 0"):
        Linear(3).initialize(X=numpy.zeros((2, 0), "f"))


def test_set_param_with_a_wrong_shape_names_the_parameter(model):
    relu = model.layers[0]
    before = relu.get_param("W").copy()
    with pytest.raises(ValueError, match=r"parameter 'W' of model 'relu' has shape \(8, 6\).*"
                                         r"value has shape \(6, 6\)"):
        relu.set_param("W", numpy.zeros((6, 6), "f"))
    numpy.testing.assert_array_equal(relu.get_param("W"), before)
    relu.set_param("W", numpy.ones((8, 6), "f"))  # the right shape is still fine
    # resizing as the docs say: drop the param, change the dim, set the new one
    relu.set_param("W", None)
    relu.set_param("b", None)
    relu.set_dim("nO", 9, force=True)
    relu.set_param("W", numpy.zeros((9, 6), "f"))
    relu.set_param("b", numpy.zeros(9, "f"))


@pytest.mark.parametrize("not_an_optimizer", ["adam", None, 0.001])
def test_finish_update_with_something_that_is_not_an_optimizer(model, not_an_optimizer):
    X = rng.standard_normal((4, 6)).astype("f")
    Yh, backprop = model.begin_update(X)
    backprop(Yh - numpy.eye(3, dtype="f")[[0, 1, 2, 0]])
    before = model.arena.params.copy()
    with pytest.raises(TypeError, match=r"finish_update of model 'relu>>softmax': expected an "
                                        r"optimizer"):
        model.finish_update(not_an_optimizer)
    numpy.testing.assert_array_equal(model.arena.params, before)


def test_warmup_linear_with_zero_total_steps():
    from thinc_fast.api import warmup_linear

    with pytest.raises(ValueError, match=r"warmup_linear: argument 'total_steps' must be >= 1, got 0"):
        warmup_linear(0.1, warmup_steps=0, total_steps=0)


def test_set_num_threads_refuses_absurd_counts():
    from thinc_fast import get_num_threads, set_num_threads

    before = get_num_threads()
    try:
        with pytest.raises(ValueError, match=r"set_num_threads: n=1000000 is more than"):
            set_num_threads(10 ** 6)
        assert get_num_threads() == before
    finally:
        set_num_threads(before)


@pytest.mark.parametrize("saved,loaded", [("Adam", "SGD"), ("SGD", "Adam")])
def test_optimizer_state_of_another_algorithm_is_refused(model, saved, loaded):
    from thinc_fast.api import SGD

    make = {"Adam": Adam, "SGD": SGD}
    X = rng.standard_normal((4, 6)).astype("f")
    optimizer = make[saved](0.01)
    Yh, backprop = model.begin_update(X)
    backprop(Yh - numpy.eye(3, dtype="f")[[0, 1, 2, 0]])
    model.finish_update(optimizer)
    target = make[loaded](0.01)
    with pytest.raises(ValueError, match=f"saved by '{saved.lower()}'.*this optimizer is "
                                         f"'{loaded.lower()}'"):
        target.from_bytes(optimizer.to_bytes(model), model)
    assert target.step == 0


def test_input_errors_are_caught_by_thincs_except_clauses():
    """Where thinc_fast's error type differs from Thinc's, it derives from both:
    code written for Thinc (``except ValueError`` for integer input to a dense
    layer, ``except IndexError`` for a label out of range) still catches it."""
    thinc_api = pytest.importorskip("thinc.api")
    from thinc_fast import api

    def integer_input(lib):
        model = lib.Relu(3, 4)
        model.initialize()
        model.predict(numpy.ones((2, 4), dtype="int32"))

    def label_out_of_range(lib):
        lib.CategoricalCrossentropy()(numpy.full((2, 3), 1 / 3, dtype="f"), numpy.array([0, 5]))

    for case, ours_also in ((integer_input, TypeError), (label_out_of_range, ValueError)):
        with pytest.raises(Exception) as theirs:
            case(thinc_api)
        with pytest.raises(theirs.type) as ours:
            case(api)
        assert isinstance(ours.value, ours_also)
        assert "expects floating-point input" in str(ours.value) or "out of range" in str(ours.value)
