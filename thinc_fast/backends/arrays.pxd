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


cdef enum:
    ALIGN_BYTES = 64  # a cache line, and one AVX-512 vector
    # gemm's reuse cache takes outputs from this size on; below it, its
    # reused_empty and aligned_empty both give empty_aligned's arrays
    REUSE_MIN_BYTES = 1 << 20


cdef inline object empty_aligned(int nd, cnp.npy_intp* dims, int typenum, int itemsize):
    """A new uninitialised C-ordered NumPy array whose data start on a
    64-byte boundary (NumPy's allocator gives 16). Vector kernels that read
    rows along k (the dot-product gemm) load every vector across two cache
    lines when rows start off a boundary: 128x784x512 ran 20% slower on Zen 5
    with both operands off. The memory is a NumPy uint8 block 63 bytes longer,
    kept as the array's base (freed with the last view). `itemsize` is that
    of `typenum`."""
    cdef cnp.npy_intp count = 1, nbytes
    cdef int i
    for i in range(nd):
        count *= dims[i]
    nbytes = count * itemsize + (ALIGN_BYTES - 1)
    block = cnp.PyArray_EMPTY(1, &nbytes, cnp.NPY_UINT8, 0)
    cdef char* p = <char*>cnp.PyArray_DATA(<cnp.ndarray>block)
    p += (-<size_t>p) & (ALIGN_BYTES - 1)
    arr = cnp.PyArray_New(cnp.ndarray, nd, dims, typenum, NULL, p, 0, cnp.NPY_ARRAY_CARRAY, None)
    cnp.set_array_base(<cnp.ndarray>arr, block)
    return arr


cdef inline object f32_empty_like(object a):
    """A new uninitialised C-ordered float32 array of the shape of the NumPy
    array `a`, on a 64-byte boundary (``empty_aligned``)."""
    return empty_aligned(cnp.PyArray_NDIM(<cnp.ndarray>a), cnp.PyArray_DIMS(<cnp.ndarray>a),
                         cnp.NPY_FLOAT32, 4)


cdef inline object empty_for(object empty, int nd, cnp.npy_intp* dims, int typenum,
                             int itemsize):
    """An uninitialised C-ordered array of `dims` as the allocator `empty`
    (``aligned_empty`` or ``reused_empty``: ``empty(shape, dtype)``) gives it:
    below REUSE_MIN_BYTES, where both make ``empty_aligned``'s, made here
    without the Python call (about 1 us a call, a quarter of a small
    maxout)."""
    cdef cnp.npy_intp nbytes = itemsize
    cdef int i
    for i in range(nd):
        nbytes *= dims[i]
    if nbytes < REUSE_MIN_BYTES:
        return empty_aligned(nd, dims, typenum, itemsize)
    return empty(tuple([dims[i] for i in range(nd)]), cnp.PyArray_DescrFromType(typenum))
