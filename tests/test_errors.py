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
