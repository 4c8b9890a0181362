/* The CPU's measured FMA peak: independent chains of fused multiply-adds at
 * the widest vector width the CPU has (AVX-512 zmm, AVX2 ymm), enough chains
 * in flight to cover the FMA latency on two pipes (12), so the loop is bound
 * by FMA throughput alone. Each call runs `iters` rounds and returns the
 * floating-point operations done (2 per lane per FMA); the caller times it,
 * on one thread or on every thread of the pool at once. The functions carry
 * their own target attributes, so the file builds for baseline x86-64 and the
 * caller picks the one the CPU runs (by its feature flags). */
#ifndef THF_PEAK_H
#define THF_PEAK_H

#include "pool_job.h"

#define THF_PEAK_CHAINS 12

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

__attribute__((target("avx512f"))) static double thf_peak_zmm(long iters, float *sink)
{
    __m512 acc[THF_PEAK_CHAINS];
    const __m512 mul = _mm512_set1_ps(0.9999999f), add = _mm512_set1_ps(1e-7f);
    for (int j = 0; j < THF_PEAK_CHAINS; ++j)
        acc[j] = _mm512_set1_ps((float)j);
    for (long i = 0; i < iters; ++i)
        for (int j = 0; j < THF_PEAK_CHAINS; ++j)
            acc[j] = _mm512_fmadd_ps(acc[j], mul, add);
    __m512 total = acc[0];
    for (int j = 1; j < THF_PEAK_CHAINS; ++j)
        total = _mm512_add_ps(total, acc[j]);
    *sink += _mm512_reduce_add_ps(total);
    return 2.0 * 16.0 * THF_PEAK_CHAINS * (double)iters;
}

__attribute__((target("avx2,fma"))) static double thf_peak_ymm(long iters, float *sink)
{
    __m256 acc[THF_PEAK_CHAINS];
    const __m256 mul = _mm256_set1_ps(0.9999999f), add = _mm256_set1_ps(1e-7f);
    for (int j = 0; j < THF_PEAK_CHAINS; ++j)
        acc[j] = _mm256_set1_ps((float)j);
    for (long i = 0; i < iters; ++i)
        for (int j = 0; j < THF_PEAK_CHAINS; ++j)
            acc[j] = _mm256_fmadd_ps(acc[j], mul, add);
    float lanes[8];
    __m256 total = acc[0];
    for (int j = 1; j < THF_PEAK_CHAINS; ++j)
        total = _mm256_add_ps(total, acc[j]);
    _mm256_storeu_ps(lanes, total);
    for (int l = 0; l < 8; ++l)
        *sink += lanes[l];
    return 2.0 * 8.0 * THF_PEAK_CHAINS * (double)iters;
}
#define THF_PEAK_X86 1
#else
static double thf_peak_zmm(long iters, float *sink) { (void)iters; (void)sink; return 0.0; }
static double thf_peak_ymm(long iters, float *sink) { (void)iters; (void)sink; return 0.0; }
#define THF_PEAK_X86 0
#endif

/* The probe as a pool job (pool_job.h): unit i of [lo, hi) runs `s0` rounds
 * at vector width `flag` (16: zmm, 8: ymm) into its own sink, ((float *)dst)[i].
 * Run with one unit per thread, so that every thread runs at once. */
static void thf_job_peak(const thf_job *j, thf_idx lo, thf_idx hi)
{
    for (thf_idx i = lo; i < hi; ++i) {
        if (j->flag == 16)
            thf_peak_zmm((long)j->s0, (float *)j->dst + i);
        else
            thf_peak_ymm((long)j->s0, (float *)j->dst + i);
    }
}

#endif /* THF_PEAK_H */
