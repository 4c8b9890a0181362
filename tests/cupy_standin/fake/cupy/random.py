"""``cupy.random`` of the CPU stand-in: draws from its own NumPy RandomState
(CuPy's generator is not NumPy's, so a seeded run gives other numbers on the
GPU than on the CPU, here too), returned as device arrays."""
import numpy as _np

from ._core import _wrap, ndarray

_state = _np.random.RandomState(0)


def seed(seed=None):
    _state.seed(None if seed is None else int(seed) % 2 ** 32)


def get_random_state():
    return _state


def reset_states():
    seed(0)


def _draw(name):
    def draw(*args, dtype=None, **kwargs):
        out = getattr(_state, name)(*args, **kwargs)
        out = _np.asarray(out)
        if dtype is not None:
            out = out.astype(dtype)
        elif out.dtype == _np.float64 and name not in ("randint",):
            out = out.astype(_np.float64)
        return _wrap(out)
    draw.__name__ = name
    return draw


for _name in ("uniform", "normal", "standard_normal", "rand", "randn", "random_sample",
              "randint", "binomial", "exponential", "gamma", "poisson", "beta", "choice",
              "permutation", "gumbel", "laplace", "lognormal", "logistic", "geometric"):
    globals()[_name] = _draw(_name)
random = random_sample


def shuffle(a):
    if type(a) is not ndarray:
        raise TypeError("The array must be a cupy.ndarray")
    _state.shuffle(a._a)
