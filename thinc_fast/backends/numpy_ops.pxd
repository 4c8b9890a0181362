from blis.cy cimport dim_t, inc_t
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

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

cdef extern from "tf_blis.h" nogil:
    ctypedef struct tf_cntx_t:
        pass
    ctypedef void (*tf_sgemm_plain_ft)(dim_t m, dim_t n, dim_t k, float alpha,
                                       const float* A, inc_t rsa, inc_t csa,
                                       const float* B, inc_t rsb, inc_t csb,
                                       float beta, float* C, inc_t rsc, inc_t csc) noexcept nogil
    ctypedef struct tf_blis_state "struct tf_blis_state_s":
        void* sgemm_ex
        tf_sgemm_plain_ft plain
        tf_cntx_t* large
        tf_cntx_t* thin
        dim_t thin_rows
        dim_t thin_cols
        dim_t thin_k
        dim_t mid_rows
        dim_t mid_cols
        double thin_flops
        int force
    tf_blis_state tf_blis
    ctypedef struct tf_split_state "struct tf_split_state_s":
        double min_flops
        double chunk_flops
        int chunks_per_thread
        dim_t align
    tf_split_state tf_split
    long tf_pool_spin_ns
    long tf_pool_spin_max_ns
    int64_t tf_pool_gap_ns
    int64_t tf_pool_spin_budget()
    int tf_pool_hog_seen(int64_t job_ns, int64_t waited_ns, int polling, unsigned long long worker_chunks, int* missed)
    int64_t tf_pool_budget_for(int64_t base, int64_t most, int64_t gap)
    void tf_pool_set_spin_ns(long ns)
    void tf_pool_set_spin_max_ns(long ns)
    int tf_pool_threads_supported()
    int tf_pool_workers()
    void tf_pool_counters(unsigned long long* out)
    int tf_omp_limit()
    int tf_blis_attach(const size_t* fns, const char* expected_version)
    int tf_pool_grow(int wanted)
    tf_cntx_t* tf_blis_context(int arch)
    int tf_blis_is_thin(dim_t m, dim_t n, dim_t k, inc_t csc)
    void tf_sgemm_tile(dim_t m, dim_t n, dim_t k, float alpha,
                       const float* A, inc_t rsa, inc_t csa,
                       const float* B, inc_t rsb, inc_t csb,
                       float beta, float* C, inc_t rsc, inc_t csc)
    ctypedef struct tf_gemm_job:
        dim_t m, n, k
        dim_t mt, nt
        int pm, pn
    void tf_gemm_plan(tf_gemm_job* j, int nthreads, int per_thread)
    void tf_sgemm_threads(dim_t m, dim_t n, dim_t k, float alpha,
                          const float* A, inc_t rsa, inc_t csa,
                          const float* B, inc_t rsb, inc_t csb,
                          float beta, float* C, inc_t rsc, inc_t csc, int nthreads)

# Sequence, hashing, embedding and activation loops (issue 17).
from libc.string cimport memset

