/* C := alpha * A @ W^T + beta * C by dot products, for products with both
 * operands contiguous along k: a layer's forward pass X @ W^T at a small
 * batch, or into a thin output layer. No packing; each element of C is one
 * dot product over k.
 *
 * blis packs both operands into panels before every product; at 32 rows and
 * a few hundred columns that packing costs about as much as the arithmetic.
 * Here a block of MR rows by NR columns of C is MR x NR vector accumulators
 * (lanes along k): each step over k loads MR vectors of A and NR of W and
 * does MR x NR vector multiply-adds. At the end of k a tree of lane shuffles
 * turns the accumulators into their sums, 16 (or 8, or 4) per vector: a sum
 * lane by lane would cost a third of the time at k = 784.
 *
 * Builds (vec_isa.h): AVX-512 with 16-float vectors and 4x4 blocks (16 of the
 * 32 registers accumulate; 4x5 in thin and long-k products, see thf_dot_col_width);
 * AVX2 with 8 floats and 3x4 blocks (12 of 16:
 * a 4x4 block would spill); baseline SSE with 4 floats and 2x4 blocks.
 *
 * The rounding: element (i, j) is VW chains of multiply-adds over k (lane l
 * takes p = l, l + VW, ...; the last partial vector of k padded with zeros),
 * then a tree of lane folds that pairs lanes l and l + VW/2, then l and
 * l + VW/4, ..., the same for every element whatever the block shape around
 * it. The caller also starts tiles at multiples of MR rows and NR columns
 * (thf_dot_block_rows and _cols), so an element falls in the same kind of
 * block whatever the tiling: the same bits on any thread count.
 */
#ifndef THF_DOT_GEMM_H
#define THF_DOT_GEMM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "vec_isa.h"

/* One level of the tree: accumulators 2e and 2e + 1 (the odd last one with a
 * zero vector) become e, each holding groups of lanes half as wide as before,
 * the first's groups then the second's. After log2(VW) levels, lane l of
 * vector e is the whole sum of accumulator e * VW + l. */
#define THF_DOT_FOLD(VT, IT, LO, HI)                                                        \
    {                                                                                       \
        const IT lo = LO, hi = HI;                                                          \
        const int half = (cnt + 1) / 2;                                                     \
        for (int e = 0; e < half; ++e) {                                                    \
            VT a = acc[2 * e], b = 2 * e + 1 < cnt ? acc[2 * e + 1] : (VT){0};              \
            acc[e] = __builtin_shuffle(a, b, lo) + __builtin_shuffle(a, b, hi);             \
        }                                                                                   \
        cnt = half;                                                                         \
    }

#define THF_DOT_FOLDS16                                                                     \
    THF_DOT_FOLD(thf_f32x16, thf_i32x16,                                                    \
                 ((thf_i32x16){0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23}),     \
                 ((thf_i32x16){8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31})) \
    THF_DOT_FOLD(thf_f32x16, thf_i32x16,                                                    \
                 ((thf_i32x16){0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27}),   \
                 ((thf_i32x16){4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31})) \
    THF_DOT_FOLD(thf_f32x16, thf_i32x16,                                                    \
                 ((thf_i32x16){0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29}),   \
                 ((thf_i32x16){2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31})) \
    THF_DOT_FOLD(thf_f32x16, thf_i32x16,                                                    \
                 ((thf_i32x16){0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30}),  \
                 ((thf_i32x16){1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31}))

#define THF_DOT_FOLDS8                                                                      \
    THF_DOT_FOLD(thf_f32x8, thf_i32x8, ((thf_i32x8){0, 1, 2, 3, 8, 9, 10, 11}),             \
                 ((thf_i32x8){4, 5, 6, 7, 12, 13, 14, 15}))                                 \
    THF_DOT_FOLD(thf_f32x8, thf_i32x8, ((thf_i32x8){0, 1, 4, 5, 8, 9, 12, 13}),             \
                 ((thf_i32x8){2, 3, 6, 7, 10, 11, 14, 15}))                                 \
    THF_DOT_FOLD(thf_f32x8, thf_i32x8, ((thf_i32x8){0, 2, 4, 6, 8, 10, 12, 14}),            \
                 ((thf_i32x8){1, 3, 5, 7, 9, 11, 13, 15}))

