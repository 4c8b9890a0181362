/* C := alpha * A @ B + beta * C for a short k (a small batch's weight
 * gradient dY^T @ X, an input gradient dY @ W through a narrow layer), with B
 * and C contiguous along n: no packing, each block of C kept in registers
 * while k runs.
 *
 * blis packs A and B into panels before every product; with k = 32 the
 * packing is about as much work as the arithmetic (64x32x784 ran at 160
 * GFLOP/s on one Zen 5 thread, 55% of its FMA peak). Here a block of MR rows
 * by NV vectors of C is MR x NV accumulators; each step over k loads NV
 * vectors of one row of B, broadcasts MR values of A (any strides: A may be
 * dY transposed) and does MR x NV vector multiply-adds.
 *
 * Compiled three times (AVX-512 with 16-float vectors, AVX2 with 8, baseline
 * SSE with 4: vec_isa.h), and picked once by what the CPU runs. The rounding: every element of C is one chain of multiply-adds over
 * p = 0..k-1 from zero, then alpha * sum + beta * C (each product rounded,
 * then the sum: THF_VEC_EPILOGUE), whether it falls in a
 * full block, a narrower one or the edge (the same vector operations, lane by
 * lane): the same bits for any tiling, so on any thread count.
 */
#ifndef THF_SMALLK_GEMM_H
#define THF_SMALLK_GEMM_H

#include <stddef.h>

#include "vec_isa.h"

/* A block of R1 + R2 rows (constants; R2 may be 0) by NV vectors of VW
 * floats at C[i, j], its accumulators in two arrays (rows [i, i + R1) and
 * the R2 after). Two for the tall kernel's 9 or 10 rows (an output layer's
 * dW), one pass over B instead of two blocks' two: one array of 20 zmm
 * accumulators gcc keeps on the stack, zeroing it before every block (`rep
 * stos`); up to 16 it keeps them in registers. Every element is the same
 * chain over k in any block: the same bits. */
#define THF_SMALLK_BLOCK(VT, VW, ROWS, NV) THF_SMALLK_BLOCK2(VT, VW, ROWS, 0, NV)
#define THF_SMALLK_BLOCK2(VT, VW, R1, R2, NV)                                              \
    {                                                                                       \
        VT acc1[R1][NV], acc2[(R2) > 0 ? (R2) : 1][NV];                                     \
        for (int r = 0; r < (R1); ++r)                                                      \
            for (int v = 0; v < NV; ++v)                                                    \
                acc1[r][v] = (VT){0};                                                       \
        for (int r = 0; r < (R2); ++r)                                                      \
            for (int v = 0; v < NV; ++v)                                                    \
                acc2[r][v] = (VT){0};                                                       \
        for (ptrdiff_t p = 0; p < k; ++p) {                                                 \
            const float *b = B + p * rsb + j;                                               \
            VT bv[NV];                                                                      \
            for (int v = 0; v < NV; ++v)                                                    \
                bv[v] = *(const VT *)(b + v * VW);                                          \
            for (int r = 0; r < (R1); ++r) {                                                \
                const float a = A[(i + r) * rsa + p * csa];                                 \
                for (int v = 0; v < NV; ++v)                                                \
                    acc1[r][v] += a * bv[v];                                                \
            }                                                                               \
            for (int r = 0; r < (R2); ++r) {                                                \
                const float a = A[(i + (R1) + r) * rsa + p * csa];                          \
                for (int v = 0; v < NV; ++v)                                                \
                    acc2[r][v] += a * bv[v];                                                \
            }                                                                               \
        }                                                                                   \
        for (int r = 0; r < (R1) + (R2); ++r)                                               \
            for (int v = 0; v < NV; ++v) {                                                  \
                VT *c = (VT *)(C + (i + r) * rsc + j + v * VW);                             \
                *c = THF_VEC_EPILOGUE(VT, (r < (R1) ? acc1[r][v] : acc2[r - (R1)][v]) * alpha, \
                                      beta, *c);                                            \
            }                                                                               \
    }

