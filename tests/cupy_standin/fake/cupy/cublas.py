"""``cupy.cublas`` of the CPU stand-in: ``gemm`` with cuBLAS's checks (as
CuPy's wrapper asserts them). Not imported by ``import cupy``: ``import
cupy.cublas`` loads it, as in CuPy."""
import numpy as _np

from ._core import empty, ndarray


def gemm(transa, transb, a, b, out=None, alpha=1.0, beta=0.0):
    """``out = alpha * op(a) @ op(b) + beta * out``."""
    for name, x in (("a", a), ("b", b)):
        if type(x) is not ndarray:
            raise TypeError(f"cublas.gemm: {name} must be a cupy.ndarray, got {type(x)}")
    assert a.ndim == b.ndim == 2
    assert a.dtype == b.dtype
    if a.dtype.char not in "fdFD":
        raise TypeError("invalid dtype")
    ops = {"N": False, "n": False, "T": True, "t": True, "H": True, "h": True,
           0: False, 1: True, 2: True}
    ta, tb = ops[transa], ops[transb]
    A = a._a.T if ta else a._a
    B = b._a.T if tb else b._a
    m, k = A.shape
    assert B.shape[0] == k
    n = B.shape[1]
    if out is None:
        out = empty((m, n), dtype=a.dtype, order="F")
        beta = 0.0
    else:
        assert type(out) is ndarray
        assert out.ndim == 2
        assert out.shape == (m, n)
        assert out.dtype == a.dtype
    prod = _np.matmul(A.astype(_np.float64), B.astype(_np.float64)) * alpha
    if beta == 0.0:  # cuBLAS does not read C when beta is 0 (NaN there stays out)
        out._a[...] = prod
    else:
        out._a[...] = prod + beta * out._a.astype(_np.float64)
    return out