#define THF_DOT_FOLDS4                                                                      \
    THF_DOT_FOLD(thf_f32x4, thf_i32x4, ((thf_i32x4){0, 1, 4, 5}), ((thf_i32x4){2, 3, 6, 7})) \
    THF_DOT_FOLD(thf_f32x4, thf_i32x4, ((thf_i32x4){0, 2, 4, 6}), ((thf_i32x4){1, 3, 5, 7}))

/* One step over k of a block: loads of A's ROWS rows and W's COLS (+ EXTRA)
 * rows by LOAD (THF_DOT_LOAD_FULL, or THF_DOT_LOAD_TAIL for the last k % VW
 * steps, padded with zeros), their multiply-adds into acc (and accx). */
#define THF_DOT_LOAD_FULL(VT, VW, src) (*(const VT *)(src))
#define THF_DOT_LOAD_TAIL(VT, VW, src) THF_VEC_LOAD_FIRST##VW(src, rest)
#define THF_DOT_STEP(VT, VW, ROWS, COLS, EXTRA, LOAD)                                       \
    {                                                                                       \
        VT x[ROWS];                                                                         \
        for (int r = 0; r < (ROWS); ++r)                                                    \
            x[r] = LOAD(VT, VW, a0 + r * lda + p);                                          \
        for (int c = 0; c < (COLS); ++c) {                                                  \
            const VT y = LOAD(VT, VW, w0 + c * w_ld + p);                                   \
            for (int r = 0; r < (ROWS); ++r)                                                \
                acc[r * (COLS) + c] += x[r] * y;                                            \
        }                                                                                   \
        if (EXTRA) {                                                                        \
            const VT y = LOAD(VT, VW, w0 + (COLS) * w_ld + p);                              \
            for (int r = 0; r < (ROWS); ++r)                                                \
                accx[r] += x[r] * y;                                                        \
        }                                                                                   \
    }

/* The block of ROWS x (COLS + EXTRA) elements at C[i, j] (constants; EXTRA
 * is 0, or 1 with COLS = 4: the AVX-512 build's 4x5 blocks of thin products).
 * The extra column keeps its sums in an array of its own, accx: gcc keeps an
 * array of up to 16 zmm accumulators in registers through the folds, but one
 * of 20 went to the stack, zeroed there by a `rep stos` before every block
 * (at k = 64 a 10-column product took 1.8x as long as in 4 + 4 + 2 blocks).
 * Each element's chains and folds are those of any other block: the same
 * bits. */
