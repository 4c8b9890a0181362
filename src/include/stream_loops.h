/* Memory-bound inner loops shared by the thinc_fast Cython modules.
 *
 * Every function works on raw float32 pointers marked `restrict`, so the
 * compiler may vectorise without run-time alias checks. Build flags matter:
 * these loops are compiled with -O3 -fno-math-errno -fopenmp-simd, which lets
 * gcc/clang turn sqrtf into a vector instruction and honour the simd pragmas,
 * without assuming anything beyond the baseline instruction set of the target.
 */
#ifndef THF_LOOPS_H
#define THF_LOOPS_H

#include <math.h>
#include <stddef.h>
#include <string.h>

#if defined(_MSC_VER)
#define THF_RESTRICT __restrict
#define THF_SIMD
#else
#define THF_RESTRICT __restrict__
#define THF_PRAGMA(x) _Pragma(#x)
#define THF_SIMD THF_PRAGMA(omp simd)
#endif

#ifndef THF_IDX_DEFINED
#define THF_IDX_DEFINED
typedef ptrdiff_t thf_idx;
#endif

/* The loops below are compiled for x86-64, -v3 and -v4 (dispatch.h). */
#include "dispatch.h"

/* Flush denormals to zero inside the optimizer loops. Moments of parameters
 * whose gradient stays zero decay geometrically into the denormal range,
 * where x86 arithmetic is ~100x slower; flushing them to zero changes values
 * below 1.2e-38 only. The caller's floating-point mode is restored after. */
#if defined(__SSE__) || defined(_M_X64)
#include <xmmintrin.h>
#define THF_FTZ_BEGIN unsigned int thf_saved_csr = _mm_getcsr(); _mm_setcsr(thf_saved_csr | 0x8040u);
#define THF_FTZ_END _mm_setcsr(thf_saved_csr);
#else
#define THF_FTZ_BEGIN
#define THF_FTZ_END
#endif

/* Y[i, j] = max(Y[i, j] + b[j], 0) for an (nr, nc) block with row stride ldy; NaN
 * stays NaN (Thinc zeroes only values <= 0). */
THF_DISPATCH static void thf_bias_relu(float *THF_RESTRICT Y, const float *THF_RESTRICT b,
                                thf_idx nr, thf_idx nc, thf_idx ldy)
{
    for (thf_idx i = 0; i < nr; ++i) {
        float *THF_RESTRICT row = Y + i * ldy;
        THF_SIMD
        for (thf_idx j = 0; j < nc; ++j) {
            float v = row[j] + b[j];
            row[j] = v <= 0.0f ? 0.0f : v;  /* NaN propagates, as in Thinc */
        }
    }
}

/* Y[i, j] += b[j]. */
THF_DISPATCH static void thf_bias_add(float *THF_RESTRICT Y, const float *THF_RESTRICT b,
                               thf_idx nr, thf_idx nc, thf_idx ldy)
{
    for (thf_idx i = 0; i < nr; ++i) {
        float *THF_RESTRICT row = Y + i * ldy;
        THF_SIMD
        for (thf_idx j = 0; j < nc; ++j)
            row[j] += b[j];
    }
}

/* dX[i] = Y[i] <= 0 ? 0 : dY[i], over n contiguous values (a NaN output passes
 * its gradient, as in Thinc). */
THF_DISPATCH static void thf_relu_backward(float *THF_RESTRICT dX, const float *THF_RESTRICT dY,
                                    const float *THF_RESTRICT Y, thf_idx n)
{
    /* Load dY unconditionally: a conditional load would keep the loop scalar
     * (and branchy, which costs ~4x on random signs). */
    THF_SIMD
    for (thf_idx i = 0; i < n; ++i) {
        float d = dY[i];
        dX[i] = Y[i] <= 0.0f ? 0.0f : d;
    }
}

/* out[j] += sum_i X[i, j]. */
THF_DISPATCH static void thf_colsum_inc(float *THF_RESTRICT out, const float *THF_RESTRICT X,
                                 thf_idx nr, thf_idx nc, thf_idx ldx)
{
    for (thf_idx i = 0; i < nr; ++i) {
        const float *THF_RESTRICT row = X + i * ldx;
        THF_SIMD
        for (thf_idx j = 0; j < nc; ++j)
            out[j] += row[j];
    }
}

/* Row-wise softmax: Y[i, :] = exp(X[i, :] - max) / sum(exp(X[i, :] - max)).
 * Y may equal X (in place); rows are contiguous with strides ldx and ldy. */
static inline void thf_softmax_rows(float *Y, const float *X, thf_idx nr, thf_idx nc,
                                   thf_idx ldx, thf_idx ldy)
{
    for (thf_idx i = 0; i < nr; ++i) {
        const float *x = X + i * ldx;
        float *y = Y + i * ldy;
        float mx = x[0];
        for (thf_idx j = 1; j < nc; ++j)
            mx = x[j] > mx ? x[j] : mx;
        float total = 0.0f;
        for (thf_idx j = 0; j < nc; ++j) {
            y[j] = expf(x[j] - mx);
            total += y[j];
        }
        float inv = 1.0f / total;
        for (thf_idx j = 0; j < nc; ++j)
            y[j] *= inv;
    }
}

/* sum_i (g[i] + l2 * w[i])^2 in double (no overflow for any finite float
 * input). w may be NULL when l2 == 0. A NaN or inf anywhere makes the result
 * non-finite.
 *
 * THF_SUMSQ_LANES running sums, value i going to sum i % THF_SUMSQ_LANES,
 * added up pairwise at the end: independent chains of additions (one chain
 * waited on each addition's latency: 3.0 us for 50,890 values on a Zen 5
 * core, 1.6 with 32 lanes), and the same order, so the same bits, on every
 * vector width. */