/* The last n % VW columns of rows [i, i + ROWS): the same vector arithmetic
 * on B's and C's last columns read as vectors padded with zeros (a masked
 * load: THF_VEC_LOAD_FIRST, vec_isa.h), written back by a masked store;
 * computing them one by one would let the compiler round each product apart
 * from its addition, and the bits would differ from the rest. The padding
 * lanes are computed and dropped. (Copying B's last columns into padded
 * vectors, as this did first, cost 20-30% of a 200 x k x 300 weight gradient
 * on a Zen 4 core: 12 of its 300 columns.) */
#define THF_SMALLK_TAIL(VT, VW, ROWS)                                                      \
    {                                                                                       \
        const int tail = (int)(jend - j);                                                   \
        VT acc[ROWS];                                                                       \
        for (int r = 0; r < ROWS; ++r)                                                      \
            acc[r] = (VT){0};                                                               \
        for (ptrdiff_t p = 0; p < k; ++p) {                                                 \
            const VT bt = THF_VEC_LOAD_FIRST##VW(B + p * rsb + j, tail);                    \
            for (int r = 0; r < ROWS; ++r)                                                  \
                acc[r] += A[(i + r) * rsa + p * csa] * bt;                                  \
        }                                                                                   \
        for (int r = 0; r < ROWS; ++r) {                                                    \
            float *c = C + (i + r) * rsc + j;                                               \
            const VT out = THF_VEC_EPILOGUE(VT, acc[r] * alpha, beta,                       \
                                            THF_VEC_LOAD_FIRST##VW(c, tail));               \
            THF_VEC_STORE_FIRST##VW(c, tail, out);                                          \
        }                                                                                   \
    }

/* Single vectors from column `from` (a variable not named j), then the last
 * (jend - from) % VW columns, of rows [i, i + ROWS). */
#define THF_SMALLK_ROWS_FROM(VT, VW, ROWS, from)                                           \
    {                                                                                       \
        ptrdiff_t j = (from);                                                               \
        for (; j + (VW) <= jend; j += (VW))                                                 \
            THF_SMALLK_BLOCK(VT, VW, ROWS, 1)                                               \
        if (j < jend)                                                                       \
            THF_SMALLK_TAIL(VT, VW, ROWS)                                                   \
    }

/* Rows [i, i + ROWS) of C in the columns [j0, jend): blocks of NV vectors,
 * then single vectors, then the last (jend - j0) % VW columns. */
#define THF_SMALLK_ROWS(VT, VW, ROWS, NV)                                                  \
    {                                                                                       \
        ptrdiff_t j = j0;                                                                   \
        for (; j + (VW) * (NV) <= jend; j += (VW) * (NV))                                   \
            THF_SMALLK_BLOCK(VT, VW, ROWS, NV)                                              \
        const ptrdiff_t j_rest = j;                                                         \
        THF_SMALLK_ROWS_FROM(VT, VW, ROWS, j_rest)                                          \
    }

/* Rows [i, i + R1 + R2) in the columns [j0, jend), as THF_SMALLK_ROWS: blocks
 * of NV vectors in two arrays (THF_SMALLK_BLOCK2), then single vectors and
 * the last columns in blocks of R1 and R2 rows. */
#define THF_SMALLK_ROWS2(VT, VW, R1, R2, NV)                                               \
    {                                                                                       \
        ptrdiff_t j = j0;                                                                   \
        for (; j + (VW) * (NV) <= jend; j += (VW) * (NV))                                   \
            THF_SMALLK_BLOCK2(VT, VW, R1, R2, NV)                                           \
        const ptrdiff_t i_first = i;                                                        \
        const ptrdiff_t j_rest = j;                                                         \
        THF_SMALLK_ROWS_FROM(VT, VW, R1, j_rest)                                            \
        i = i_first + (R1);                                                                 \
        THF_SMALLK_ROWS_FROM(VT, VW, R2, j_rest)                                            \
        i = i_first;                                                                        \
    }

/* B is read in panels of columns, each about THF_SMALLK_PANEL floats (k
 * rows by a multiple of the block's width), and every row block of C runs
 * over one panel before the next: the panel stays in L2 while A's rows go
 * past. Row blocks outermost streamed all of B once per block of rows, from
 * L3 once B outgrew L2: an input gradient dY @ W at 128x512x784 (B 1.6 MB)
 * ran at 217 GFLOP/s on one Zen 5 core that way, 257 in panels (89% of the
 * peak; blis 227), 128x512x512 at 237 and 269.
 *
 * Rows go in blocks of MR; with BALANCED the rows are shared evenly among
 * ceil(m / MR) blocks, otherwise the last 5 to 6 (MR + 2) go as one block and
 * 1 to 3 as one: every block reads its stretch of B once, so leftover rows
 * run alone would each cost a whole pass over it for a fraction of the
 * arithmetic; 10 rows (an output layer's dW) were 4 + 4 + 1 + 1 at 42% of one
 * Zen 5 core's peak, as 4 + 6 at 83%.
 *
 * The AVX-512 build's blocks for k > THF_SMALLK_TALL_K are up to 8 rows by 2
 * vectors, balanced (16 accumulators; each step loads 2 vectors of B and
 * broadcasts 8 values of A; 9 or 10 rows go as one block, THF_SMALLK_BLOCK2,
 * other counts balanced, 12 as 6 + 6): half the loads of B per
 * multiply-add of 4 x 4, which matters when B's panel comes from L2. On one
 * Zen 5 core 512x128x784 with A strided (a weight gradient) ran at 215
 * GFLOP/s in 4 x 4 blocks and 269 in 8 x 2 (blis 246-252), 128x512x784 at 256
 * and 280, 2000x288x96 at 214 and 274; at k = 10 the 4 x 4 blocks stay ahead
 * (128x10x512: 269 and 253). An output layer's dW of 10 rows ran as 5 + 5,
 * each block reading B, at 200-240 GFLOP/s on one core; as one block, side by
 * side on one Zen 5 core (beta = 1): 10x128x512 5.3-6.4 us against 6.5-6.7,
 * 10x600x288 13.5-14.6 against 18.1-19.0, and split over 2 threads 4.7-5.2
 * against 6.5-7.3 (9x200x300: 6.7-7.2 against 6.6-7.0 on one, 6.3-6.6
 * against 6.8-7.2 on two).
 *
 * The AVX2 build's blocks for k > THF_SMALLK_TALL_K and more than 10 rows
 * are up to 6 rows by 2 vectors, balanced (12 of its 16 registers
 * accumulate, 2 hold B's vectors, 1 the broadcast); otherwise 4 x 2 with the
 * last 5 or 6 rows as one block, as before. 4 x 2 has 8 chains of
 * multiply-adds, just enough for two FMA pipes of 4 cycles' latency, and
 * loads 6 values per 8 multiply-adds, 6 x 2 8 per 12. On one Zen 3 core
 * (AMD EPYC family 25), medians of 31 interleaved runs, GFLOP/s 4 x 2 / 6 x 2:
 * 64x288x288 47.8/57.7, 32x512x784 51.0/60.7, 128x128x512 66.4/75.3 (A
 * contiguous), 64x128x784 41.1/49.3, 288x32x288 49.6/54.8, 64x600x64
 * 74.8/82.3 (A strided: weight gradients); but at k = 10 4 x 2 wins
 * (128x10x512 73.1/60.2), and at 10 rows 4 + 6 beats 5 + 5 (10x128x512
 * 79.5/74.7; 9 or 10 rows in one block of 20 ymm accumulators would spill). */
#define THF_SMALLK_PANEL 65536
#define THF_SMALLK_TALL_K 16

#define THF_SMALLK_KERNEL(NAME, ATTR, VT, VW, NV, MR, BALANCED)                            \
    ATTR static void NAME(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *A, \
                          ptrdiff_t rsa, ptrdiff_t csa, const float *B, ptrdiff_t rsb,       \
                          float beta, float *C, ptrdiff_t rsc)                              \
    {                                                                                       \
        const ptrdiff_t block = (VW) * (NV), blocks = THF_SMALLK_PANEL / (k * block);        \
        const ptrdiff_t panel = blocks > 1 ? blocks * block : block;                        \
        const ptrdiff_t nblocks = (m + (MR) - 1) / (MR);                                    \
        const ptrdiff_t mr = (BALANCED) ? (m + nblocks - 1) / nblocks : (MR);               \
        const ptrdiff_t last = (BALANCED) ? mr : (MR) + 2;                                  \
        for (ptrdiff_t j0 = 0; j0 < n; j0 += panel) {                                       \
            const ptrdiff_t jend = n - j0 < panel ? n : j0 + panel;                         \
            if ((BALANCED) && (VW) == 16 && (m == 9 || m == 10)) { /* THF_SMALLK_BLOCK2 */ \
                ptrdiff_t i = 0;                                                            \
                if (m == 10)                                                                \
                    THF_SMALLK_ROWS2(VT, VW, 5, 5, NV)                                      \
                else                                                                        \
                    THF_SMALLK_ROWS2(VT, VW, 5, 4, NV)                                      \
                continue;                                                                   \
            }                                                                               \
            for (ptrdiff_t i = 0; i < m;) {                                                 \
                const ptrdiff_t rows = m - i <= last ? m - i : mr;                          \
                switch (rows) {                                                             \
                case 8: /* only balanced blocks reach 7 or 8 rows: compiled out elsewhere */ \
                    if (BALANCED) THF_SMALLK_ROWS(VT, VW, 8, NV)                            \
                    break;                                                                  \
                case 7:                                                                     \
                    if (BALANCED) THF_SMALLK_ROWS(VT, VW, 7, NV)                            \
                    break;                                                                  \
                case 6: THF_SMALLK_ROWS(VT, VW, 6, NV) break;                               \
                case 5: THF_SMALLK_ROWS(VT, VW, 5, NV) break;                               \
                case 4: THF_SMALLK_ROWS(VT, VW, 4, NV) break;                               \
                case 3: THF_SMALLK_ROWS(VT, VW, 3, NV) break;                               \
                case 2: THF_SMALLK_ROWS(VT, VW, 2, NV) break;                               \
                default: THF_SMALLK_ROWS(VT, VW, 1, NV) break;                              \
                }                                                                           \
                i += rows;                                                                  \
            }                                                                               \
        }                                                                                   \
    }

#ifdef THF_VEC_DISPATCH
THF_SMALLK_KERNEL(thf_smallk_v4, THF_VEC_V4, thf_f32x16, 16, 4, 4, 0)
THF_SMALLK_KERNEL(thf_smallk_v4_tall, THF_VEC_V4, thf_f32x16, 16, 2, 8, 1)
THF_SMALLK_KERNEL(thf_smallk_v3, THF_VEC_V3, thf_f32x8, 8, 2, 4, 0)
THF_SMALLK_KERNEL(thf_smallk_v3_tall, THF_VEC_V3, thf_f32x8, 8, 2, 6, 1)
#endif
THF_SMALLK_KERNEL(thf_smallk_base, , thf_f32x4, 4, 2, 4, 0)

/* C (m x n, rows rsc apart, contiguous along n) := alpha * A @ B + beta * C,
 * A (m x k) at any strides, B (k x n, rows rsb apart, contiguous along n). */
static void thf_sgemm_smallk(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *A,
                             ptrdiff_t rsa, ptrdiff_t csa, const float *B, ptrdiff_t rsb,
                             float beta, float *C, ptrdiff_t rsc)
{
#ifdef THF_VEC_DISPATCH
    int isa = thf_vec_isa_now();
    if (isa == 4) {
        if (k > THF_SMALLK_TALL_K)
            thf_smallk_v4_tall(m, n, k, alpha, A, rsa, csa, B, rsb, beta, C, rsc);
        else
            thf_smallk_v4(m, n, k, alpha, A, rsa, csa, B, rsb, beta, C, rsc);
        return;
    }
    if (isa == 3) {
        if (k > THF_SMALLK_TALL_K && m > 10)
            thf_smallk_v3_tall(m, n, k, alpha, A, rsa, csa, B, rsb, beta, C, rsc);
        else
            thf_smallk_v3(m, n, k, alpha, A, rsa, csa, B, rsb, beta, C, rsc);
        return;
    }
#endif
    thf_smallk_base(m, n, k, alpha, A, rsa, csa, B, rsb, beta, C, rsc);
}

#endif /* THF_SMALLK_GEMM_H */
