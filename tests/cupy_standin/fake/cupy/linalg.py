"""``cupy.linalg`` of the CPU stand-in: CuPy 13's functions, from NumPy."""
import numpy as _np

from ._core import _call
from ._names import LINALG


def __getattr__(name):
    if name not in LINALG:
        raise AttributeError(f"module 'cupy.linalg' has no attribute {name!r}")
    fn = getattr(_np.linalg, name)

    def f(*args, **kwargs):
        return _call(fn, args, kwargs)
    f.__name__ = name
    globals()[name] = f
    return f
