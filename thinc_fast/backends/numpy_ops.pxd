from blis.cy cimport dim_t, inc_t

cdef extern from "tf_loops.h" nogil:
    ctypedef Py_ssize_t tf_idx
    ctypedef struct tf_step:
        float grad_scale
        float l2_coupled
        float lr_hat
        float beta1
        float beta2
        float eps
        float decay
        float avg_rate
        int use_denominator
    void tf_bias_relu(float* Y, const float* b, tf_idx nr, tf_idx nc, tf_idx ldy)
    void tf_bias_add(float* Y, const float* b, tf_idx nr, tf_idx nc, tf_idx ldy)
    void tf_relu_backward(float* dX, const float* dY, const float* Y, tf_idx n)
    void tf_colsum_inc(float* out, const float* X, tf_idx nr, tf_idx nc, tf_idx ldx)
    void tf_softmax_rows(float* Y, const float* X, tf_idx nr, tf_idx nc, tf_idx ldx, tf_idx ldy)
    double tf_sumsq(const float* g, const float* w, float l2, tf_idx n)
    void tf_adam(float* w, float* g, float* m, float* v, float* avg, tf_idx n, const tf_step* s)
    void tf_triad(float* a, const float* b, const float* c, float s, tf_idx n)
    void tf_sgd(float* w, float* g, float* avg, tf_idx n, const tf_step* s)

cdef void sgemm_parallel(dim_t m, dim_t n, dim_t k, float alpha,
                         const float* A, inc_t rsa, inc_t csa,
                         const float* B, inc_t rsb, inc_t csb,
                         float beta, float* C, inc_t rsc, inc_t csc, int nthreads) noexcept nogil

cdef void sgemm(dim_t m, dim_t n, dim_t k, float alpha,
                const float* A, inc_t rsa, inc_t csa,
                const float* B, inc_t rsb, inc_t csb,
                float beta, float* C, inc_t rsc, inc_t csc) noexcept nogil