#define THF_DOT_BLOCKX(VT, VW, ROWS, COLS, EXTRA)                                           \
    {                                                                                       \
        VT acc[(ROWS) * (COLS)], accx[ROWS];                                                \
        for (int e = 0; e < (ROWS) * (COLS); ++e)                                           \
            acc[e] = (VT){0};                                                               \
        for (int r = 0; (EXTRA) && r < (ROWS); ++r)                                         \
            accx[r] = (VT){0};                                                              \
        const float *a0 = A + i * lda, *w0 = w_at + (j - w_j0) * w_ld;                      \
        ptrdiff_t p = 0;                                                                    \
        for (; p + (VW) <= k; p += (VW))                                                    \
            THF_DOT_STEP(VT, VW, ROWS, COLS, EXTRA, THF_DOT_LOAD_FULL)                      \
        if (p < k) {                                                                        \
            const int rest = (int)(k - p);                                                  \
            THF_DOT_STEP(VT, VW, ROWS, COLS, EXTRA, THF_DOT_LOAD_TAIL)                      \
        }                                                                                   \
        {                                                                                   \
            int cnt = (ROWS) * (COLS);                                                      \
            THF_DOT_FOLDS##VW                                                               \
        }                                                                                   \
        if (EXTRA) { /* the same folds on accx: lane r of accx[0] is row r's sum */         \
            VT *sums = accx;                                                                \
            VT acc[ROWS]; /* THF_DOT_FOLD works on `acc` */                                 \
            for (int r = 0; r < (ROWS); ++r)                                                \
                acc[r] = sums[r];                                                           \
            int cnt = (ROWS);                                                               \
            THF_DOT_FOLDS##VW                                                               \
            sums[0] = acc[0];                                                               \
        }                                                                                   \
        if ((COLS) == 4) { /* each row's 4 sums are 4 floats in a row: one vector each */   \
            for (int r = 0; r < (ROWS); ++r) {                                              \
                const thf_f32x4 s = *(const thf_f32x4 *)((const float *)acc + 4 * r) * alpha; \
                thf_f32x4 *out = (thf_f32x4 *)(C + (i + r) * ldc + j);                      \
                *out = THF_VEC_EPILOGUE(thf_f32x4, s, beta, *out);                          \
                if (EXTRA) {                                                                \
                    float *out_x = C + (i + r) * ldc + j + 4;                               \
                    *out_x = THF_VEC_EPILOGUE(float, alpha * accx[0][r], beta, *out_x);     \
                }                                                                           \
            }                                                                               \
        } else {                                                                            \
            for (int r = 0; r < (ROWS); ++r)                                                \
                for (int c = 0; c < (COLS); ++c) {                                          \
                    const int e = r * (COLS) + c;                                           \
                    float *out = C + (i + r) * ldc + j + c;                                 \
                    *out = THF_VEC_EPILOGUE(float, alpha * acc[e / (VW)][e % (VW)], beta, *out); \
                }                                                                           \
        }                                                                                   \
    }

#define THF_DOT_BLOCK(VT, VW, ROWS, COLS) THF_DOT_BLOCKX(VT, VW, ROWS, COLS, 0)

/* The columns [j, j + COLS) of every row: row blocks of MR, then the last
 * m % MR rows one at a time. Full column blocks take this, not the switch
 * on the width that the last one needs (THF_DOT_SWITCH_COLS): with the
 * switch in every block 33x67x513 ran 20% slower on Zen 5. */
#define THF_DOT_COLUMNS(VT, VW, MR, COLS, EXTRA)                                            \
    {                                                                                       \
        for (i = 0; i < mb; i += (MR))                                                      \
            THF_DOT_BLOCKX(VT, VW, MR, COLS, EXTRA)                                         \
        for (; i < m; ++i)                                                                  \
            THF_DOT_BLOCKX(VT, VW, 1, COLS, EXTRA)                                          \
    }

/* Rows [i0, i0 + rows) (rows <= MR) of every column, in nblk column blocks
 * of near-equal width (thf_dot_col_width); fewer than MR rows go one at a
 * time. */
#define THF_DOT_ROWS(VT, VW, MR, i0, rows)                                                  \
    {                                                                                       \
        j = 0;                                                                              \
        for (ptrdiff_t b_ = 0; b_ < nblk; ++b_) {                                           \
            const int cols = thf_dot_col_width(n, nblk, 1, b_);                             \
            if (rows == (MR)) {                                                             \
                i = i0;                                                                     \
                THF_DOT_SWITCH_COLS(VT, VW, MR, cols)                                       \
            } else {                                                                        \
                for (i = i0; i < i0 + rows; ++i)                                            \
                    THF_DOT_SWITCH_COLS(VT, VW, 1, cols)                                    \
            }                                                                               \
            j += cols;                                                                      \
        }                                                                                   \
    }

/* One block of ROWS rows and `cols` columns at C[i, j]: up to NR (4) in
 * every build, 5 in the AVX-512 one (thf_dot_col_width;
 * a 4 x 5 block is 20 of its 32 registers, 25 with the vectors it loads). */