cdef extern from "seq_loops.h" nogil:
    enum:
        TF_ACT_SIGMOID
        TF_ACT_SWISH
        TF_ACT_GELU
        TF_ACT_GELU_APPROX
        TF_ACT_MISH
        TF_ACT_DISH
        TF_ACT_CLIPPED_LINEAR
        TF_ACT_HARD_SWISH
        TF_ACT_HARD_SWISH_MOBILENET
    void tf_murmur3_u64(uint32_t* out, const uint64_t* ids, tf_idx n, uint32_t seed)
    void tf_ngram_hash(uint64_t* out, const uint64_t* keys, tf_idx nout, int n)
    void tf_seq2col_rows(char* out, const char* X, const int64_t* offs, tf_idx nseq, tf_idx r0,
                         tf_idx r1, tf_idx nW, size_t row_bytes)
    void tf_bseq2col_f(float* dX, const float* dY, const int64_t* offs, tf_idx nseq, tf_idx r0,
                       tf_idx r1, tf_idx nW, tf_idx I)
    void tf_bseq2col_d(double* dX, const double* dY, const int64_t* offs, tf_idx nseq, tf_idx r0,
                       tf_idx r1, tf_idx nW, tf_idx I)
    void tf_reduce_sum_f(float* out, const float* X, const int64_t* offs, tf_idx k0, tf_idx k1,
                         tf_idx O, int mean)
    void tf_reduce_sum_d(double* out, const double* X, const int64_t* offs, tf_idx k0, tf_idx k1,
                         tf_idx O, int mean)
    void tf_breduce_sum_f(float* dX, const float* d, const int64_t* offs, tf_idx nseq, tf_idx r0,
                          tf_idx r1, tf_idx O, int mean)
    void tf_breduce_sum_d(double* dX, const double* d, const int64_t* offs, tf_idx nseq,
                          tf_idx r0, tf_idx r1, tf_idx O, int mean)
    void tf_reduce_max_f(float* out, int32_t* which, const float* X, const int64_t* offs,
                         tf_idx k0, tf_idx k1, tf_idx O)
    void tf_reduce_max_d(double* out, int32_t* which, const double* X, const int64_t* offs,
                         tf_idx k0, tf_idx k1, tf_idx O)
    void tf_breduce_max_f(float* dX, const float* d, const int32_t* which, const int64_t* offs,
                          tf_idx k0, tf_idx k1, tf_idx O)
    void tf_breduce_max_d(double* dX, const double* d, const int32_t* which, const int64_t* offs,
                          tf_idx k0, tf_idx k1, tf_idx O)
    tf_idx tf_check_idx_i32(const int32_t* idx, tf_idx n, int64_t nrows)
    tf_idx tf_check_idx_u32(const uint32_t* idx, tf_idx n, int64_t nrows)
    tf_idx tf_check_idx_i64(const int64_t* idx, tf_idx n, int64_t nrows)
    void tf_gather_add_f_i32(float* out, const float* table, const int32_t* idx, tf_idx b0,
                             tf_idx b1, tf_idx K, tf_idx O)
    void tf_gather_add_f_u32(float* out, const float* table, const uint32_t* idx, tf_idx b0,
                             tf_idx b1, tf_idx K, tf_idx O)
    void tf_gather_add_f_i64(float* out, const float* table, const int64_t* idx, tf_idx b0,
                             tf_idx b1, tf_idx K, tf_idx O)
    void tf_gather_add_d_i32(double* out, const double* table, const int32_t* idx, tf_idx b0,
                             tf_idx b1, tf_idx K, tf_idx O)
    void tf_gather_add_d_u32(double* out, const double* table, const uint32_t* idx, tf_idx b0,
                             tf_idx b1, tf_idx K, tf_idx O)
    void tf_gather_add_d_i64(double* out, const double* table, const int64_t* idx, tf_idx b0,
                             tf_idx b1, tf_idx K, tf_idx O)
    void tf_scatter_add_f_i32(float* table, const int32_t* idx, const float* values, tf_idx n,
                              tf_idx vdiv, tf_idx O, tf_idx c0, tf_idx c1)
    void tf_scatter_add_f_u32(float* table, const uint32_t* idx, const float* values, tf_idx n,
                              tf_idx vdiv, tf_idx O, tf_idx c0, tf_idx c1)
    void tf_scatter_add_f_i64(float* table, const int64_t* idx, const float* values, tf_idx n,
                              tf_idx vdiv, tf_idx O, tf_idx c0, tf_idx c1)
    void tf_scatter_add_d_i32(double* table, const int32_t* idx, const double* values, tf_idx n,
                              tf_idx vdiv, tf_idx O, tf_idx c0, tf_idx c1)
    void tf_scatter_add_d_u32(double* table, const uint32_t* idx, const double* values, tf_idx n,
                              tf_idx vdiv, tf_idx O, tf_idx c0, tf_idx c1)
    void tf_scatter_add_d_i64(double* table, const int64_t* idx, const double* values, tf_idx n,
                              tf_idx vdiv, tf_idx O, tf_idx c0, tf_idx c1)
    void tf_maxout_f(float* best, int32_t* which, const float* X, tf_idx i0, tf_idx i1, tf_idx P)
    void tf_maxout_d(double* best, int32_t* which, const double* X, tf_idx i0, tf_idx i1, tf_idx P)
    void tf_bmaxout_f(float* dX, const float* dY, const int32_t* which, tf_idx i0, tf_idx i1,
                      tf_idx P)
    void tf_bmaxout_d(double* dX, const double* dY, const int32_t* which, tf_idx i0, tf_idx i1,
                      tf_idx P)
    void tf_act_forward(int kind, float* Y, const float* X, tf_idx n, const float* p)
    void tf_act_backward(int kind, float* dX, const float* dY, const float* X, const float* Y,
                         tf_idx n, const float* p)
    ctypedef struct tf_seq_job
    ctypedef void (*tf_seq_range_fn)(const tf_seq_job* j, tf_idx lo, tf_idx hi) noexcept nogil
    ctypedef struct tf_seq_job:
        tf_seq_range_fn range
        tf_idx n
        int nparts
        tf_idx align
        const int64_t* bounds
        void* dst
        void* dst2
        const void* src
        const void* src2
        const void* src3
        const int64_t* offs
        tf_idx nseq
        tf_idx s0, s1, s2
        int flag
        uint32_t seed
        float p[4]
    void tf_seq_chunk(void* ctx, int chunk)
    void tf_job_hash(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_ngrams(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_seq2col(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_act_forward(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_act_backward(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_bseq2col_f(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_bseq2col_d(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_reduce_sum_f(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_reduce_sum_d(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_breduce_sum_f(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_breduce_sum_d(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_reduce_max_f(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_reduce_max_d(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_breduce_max_f(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_breduce_max_d(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_maxout_f(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_maxout_d(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_bmaxout_f(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_bmaxout_d(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_gather_add_f_i32(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_gather_add_f_u32(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_gather_add_f_i64(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_gather_add_d_i32(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_gather_add_d_u32(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_gather_add_d_i64(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_scatter_add_f_i32(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_scatter_add_f_u32(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_scatter_add_f_i64(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_scatter_add_d_i32(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_scatter_add_d_u32(const tf_seq_job* j, tf_idx lo, tf_idx hi)
    void tf_job_scatter_add_d_i64(const tf_seq_job* j, tf_idx lo, tf_idx hi)

cdef extern from "tf_pool.h" nogil:
    void tf_pool_run(void (*fn)(void* ctx, int chunk) noexcept nogil, void* ctx, int nchunks,
                     int nthreads)

cdef extern from "tf_peak.h" nogil:
    ctypedef struct tf_peak_job:
        long iters
        int width
    int TF_PEAK_X86
    double tf_peak_zmm(long iters, float* sink)
    double tf_peak_ymm(long iters, float* sink)
    void tf_peak_chunk(void* ctx, int chunk) noexcept
