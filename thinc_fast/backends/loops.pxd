# Declarations of the C loops in src/include (no state there: any module may
# include them). The worker pool (worker_pool.h) and the blis driver
# (blis_gemm.h) are declared in gemm.pyx alone, which owns them.
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

cdef extern from "pool_job.h" nogil:
    ctypedef Py_ssize_t thf_idx
    int THF_POOL_MAX_CHUNKS
    int THF_POOL_MAX_HELPERS
    ctypedef struct thf_job
    ctypedef void (*thf_range_fn)(const thf_job* j, thf_idx lo, thf_idx hi) noexcept nogil
    ctypedef struct thf_job:
        thf_range_fn range
        thf_idx n
        int nparts
        thf_idx align
        const int64_t* bounds
        void* dst
        void* dst2
        const void* src
        const void* src2
        const void* src3
        const int64_t* offs
        thf_idx nseq
        thf_idx s0, s1, s2
        int flag
        uint32_t seed
        float p[4]
        const void* ctx
    void thf_job_chunk(void* ctx, int chunk) noexcept

cdef extern from "stream_loops.h" nogil:
    ctypedef struct thf_step:
        float grad_scale
        float l2_coupled
        float lr_hat
        float beta1
        float beta2
        float eps
        float decay
        float avg_rate
        int use_denominator
    void thf_bias_relu(float* Y, const float* b, thf_idx nr, thf_idx nc, thf_idx ldy)
    void thf_bias_add(float* Y, const float* b, thf_idx nr, thf_idx nc, thf_idx ldy)
    void thf_relu_backward(float* dX, const float* dY, const float* Y, thf_idx n)
    void thf_colsum_inc(float* out, const float* X, thf_idx nr, thf_idx nc, thf_idx ldx)
    void thf_softmax_rows(float* Y, const float* X, thf_idx nr, thf_idx nc, thf_idx ldx, thf_idx ldy)
    double thf_sumsq(const float* g, const float* w, float l2, thf_idx n)
    void thf_adam(float* w, float* g, float* m, float* v, float* avg, thf_idx n, const thf_step* s)
    void thf_triad(float* a, const float* b, const float* c, float s, thf_idx n)
    void thf_sgd(float* w, float* g, float* avg, thf_idx n, const thf_step* s)

