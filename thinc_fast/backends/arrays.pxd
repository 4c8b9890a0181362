# cython: language_level=3
"""What the C loops need to know about a NumPy array, through NumPy's C API.

A typed memoryview costs ~90 ns to take from an array (a buffer request, a
format string parsed, a view object made), and a Python-level check
(``a.dtype == float32``, ``a.flags.c_contiguous``) ~40-80 ns each: at the
sizes of a small training step (a 32 x 64 batch) that was most of the time
of bias_relu, softmax or backprop_relu. These read the array's header
instead, a few ns each. Every module that cimports this calls
``numpy.import_array()`` at import (``cimport numpy`` does it in Cython 3).
"""
cimport numpy as cnp


cdef inline bint f32_native(object a) noexcept:
    """`a` is a NumPy array (or subclass) of float32 in native byte order."""
    return (cnp.PyArray_Check(a) and cnp.PyArray_TYPE(<cnp.ndarray>a) == cnp.NPY_FLOAT32
            and cnp.PyArray_ISNOTSWAPPED(<cnp.ndarray>a))


cdef inline bint f32_c(object a, int ndim) noexcept:
    """`a` is a C-contiguous native float32 NumPy array of `ndim` dimensions."""
    return (f32_native(a) and cnp.PyArray_NDIM(<cnp.ndarray>a) == ndim
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>a))


cdef inline bint writable(object a) noexcept:
    """Whether the NumPy array `a` may be written."""
    return cnp.PyArray_ISWRITEABLE(<cnp.ndarray>a)


cdef inline float* f32_data(object a) noexcept:
    """The first element of the NumPy float32 array `a` (checked by the caller)."""
    return <float*>cnp.PyArray_DATA(<cnp.ndarray>a)


cdef inline Py_ssize_t dim(object a, int i) noexcept:
    """Dimension `i` of the NumPy array `a`."""
    return cnp.PyArray_DIM(<cnp.ndarray>a, i)


cdef inline Py_ssize_t size(object a) noexcept:
    """The number of elements of the NumPy array `a`."""
    return cnp.PyArray_SIZE(<cnp.ndarray>a)