#define THF_DOT_SWITCH_COLS(VT, VW, ROWS, cols)                                             \
    {                                                                                       \
        switch (cols) {                                                                     \
        case 5:                                                                             \
            if ((VW) == 16) {                                                               \
                THF_DOT_BLOCKX(VT, VW, ROWS, 4, 1)                                          \
                break;                                                                      \
            }                                                                               \
            __builtin_unreachable();                                                        \
        case 4:                                                                             \
            THF_DOT_BLOCK(VT, VW, ROWS, 4)                                                  \
            break;                                                                          \
        case 3:                                                                             \
            THF_DOT_BLOCK(VT, VW, ROWS, 3)                                                  \
            break;                                                                          \
        case 2:                                                                             \
            THF_DOT_BLOCK(VT, VW, ROWS, 2)                                                  \
            break;                                                                          \
        default:                                                                            \
            THF_DOT_BLOCK(VT, VW, ROWS, 1)                                                  \
            break;                                                                          \
        }                                                                                   \
    }

/* The column blocks of a product: ceil(n / 4), or with `five` (the AVX-512
 * build, where a 4x5 block fits its registers) ceil(n / 5);
 * `thf_dot_col_width(n, nblk, even, b)` is the b-th's width: with `even`,
 * near-equal widths (10 columns in 3 blocks as 4 + 3 + 3), else 4s and a
 * narrower last block. The thin path (n <= 16) always takes near-equal
 * widths, in blocks of 5 in the AVX-512 build where n is not a multiple of
 * 4; the wide one takes 4s, or near-equal fives at k >= THF_DOT_WIDE5_K (see
 * there). A thin output layer of 10 columns went as 4 + 4 + 2, the last
 * block doing 8 multiply-adds per 6 vector loads with too few chains to
 * fill the FMA pipes, and every block re-reading the rows of A.
 * - AVX-512, 5 + 5: 9 loads per 20 multiply-adds, A read twice. On one Zen 5
 *   core, side by side with 4 + 4 + 2: 128x512x10 5.5-6.3 us against 6.7-7.0,
 *   600x288x9 (5 + 4) 13.0-14.0 against 15.5-16.1, 128x512x13 (5 + 4 + 4)
 *   7.1-7.6 against 7.8-8.0; 32x64x10 and 256x288x10 within 2%.
 * - AVX2 (3-row blocks; 16 registers hold no 3 x 5), 4 + 3 + 3: on one Zen 3
 *   core (AMD EPYC family 25), the same kernel built both ways, 4 runs each
 *   alternating: 128x512x10 49-80 GFLOP/s against 37-58, 600x288x9 (3 + 3 + 3
 *   against 4 + 4 + 1) 53-73 against 36-55, 128x288x10 52-56 against 40-42.
 * (The bits do not depend on the blocks: see the top of this file.) */
static inline ptrdiff_t thf_dot_col_blocks(ptrdiff_t n, int five)
{
    return five ? (n + 4) / 5 : (n + 3) / 4;
}

static inline int thf_dot_col_width(ptrdiff_t n, ptrdiff_t nblk, int even, ptrdiff_t b)
{
    if (even)
        return (int)(n / nblk + (b < n % nblk));
    return b < nblk - 1 || n % 4 == 0 ? 4 : (int)(n % 4);
}

/* Vectors read along k split across two cache lines whenever a row does not
 * start on a 64-byte boundary, and NumPy's allocator gives 16. On one Zen 5
 * core, 128x784x512 ran at 261 GFLOP/s with both operands on a boundary, 247-257
 * with either one off, 201 with both (thin 128x512x10: 260, 203-231, 181).
 * So when both are off, W's rows are copied to `scratch` (64-byte aligned,
 * rows padded to 16 floats) where they fit: each block of NR of them (all of
 * W in a thin product), read by every row block. At 64 rows or more that
 * gave 201 -> 233-247 GFLOP/s; with fewer rows the copy costs more than it
 * saves (32x784x64: 197 either way), and copying A's row blocks in a thin
 * product cost more than it saved too. The AVX2 build (8-float vectors, a
 * split on every other load) copies only in a thin product: there the copy
 * gave 74 -> 90 GFLOP/s at 128x512x10, in a wide one it cost 2.5%. The
 * values and their lanes along k are the same, so are the bits. A block
 * reads W's row j at w_at + (j - w_j0) * w_ld: W itself or its copy (a
 * block of 5 rows in the AVX-512 build's wide products at long k). */