cdef extern from "seq_loops.h" nogil:
    enum:
        THF_ACT_SIGMOID
        THF_ACT_SWISH
        THF_ACT_GELU
        THF_ACT_GELU_APPROX
        THF_ACT_MISH
        THF_ACT_DISH
        THF_ACT_CLIPPED_LINEAR
        THF_ACT_HARD_SWISH
        THF_ACT_HARD_SWISH_MOBILENET
    void thf_murmur3_u64(uint32_t* out, const uint64_t* ids, thf_idx n, uint32_t seed)
    void thf_ngram_hash(uint64_t* out, const uint64_t* keys, thf_idx nout, int n)
    void thf_seq2col_rows(char* out, const char* X, const int64_t* offs, thf_idx nseq, thf_idx r0,
                         thf_idx r1, thf_idx nW, size_t row_bytes)
    void thf_bseq2col_f(float* dX, const float* dY, const int64_t* offs, thf_idx nseq, thf_idx r0,
                       thf_idx r1, thf_idx nW, thf_idx I)
    void thf_bseq2col_d(double* dX, const double* dY, const int64_t* offs, thf_idx nseq, thf_idx r0,
                       thf_idx r1, thf_idx nW, thf_idx I)
    void thf_reduce_sum_f(float* out, const float* X, const int64_t* offs, thf_idx k0, thf_idx k1,
                         thf_idx O, int mean)
    void thf_reduce_sum_d(double* out, const double* X, const int64_t* offs, thf_idx k0, thf_idx k1,
                         thf_idx O, int mean)
    void thf_breduce_sum_f(float* dX, const float* d, const int64_t* offs, thf_idx nseq, thf_idx r0,
                          thf_idx r1, thf_idx O, int mean)
    void thf_breduce_sum_d(double* dX, const double* d, const int64_t* offs, thf_idx nseq,
                          thf_idx r0, thf_idx r1, thf_idx O, int mean)
    void thf_reduce_max_f(float* out, int32_t* which, const float* X, const int64_t* offs,
                         thf_idx k0, thf_idx k1, thf_idx O)
    void thf_reduce_max_d(double* out, int32_t* which, const double* X, const int64_t* offs,
                         thf_idx k0, thf_idx k1, thf_idx O)
    void thf_breduce_max_f(float* dX, const float* d, const int32_t* which, const int64_t* offs,
                          thf_idx k0, thf_idx k1, thf_idx O)
    void thf_breduce_max_d(double* dX, const double* d, const int32_t* which, const int64_t* offs,
                          thf_idx k0, thf_idx k1, thf_idx O)
    thf_idx thf_check_idx_i32(const int32_t* idx, thf_idx n, int64_t nrows)
    thf_idx thf_check_idx_u32(const uint32_t* idx, thf_idx n, int64_t nrows)
    thf_idx thf_check_idx_i64(const int64_t* idx, thf_idx n, int64_t nrows)
    thf_idx thf_count_bad_pieces(const int32_t* which, thf_idx n, int32_t P)
    void thf_minmax_i32(const int32_t* idx, thf_idx n, int32_t* lo, int32_t* hi)
    void thf_gather_add_f_i32(float* out, const float* table, const int32_t* idx, thf_idx b0,
                             thf_idx b1, thf_idx K, thf_idx O)
    void thf_gather_add_f_u32(float* out, const float* table, const uint32_t* idx, thf_idx b0,
                             thf_idx b1, thf_idx K, thf_idx O)
    void thf_gather_add_f_i64(float* out, const float* table, const int64_t* idx, thf_idx b0,
                             thf_idx b1, thf_idx K, thf_idx O)
    void thf_gather_add_d_i32(double* out, const double* table, const int32_t* idx, thf_idx b0,
                             thf_idx b1, thf_idx K, thf_idx O)
    void thf_gather_add_d_u32(double* out, const double* table, const uint32_t* idx, thf_idx b0,
                             thf_idx b1, thf_idx K, thf_idx O)
    void thf_gather_add_d_i64(double* out, const double* table, const int64_t* idx, thf_idx b0,
                             thf_idx b1, thf_idx K, thf_idx O)
    void thf_scatter_add_f_i32(float* table, const int32_t* idx, const float* values, thf_idx n,
                              thf_idx vdiv, thf_idx O, thf_idx r0, thf_idx r1, thf_idx nrows,
                              int skip_negative)
    void thf_scatter_add_f_u32(float* table, const uint32_t* idx, const float* values, thf_idx n,
                              thf_idx vdiv, thf_idx O, thf_idx r0, thf_idx r1, thf_idx nrows,
                              int skip_negative)
    void thf_scatter_add_f_i64(float* table, const int64_t* idx, const float* values, thf_idx n,
                              thf_idx vdiv, thf_idx O, thf_idx r0, thf_idx r1, thf_idx nrows,
                              int skip_negative)
    void thf_scatter_add_d_i32(double* table, const int32_t* idx, const double* values, thf_idx n,
                              thf_idx vdiv, thf_idx O, thf_idx r0, thf_idx r1, thf_idx nrows,
                              int skip_negative)
    void thf_scatter_add_d_u32(double* table, const uint32_t* idx, const double* values, thf_idx n,
                              thf_idx vdiv, thf_idx O, thf_idx r0, thf_idx r1, thf_idx nrows,
                              int skip_negative)
    void thf_scatter_add_d_i64(double* table, const int64_t* idx, const double* values, thf_idx n,
                              thf_idx vdiv, thf_idx O, thf_idx r0, thf_idx r1, thf_idx nrows,
                              int skip_negative)
    void thf_maxout_f(float* best, int32_t* which, const float* X, thf_idx i0, thf_idx i1, thf_idx P)
    void thf_maxout_d(double* best, int32_t* which, const double* X, thf_idx i0, thf_idx i1, thf_idx P)
    void thf_bmaxout_f(float* dX, const float* dY, const int32_t* which, thf_idx i0, thf_idx i1,
                      thf_idx P)
    void thf_bmaxout_d(double* dX, const double* dY, const int32_t* which, thf_idx i0, thf_idx i1,
                      thf_idx P)
    void thf_act_forward(int kind, float* Y, const float* X, thf_idx n, const float* p)
    void thf_act_backward(int kind, float* dX, const float* dY, const float* X, const float* Y,
                         thf_idx n, const float* p)
    void thf_job_hash(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_ngrams(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_seq2col(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_act_forward(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_act_backward(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_bseq2col_f(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_bseq2col_d(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_reduce_sum_f(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_reduce_sum_d(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_breduce_sum_f(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_breduce_sum_d(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_reduce_max_f(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_reduce_max_d(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_breduce_max_f(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_breduce_max_d(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_maxout_f(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_maxout_d(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_bmaxout_f(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_bmaxout_d(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_gather_add_f_i32(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_gather_add_f_u32(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_gather_add_f_i64(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_gather_add_d_i32(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_gather_add_d_u32(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_gather_add_d_i64(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_scatter_add_f_i32(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_scatter_add_f_u32(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_scatter_add_f_i64(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_scatter_add_d_i32(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_scatter_add_d_u32(const thf_job* j, thf_idx lo, thf_idx hi)
    void thf_job_scatter_add_d_i64(const thf_job* j, thf_idx lo, thf_idx hi)

cdef extern from "fma_peak.h" nogil:
    int THF_PEAK_X86
    double thf_peak_zmm(long iters, float* sink)
    double thf_peak_ymm(long iters, float* sink)
    void thf_job_peak(const thf_job* j, thf_idx lo, thf_idx hi)
