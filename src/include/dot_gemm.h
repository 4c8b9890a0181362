/* C := alpha * A @ W^T + beta * C by dot products, for products with few rows
 * and both operands contiguous along k (a layer's forward pass, X @ W^T, at a
 * small batch): no packing, each element of C one dot product over k.
 *
 * blis packs both operands into panels before every product; at 32 rows and
 * a few hundred columns that packing costs about as much as the arithmetic.
 * Here a 4x4 block of C is 16 dot products run together: each step over k
 * loads 4 values of A and 4 of W and does 16 multiply-adds, vectorised over
 * k (`omp simd` reductions, compiled for x86-64, -v3 and -v4 and picked at
 * load time, like stream_loops.h).
 *
 * The rounding: element (i, j) sums its products in the order of the block
 * it falls in (a full 4x4 block, or the edge loop for the last m % 4 rows and
 * n % 4 columns). The caller keeps tile edges at multiples of 4, so an
 * element falls in the same kind of block whatever the tiling: the same bits
 * on any thread count.
 */
#ifndef THF_DOT_GEMM_H
#define THF_DOT_GEMM_H

#include <stddef.h>

#include "dispatch.h"

/* rows [i0, i1) x columns [j0, j1) of C; 4 | (i1 - i0) is not required */
THF_DISPATCH
static void thf_sgemm_dot(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *A,
                          ptrdiff_t lda, const float *W, ptrdiff_t ldw, float beta, float *C,
                          ptrdiff_t ldc)
{
    ptrdiff_t i, j, p;
    ptrdiff_t m4 = m - m % 4, n4 = n - n % 4;
    for (j = 0; j < n4; j += 4) {
        const float *w0 = W + j * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
        for (i = 0; i < m4; i += 4) {
            const float *a0 = A + i * lda, *a1 = a0 + lda, *a2 = a1 + lda, *a3 = a2 + lda;
            float c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
            float c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
#pragma omp simd reduction(+ : c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, \
                               c30, c31, c32, c33)
            for (p = 0; p < k; ++p) {
                float x0 = a0[p], x1 = a1[p], x2 = a2[p], x3 = a3[p];
                float y0 = w0[p], y1 = w1[p], y2 = w2[p], y3 = w3[p];
                c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
                c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
                c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3;
                c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3;
            }
            const float s[4][4] = {{c00, c01, c02, c03}, {c10, c11, c12, c13},
                                   {c20, c21, c22, c23}, {c30, c31, c32, c33}};
            for (int a = 0; a < 4; ++a) {
                float *c = C + (i + a) * ldc + j;
                for (int b = 0; b < 4; ++b)
                    c[b] = beta == 0.0f ? alpha * s[a][b] : alpha * s[a][b] + beta * c[b];
            }
        }
    }
    /* the edges: the last m % 4 rows (every column) and the last n % 4 columns */
    for (i = 0; i < m; ++i) {
        const float *a = A + i * lda;
        for (j = i < m4 ? n4 : 0; j < n; ++j) {
            const float *w = W + j * ldw;
            float s = 0;
#pragma omp simd reduction(+ : s)
            for (p = 0; p < k; ++p)
                s += a[p] * w[p];
            float *c = C + i * ldc + j;
            *c = beta == 0.0f ? alpha * s : alpha * s + beta * *c;
        }
    }
}

#endif /* THF_DOT_GEMM_H */