#define THF_DOT_SCRATCH 8192 /* floats: 32 KiB on the stack */
#define THF_DOT_COPY_ROWS 64  /* copy W only for products of at least this many rows */

static inline int thf_dot_aligned(const float *p, ptrdiff_t ld)
{
    return ((uintptr_t)p & 63) == 0 && (ld & 15) == 0;
}

/* Copy `rows` rows of k floats at src (ld apart) to dst, rows kp apart. */
static inline void thf_dot_copy_rows(float *dst, ptrdiff_t kp, const float *src, ptrdiff_t ld,
                                     ptrdiff_t rows, ptrdiff_t k)
{
    for (ptrdiff_t r = 0; r < rows; ++r)
        memcpy(dst + r * kp, src + r * ld, (size_t)k * sizeof(float));
}

/* Column blocks of NR (W's rows stay in L1 while A's rows stream past), then
 * the last n % NR columns as one narrower block: a thin output layer (10
 * columns) spent a fifth of its work on its last 2 columns, one at a time,
 * loading 5 vectors per 4 multiply-adds. (Each element's lanes are folded
 * the same way in any block shape: the bits do not change with it.)
 *
 * The AVX-512 build's wide products with k >= THF_DOT_WIDE5_K go in ceil(n /
 * 5) column blocks of 4 or 5 (4x5 blocks: 9 loads per 20 multiply-adds, and
 * a fifth fewer passes over A's rows). Measured on one Zen 5 core, the same
 * process switching between the two plans: 128x784x512 221 -> 236 GFLOP/s,
 * 128x512x512 220 -> 234, 32x784x64 190 -> 205, 256x1024x64 210 -> 227,
 * 128x512x17 194 -> 225 (5-8% on 2 threads, 16% at n = 17). At shorter k
 * the fifth column's own folds and stores weigh more: 64x96x288 lost 14%,
 * 32x288x288 3-6%, 128x128x128 3%, and at k = 288 the gain was 8-9% only at
 * 64 rows and more; those keep blocks of 4. (Compare builds with care: the
 * 4-column path of 64x288x288, its source unchanged, ran at 211-214 GFLOP/s
 * in one build and 245 in the next, from code placement alone.) */
