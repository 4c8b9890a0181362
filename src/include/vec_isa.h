/* The vector kernels' builds (smallk_gemm.h, dot_gemm.h): each is compiled
 * three times, with GCC's vector types of 16 floats (AVX-512), 8 (AVX2) and
 * 4 (baseline SSE), and one build is picked once, by what the CPU runs.
 * Unlike THF_DISPATCH's target_clones (dispatch.h), the vector width and the
 * register blocking differ per build, and tests can force a lower build. */
#ifndef THF_VEC_ISA_H
#define THF_VEC_ISA_H

typedef float thf_f32x16 __attribute__((vector_size(64), aligned(4), may_alias));
typedef float thf_f32x8 __attribute__((vector_size(32), aligned(4), may_alias));
typedef float thf_f32x4 __attribute__((vector_size(16), aligned(4), may_alias));
typedef int thf_i32x16 __attribute__((vector_size(64)));
typedef int thf_i32x8 __attribute__((vector_size(32)));
typedef int thf_i32x4 __attribute__((vector_size(16)));

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 12 && \
    !defined(THF_NO_DISPATCH)
#define THF_VEC_DISPATCH 1
#define THF_VEC_V4 __attribute__((target("arch=x86-64-v4")))
#define THF_VEC_V3 __attribute__((target("arch=x86-64-v3")))
#endif

/* THF_VEC_KEEP(v): the value of v as computed, opaque to the compiler, so
 * that it is not fused into the next operation. gcc contracts `x * a + y * b`
 * into one multiply-add, rounding either product first depending on the code
 * around it; a kernel whose epilogue `alpha * sum + beta * C` appears in two
 * places (full blocks and the last columns, vector and scalar stores) then
 * gives different bits in each. Kept, both products round, then their sum:
 * the same bits wherever an element falls (smallk_gemm.h, dot_gemm.h). */
#if defined(__GNUC__) && defined(__x86_64__)
#define THF_VEC_KEEP(v) __asm__("" : "+v"(v))
#elif defined(__GNUC__) && defined(__aarch64__)
#define THF_VEC_KEEP(v) __asm__("" : "+w"(v))
#else
#define THF_VEC_KEEP(v) ((void)0)
#endif

/* alpha * sum + beta * C for a kernel's epilogue, `scaled_sum` being alpha *
 * sum: that product and beta * C each rounded (THF_VEC_KEEP), then added; C
 * (`c_value`, an expression) is not read when beta is 0, so NaN there does
 * not spread. T: the vector type, or float. */
#define THF_VEC_EPILOGUE(T, scaled_sum, beta, c_value)                                      \
    ({                                                                                      \
        T s_ = (scaled_sum);                                                                \
        THF_VEC_KEEP(s_);                                                                   \
        if ((beta) != 0.0f) {                                                               \
            T b_ = (beta) * (c_value);                                                      \
            THF_VEC_KEEP(b_);                                                               \
            s_ += b_;                                                                       \
        }                                                                                   \
        s_;                                                                                 \
    })

/* The first `rest` (0 < rest < VW) floats at `src` as a vector, the other
 * lanes zero, reading nothing past them: a masked load on the AVX-512 and
 * AVX2 builds, a copy on the baseline one. THF_VEC_STORE_FIRST writes only
 * the first `rest` lanes of a vector. Used inside the builds' functions. */
#ifdef THF_VEC_DISPATCH
#include <immintrin.h>
#define THF_VEC_MASK8(rest) ((__m256i)((thf_i32x8){0, 1, 2, 3, 4, 5, 6, 7} < (rest)))
#define THF_VEC_LOAD_FIRST16(src, rest)                                                     \
    ((thf_f32x16)_mm512_maskz_loadu_ps((__mmask16)((1u << (rest)) - 1u), (src)))
#define THF_VEC_LOAD_FIRST8(src, rest) ((thf_f32x8)_mm256_maskload_ps((src), THF_VEC_MASK8(rest)))
#define THF_VEC_STORE_FIRST16(dst, rest, v)                                                 \
    _mm512_mask_storeu_ps((dst), (__mmask16)((1u << (rest)) - 1u), (__m512)(v))
#define THF_VEC_STORE_FIRST8(dst, rest, v)                                                  \
    _mm256_maskstore_ps((dst), THF_VEC_MASK8(rest), (__m256)(v))
#endif
#define THF_VEC_LOAD_FIRST4(src, rest)                                                      \
    ({                                                                                      \
        float lanes_[4] = {0};                                                              \
        for (int l_ = 0; l_ < (rest); ++l_)                                                 \
            lanes_[l_] = (src)[l_];                                                         \
        *(const thf_f32x4 *)lanes_;                                                         \
    })
#define THF_VEC_STORE_FIRST4(dst, rest, v)                                                  \
    do {                                                                                    \
        const thf_f32x4 v_ = (v);                                                           \
        for (int l_ = 0; l_ < (rest); ++l_)                                                 \
            (dst)[l_] = v_[l_];                                                             \
    } while (0)

/* Which build runs: -1 not chosen yet, 0 baseline, 3 AVX2, 4 AVX-512 (tests
 * may force a lower one the CPU runs). */
static int thf_vec_isa = -1;

static int thf_vec_best_isa(void)
{
#ifdef THF_VEC_DISPATCH
    __builtin_cpu_init();
    if (__builtin_cpu_supports("x86-64-v4"))
        return 4;
    if (__builtin_cpu_supports("x86-64-v3"))
        return 3;
#endif
    return 0;
}

/* The build to run now (chosen on the first call). */
static inline int thf_vec_isa_now(void)
{
    int isa = __atomic_load_n(&thf_vec_isa, __ATOMIC_RELAXED);
    if (isa < 0) {
        isa = thf_vec_best_isa();
        __atomic_store_n(&thf_vec_isa, isa, __ATOMIC_RELAXED);
    }
    return isa;
}

#endif /* THF_VEC_ISA_H */
