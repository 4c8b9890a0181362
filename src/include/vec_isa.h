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