#define THF_DOT_WIDE5_K 512
#define THF_DOT_KERNEL(NAME, ATTR, VT, VW, MR, NR)                                         \
    ATTR static void NAME(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *A, \
                          ptrdiff_t lda, const float *W, ptrdiff_t ldw, float beta, float *C, \
                          ptrdiff_t ldc)                                                    \
    {                                                                                       \
        float scratch[THF_DOT_SCRATCH] __attribute__((aligned(64)));                        \
        const ptrdiff_t mb = m - m % (MR);                                                  \
        const ptrdiff_t kp = (k + 15) / 16 * 16;                                            \
        const float *w_at = W;                                                              \
        ptrdiff_t w_ld = ldw, w_j0 = 0;                                                     \
        ptrdiff_t i, j;                                                                     \
        const int misaligned = !thf_dot_aligned(A, lda) && !thf_dot_aligned(W, ldw) &&     \
                               m >= THF_DOT_COPY_ROWS;                                      \
        if (n <= 4 * (NR)) { /* thin: a block of A's rows meets all of W (in L1) */         \
            if (misaligned && n * kp <= THF_DOT_SCRATCH) {                                  \
                thf_dot_copy_rows(scratch, kp, W, ldw, n, k);                               \
                w_at = scratch;                                                             \
                w_ld = kp;                                                                  \
            }                                                                               \
            const int five = (VW) == 16 && n % 4 != 0;                                      \
            const ptrdiff_t nblk = thf_dot_col_blocks(n, five);                             \
            for (ptrdiff_t i0 = 0; i0 < m; i0 += (MR)) {                                    \
                const ptrdiff_t rows = m - i0 < (MR) ? m - i0 : (MR);                       \
                THF_DOT_ROWS(VT, VW, MR, i0, rows)                                          \
            }                                                                               \
            return;                                                                         \
        }                                                                                   \
        const int five = (VW) == 16 && k >= THF_DOT_WIDE5_K;                                \
        const ptrdiff_t nblk = thf_dot_col_blocks(n, five);                                 \
        const int copy_w = misaligned && (VW) == 16 && ((NR) + five) * kp <= THF_DOT_SCRATCH; \
        j = 0;                                                                              \
        for (ptrdiff_t b = 0; b < nblk; ++b) {                                              \
            const int cols = thf_dot_col_width(n, nblk, five, b);                           \
            if (copy_w) {                                                                   \
                thf_dot_copy_rows(scratch, kp, W + j * ldw, ldw, cols, k);                  \
                w_at = scratch;                                                             \
                w_ld = kp;                                                                  \
                w_j0 = j;                                                                   \
            }                                                                               \
            if (cols == (NR)) {                                                             \
                THF_DOT_COLUMNS(VT, VW, MR, NR, 0)                                          \
            } else if ((VW) == 16 && cols == (NR) + 1) {                                    \
                THF_DOT_COLUMNS(VT, VW, MR, NR, 1)                                          \
            } else {                                                                        \
                for (i = 0; i < mb; i += (MR))                                              \
                    THF_DOT_SWITCH_COLS(VT, VW, MR, cols)                                   \
                for (; i < m; ++i)                                                          \
                    THF_DOT_SWITCH_COLS(VT, VW, 1, cols)                                    \
            }                                                                               \
            j += cols;                                                                      \
        }                                                                                   \
    }

/* Rows per block of each build; every build takes 4 columns per block (the
 * AVX-512 one 5 where thf_dot_col_width says). */
#define THF_DOT_MR_V4 4
#define THF_DOT_MR_V3 3
#define THF_DOT_MR_BASE 2
#define THF_DOT_NR 4

#ifdef THF_VEC_DISPATCH
THF_DOT_KERNEL(thf_dot_v4, THF_VEC_V4, thf_f32x16, 16, THF_DOT_MR_V4, THF_DOT_NR)
THF_DOT_KERNEL(thf_dot_v3, THF_VEC_V3, thf_f32x8, 8, THF_DOT_MR_V3, THF_DOT_NR)
#endif
THF_DOT_KERNEL(thf_dot_base, , thf_f32x4, 4, THF_DOT_MR_BASE, THF_DOT_NR)

/* The multiples of rows and of columns at which tiles of C must start, for
 * the build that runs: its MR and NR. */
static inline ptrdiff_t thf_dot_block_rows(void)
{
    const int isa = thf_vec_isa_now();
    return isa == 4 ? THF_DOT_MR_V4 : isa == 3 ? THF_DOT_MR_V3 : THF_DOT_MR_BASE;
}

static inline ptrdiff_t thf_dot_block_cols(void)
{
    return THF_DOT_NR;
}

/* C (m x n, rows ldc apart) := alpha * A @ W^T + beta * C, with A (m x k)
 * and W (n x k) row-major, rows lda and ldw apart. */
static void thf_sgemm_dot(ptrdiff_t m, ptrdiff_t n, ptrdiff_t k, float alpha, const float *A,
                          ptrdiff_t lda, const float *W, ptrdiff_t ldw, float beta, float *C,
                          ptrdiff_t ldc)
{
#ifdef THF_VEC_DISPATCH
    int isa = thf_vec_isa_now();
    if (isa == 4) {
        thf_dot_v4(m, n, k, alpha, A, lda, W, ldw, beta, C, ldc);
        return;
    }
    if (isa == 3) {
        thf_dot_v3(m, n, k, alpha, A, lda, W, ldw, beta, C, ldc);
        return;
    }
#endif
    thf_dot_base(m, n, k, alpha, A, lda, W, ldw, beta, C, ldc);
}

#endif /* THF_DOT_GEMM_H */