#define THF_SUMSQ_LANES 32
#define THF_SUMSQ_LOOP(VALUE)                                                \
    for (i = 0; i < nb; i += THF_SUMSQ_LANES) {                             \
        THF_SIMD                                                            \
        for (int l = 0; l < THF_SUMSQ_LANES; ++l) {                         \
            const thf_idx j = i + l;                                        \
            const double v = (VALUE);                                       \
            lanes[l] += v * v;                                              \
        }                                                                   \
    }                                                                       \
    for (thf_idx j = nb; j < n; ++j) {                                      \
        const double v = (VALUE);                                           \
        lanes[j - nb] += v * v;                                             \
    }

THF_DISPATCH static double thf_sumsq(const float *THF_RESTRICT g, const float *THF_RESTRICT w,
                                   float l2, thf_idx n)
{
    double lanes[THF_SUMSQ_LANES] = {0.0};
    const thf_idx nb = n - n % THF_SUMSQ_LANES;
    thf_idx i;
    if (w != NULL && l2 != 0.0f) {
        THF_SUMSQ_LOOP((double)(g[j] + l2 * w[j]))
    } else {
        THF_SUMSQ_LOOP((double)g[j])
    }
    for (int half = THF_SUMSQ_LANES / 2; half >= 1; half /= 2)
        for (int l = 0; l < half; ++l)
            lanes[l] += lanes[l + half];
    return lanes[0];
}

/* Hyperparameters of one fused optimizer step, already folded into scalars. */
typedef struct {
    float grad_scale;   /* gradient clipping factor, min(1, clip / norm) */
    float l2_coupled;   /* classic L2: g += l2 * w before clipping */
    float lr_hat;       /* Adam: lr * sqrt(1 - b2^t) / (1 - b1^t); SGD: lr */
    float beta1, beta2, eps;
    float decay;        /* decoupled weight decay: w -= decay * w after the step */
    float avg_rate;     /* parameter averages: ema -= avg_rate * (ema - w) */
    int use_denominator; /* 0 in RAdam's early steps: w -= lr_hat * m (no sqrt(v) term) */
} thf_step;

#define THF_ADAM_LOOP(UPDATE, AVERAGE)                                   \
    THF_SIMD                                                             \
    for (thf_idx i = 0; i < n; ++i) {                                    \
        float gi = (g[i] + l2 * w[i]) * scale;                          \
        float mi = b1 * m[i] + c1 * gi;                                 \
        float vi = b2 * v[i] + c2 * gi * gi;                            \
        float wi = w[i] - lr * (UPDATE);                                \
        wi -= decay * wi;                                               \
        m[i] = mi; v[i] = vi; w[i] = wi; g[i] = 0.0f;                   \
        AVERAGE                                                         \
    }

/* One fused Adam step over n values, in the order Thinc applies it:
 *   g = (g + l2 w) * scale
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
 *   w = w - lr_hat m / (sqrt(v) + eps)   (or w - lr_hat m without use_denominator)
 *   w = w - decay w;  ema = ema - avg_rate (ema - w);  g = 0
 * `avg` may be NULL (no averages). */
THF_DISPATCH static void thf_adam(float *THF_RESTRICT w, float *THF_RESTRICT g,
                           float *THF_RESTRICT m, float *THF_RESTRICT v,
                           float *THF_RESTRICT avg, thf_idx n, const thf_step *s)
{
    const float scale = s->grad_scale, l2 = s->l2_coupled, lr = s->lr_hat;
    const float b1 = s->beta1, b2 = s->beta2, eps = s->eps, decay = s->decay;
    const float c1 = 1.0f - b1, c2 = 1.0f - b2, ar = s->avg_rate;
    THF_FTZ_BEGIN
    if (s->use_denominator) {
        if (avg != NULL) {
            THF_ADAM_LOOP(mi / (sqrtf(vi) + eps), avg[i] -= ar * (avg[i] - wi);)
        } else {
            THF_ADAM_LOOP(mi / (sqrtf(vi) + eps), )
        }
    } else {
        if (avg != NULL) {
            THF_ADAM_LOOP(mi, avg[i] -= ar * (avg[i] - wi);)
        } else {
            THF_ADAM_LOOP(mi, )
        }
    }
    THF_FTZ_END
}

/* One fused SGD step: g = (g + l2 w) * scale; w -= lr g; w -= decay w; ema; g = 0. */
THF_DISPATCH static void thf_sgd(float *THF_RESTRICT w, float *THF_RESTRICT g,
                          float *THF_RESTRICT avg, thf_idx n, const thf_step *s)
{
    const float scale = s->grad_scale, l2 = s->l2_coupled, lr = s->lr_hat;
    const float decay = s->decay, ar = s->avg_rate;
    THF_FTZ_BEGIN
    THF_SIMD
    for (thf_idx i = 0; i < n; ++i) {
        float wi = w[i] - lr * ((g[i] + l2 * w[i]) * scale);
        wi -= decay * wi;
        w[i] = wi; g[i] = 0.0f;
    }
    if (avg != NULL) {
        THF_SIMD
        for (thf_idx i = 0; i < n; ++i)
            avg[i] -= ar * (avg[i] - w[i]);
    }
    THF_FTZ_END
}

/* a[i] = b[i] + s * c[i]: the STREAM triad, a probe of memory bandwidth. */
THF_DISPATCH static void thf_triad(float *THF_RESTRICT a, const float *THF_RESTRICT b,
                            const float *THF_RESTRICT c, float s, thf_idx n)
{
    THF_SIMD
    for (thf_idx i = 0; i < n; ++i)
        a[i] = b[i] + s * c[i];
}

#endif /* THF_LOOPS_H */
