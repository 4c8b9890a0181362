"""``cupyx`` of the CPU stand-in: the scatter functions thinc_fast uses."""
from cupy import ndarray


def _check(a):
    if type(a) is not ndarray:
        raise TypeError(f"Unsupported type {type(a)}")


def scatter_add(a, slices, value):
    """``a[slices] += value`` with repeated indices adding up (atomicAdd on a GPU)."""
    _check(a)
    a.scatter_add(slices, value)


def scatter_max(a, slices, value):
    _check(a)
    a.scatter_max(slices, value)


def scatter_min(a, slices, value):
    _check(a)
    a.scatter_min(slices, value)


def empty_pinned(shape, dtype=float, order="C"):
    import numpy

    return numpy.empty(shape, dtype=dtype, order=order)


def zeros_pinned(shape, dtype=float, order="C"):
    import numpy

    return numpy.zeros(shape, dtype=dtype, order=order)
