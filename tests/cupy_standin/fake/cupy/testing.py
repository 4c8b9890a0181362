"""``cupy.testing`` of the CPU stand-in: NumPy's assertions, taking device
arrays (copied to the host) as CuPy's do."""
import numpy as _np

from ._core import ndarray


def _host(x):
    if type(x) is ndarray:
        return x.get()
    if isinstance(x, (list, tuple)):
        return type(x)(_host(v) for v in x)
    return x


def _wrap(name):
    fn = getattr(_np.testing, name)

    def check(*args, **kwargs):
        return fn(*_host(args), **{k: _host(v) for k, v in kwargs.items()})
    check.__name__ = name
    return check


for _name in ("assert_allclose", "assert_array_almost_equal", "assert_array_almost_equal_nulp",
              "assert_array_max_ulp", "assert_array_equal", "assert_array_less", "assert_equal"):
    globals()[_name] = _wrap(_name)
