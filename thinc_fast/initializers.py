"""Parameter initializers: ``init(ops, shape) -> float32 array``.

As in Thinc, the random values are drawn from NumPy's global RNG (so that
``fix_random_seed`` repeats them, whatever the backend) and then moved to the
backend of `ops`. ``fan_out = shape[0]`` and ``fan_in = shape[1]``, as Thinc
takes them for any number of dimensions (so Maxout's ``(nO, nP, nI)`` weights
start from the same values as in Thinc with the same seed); a 1d shape has
``fan_in = 1``.

The ``configure_*`` functions are what the registry builds from a config
block such as ``[model.init_W] @initializers = "uniform_init.v1" lo = -0.5``:
they return the initializer with its settings bound.
"""
import math
from typing import Any, Callable, Tuple

import numpy

from ._builtins import builtin
from .backends import Ops

Shape = Tuple[int, ...]
InitFn = Callable[[Ops, Shape], Any]


def _fans(shape: Shape) -> Tuple[int, int]:
    """(fan_in, fan_out) = (shape[1], shape[0]), Thinc's rule for every rank."""
    fan_out = int(shape[0]) if len(shape) else 1
    fan_in = int(shape[1]) if len(shape) > 1 else 1
    return max(fan_in, 1), max(fan_out, 1)


def _to_ops(ops: Ops, values: numpy.ndarray):
    return ops.asarray(values.astype("float32"), dtype="float32")


def _uniform(ops: Ops, shape: Shape, scale: float):
    """Uniform in ``[-scale, scale]``."""
    return _to_ops(ops, numpy.random.uniform(-scale, scale, shape))


def _normal(ops: Ops, shape: Shape, std: float):
    """Normal, centred on 0, with standard deviation `std`."""
    return _to_ops(ops, numpy.random.normal(0.0, std, shape))


def glorot_uniform_init(ops: Ops, shape: Shape):
    """Uniform in ``[-s, s]`` with ``s = sqrt(6 / (fan_in + fan_out))``."""
    fan_in, fan_out = _fans(shape)
    return _uniform(ops, shape, math.sqrt(6.0 / (fan_in + fan_out)))


def glorot_normal_init(ops: Ops, shape: Shape):
    """Normal with standard deviation ``sqrt(2 / (fan_in + fan_out))``."""
    fan_in, fan_out = _fans(shape)
    return _normal(ops, shape, math.sqrt(2.0 / (fan_in + fan_out)))


def he_normal_init(ops: Ops, shape: Shape):
    """Normal with standard deviation ``sqrt(2 / fan_in)``."""
    return _normal(ops, shape, math.sqrt(2.0 / _fans(shape)[0]))


def he_uniform_init(ops: Ops, shape: Shape):
    """Uniform in ``[-s, s]`` with ``s = sqrt(6 / fan_in)``."""
    return _uniform(ops, shape, math.sqrt(6.0 / _fans(shape)[0]))


def lecun_normal_init(ops: Ops, shape: Shape):
    """Normal with standard deviation ``sqrt(1 / fan_in)``."""
    return _normal(ops, shape, math.sqrt(1.0 / _fans(shape)[0]))


def lecun_uniform_init(ops: Ops, shape: Shape):
    """Uniform in ``[-s, s]`` with ``s = sqrt(3 / fan_in)``."""
    return _uniform(ops, shape, math.sqrt(3.0 / _fans(shape)[0]))


def zero_init(ops: Ops, shape: Shape):
    """All zeros."""
    return ops.alloc(shape)


def uniform_init(ops: Ops, shape: Shape, *, lo: float = -0.1, hi: float = 0.1):
    """Uniform in ``[lo, hi)``."""
    if not lo <= hi:
        raise ValueError(f"uniform_init: lo={lo} must not exceed hi={hi}")
    return _to_ops(ops, numpy.random.uniform(lo, hi, shape))


def normal_init(ops: Ops, shape: Shape, *, mean: float = 0):
    """Normal draws centred on 0 whose standard deviation is `mean`.

    The argument keeps Thinc 9's name and meaning (Thinc passes it as the
    scale), so that configs written for Thinc give the same distribution;
    the default ``mean=0`` gives zeros.
    """
    if mean < 0:
        raise ValueError(f"normal_init: mean (used as the standard deviation) must be >= 0, "
                         f"got {mean}")
    size = math.prod(shape)
    values = numpy.random.normal(scale=mean, size=size).reshape(shape)
    return _to_ops(ops, values)


def _configure(func: InitFn) -> Callable[[], InitFn]:
    def configure() -> InitFn:
        return func

    configure.__name__ = f"configure_{func.__name__}"
    configure.__doc__ = f"The initializer ``{func.__name__}``."
    return configure


configure_glorot_uniform_init = builtin("initializers", "glorot_uniform_init.v1")(_configure(glorot_uniform_init))
configure_glorot_normal_init = builtin("initializers", "glorot_normal_init.v1")(_configure(glorot_normal_init))
configure_he_normal_init = builtin("initializers", "he_normal_init.v1")(_configure(he_normal_init))
configure_he_uniform_init = builtin("initializers", "he_uniform_init.v1")(_configure(he_uniform_init))
configure_lecun_normal_init = builtin("initializers", "lecun_normal_init.v1")(_configure(lecun_normal_init))
configure_lecun_uniform_init = builtin("initializers", "lecun_uniform_init.v1")(_configure(lecun_uniform_init))
configure_zero_init = builtin("initializers", "zero_init.v1")(_configure(zero_init))


@builtin("initializers", "uniform_init.v1")
def configure_uniform_init(*, lo: float = -0.1, hi: float = 0.1) -> InitFn:
    """``uniform_init`` with `lo` and `hi` bound."""
    def init(ops: Ops, shape: Shape):
        return uniform_init(ops, shape, lo=lo, hi=hi)

    return init


@builtin("initializers", "normal_init.v1")
def configure_normal_init(*, mean: float = 0) -> InitFn:
    """``normal_init`` with `mean` bound."""
    def init(ops: Ops, shape: Shape):
        return normal_init(ops, shape, mean=mean)

    return init


__all__ = ["glorot_uniform_init", "glorot_normal_init", "he_normal_init", "he_uniform_init",
           "lecun_normal_init", "lecun_uniform_init", "zero_init", "uniform_init",
           "normal_init", "configure_uniform_init", "configure_normal_init"]
