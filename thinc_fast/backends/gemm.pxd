# The gemm engine's C interface for the other kernel modules: the thread
# count, the worker pool (each job a thf_job of pool_job.h: the one way a loop
# runs on the pool) and the blis gemm. gemm.pyx owns the pool and the blis
# state of worker_pool.h and blis_gemm.h; the other modules reach them here.
from blis.cy cimport dim_t, inc_t

from .loops cimport thf_job

cdef int num_threads() noexcept nogil
cdef int gemm_threads() noexcept nogil
cdef void grow_pool(int nthreads) noexcept
cdef void job_init(thf_job* job, Py_ssize_t n) noexcept nogil
cdef void run_job(thf_job* job, int parts) noexcept
cdef void run_job_nogil(thf_job* job, int parts) noexcept nogil
cdef void run_job_split(thf_job* job, int parts) noexcept nogil

cdef void sgemm_parallel(dim_t m, dim_t n, dim_t k, float alpha,
                         const float* A, inc_t rsa, inc_t csa,
                         const float* B, inc_t rsb, inc_t csb,
                         float beta, float* C, inc_t rsc, inc_t csc, int nthreads) noexcept nogil

cdef void sgemm(dim_t m, dim_t n, dim_t k, float alpha,
                const float* A, inc_t rsa, inc_t csa,
                const float* B, inc_t rsb, inc_t csb,
                float beta, float* C, inc_t rsc, inc_t csc) noexcept nogil

cdef object gemm_fast(object x, object y, object out, bint trans1, bint trans2, float alpha,
                      float beta)
