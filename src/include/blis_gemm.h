/* sgemm through blis with a kernel configuration chosen per product, split
 * over the cores by worker_pool.h.
 *
 * blis picks one kernel configuration ("context") for the process when it
 * initialises, but it builds the context of every configuration compiled into
 * the library (bli_gks_init registers them all), and its expert interface
 * takes a context per call. So on an AVX-512 CPU one process can run the large
 * products on the "skx" context (AVX-512 panels) and the thin ones on
 * "haswell" (AVX2, with blis's small/skinny "sup" kernels, which skx lacks).
 *
 * The declarations below are blis's own, as blis.h of cython-blis 1.0.x
 * (BLIS 0.9.0) and 1.3.x (BLIS 0.7.0) declare them (BSD-3-Clause): the typed
 * expert gemm, the context registry and the version query; both versions
 * declare the functions used here alike. The header is not shipped in the wheel, and
 * the functions live in the already-loaded `blis.cy` extension, which Python
 * loaded with local symbol visibility, so their addresses are looked up in
 * that library (by _blis_arch, with ctypes) and every call goes through the
 * typed pointers declared here. thf_blis_attach() refuses any
 * library whose version string or integer size it was not written for, and
 * thf_blis_context() checks that a configuration was registered before it
 * reads its context (bli_gks_lookup_nat_cntx reads gks[id][0] without a
 * check: an unregistered id, or a call before blis initialised, is a crash).
 */
#ifndef THF_BLIS_H
#define THF_BLIS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dot_gemm.h"
#include "smallk_gemm.h"
#include "worker_pool.h"
#include "adapt_split.h"

/* ---- blis.h (BLIS 0.9.0 / 0.7.0 as built by cython-blis 1.0.x / 1.3.x), the parts used ---- */
typedef int64_t thf_dim_t;      /* dim_t = gint_t, 64-bit in cython-blis builds */
typedef int64_t thf_inc_t;      /* inc_t */
typedef int thf_trans_t;        /* enum trans_t: BLIS_NO_TRANSPOSE = 0x0 */
typedef int thf_arch_t;         /* enum arch_t */
#define THF_BLIS_NAT 1          /* enum ind_t { BLIS_1M = 0, BLIS_NAT } */
typedef struct thf_cntx_s thf_cntx_t; /* cntx_t: used only through pointers */
typedef struct thf_rntm_s thf_rntm_t; /* rntm_t: always NULL here (blis's defaults) */

/* void bli_sgemm_ex(trans_t transa, trans_t transb, dim_t m, dim_t n, dim_t k,
 *                   float* alpha, float* a, inc_t rs_a, inc_t cs_a,
 *                   float* b, inc_t rs_b, inc_t cs_b, float* beta,
 *                   float* c, inc_t rs_c, inc_t cs_c, cntx_t* cntx, rntm_t* rntm); */
typedef void (*thf_bli_sgemm_ex_ft)(thf_trans_t, thf_trans_t, thf_dim_t, thf_dim_t, thf_dim_t,
                                   float *, float *, thf_inc_t, thf_inc_t, float *, thf_inc_t,
                                   thf_inc_t, float *, float *, thf_inc_t, thf_inc_t, thf_cntx_t *,
                                   thf_rntm_t *);
typedef void (*thf_bli_init_once_ft)(void);                  /* void bli_init_once(void) */
/* cntx_t** bli_gks_lookup_id(arch_t): exported by BLIS 0.9.0, not by 0.7.0, whose
 * bli_gks_init registers every configuration compiled in (so a configuration
 * whose bli_cntx_init_<name> the library exports is registered there). */
typedef thf_cntx_t **(*thf_bli_gks_lookup_id_ft)(thf_arch_t);
typedef thf_cntx_t *(*thf_bli_gks_lookup_nat_cntx_ft)(thf_arch_t); /* cntx_t* bli_gks_lookup_nat_cntx(arch_t) */
typedef char *(*thf_bli_info_str_ft)(void);                  /* char* bli_info_get_version_str(void) */
typedef int64_t (*thf_bli_info_int_ft)(void);                /* gint_t bli_info_get_int_type_size(void) */
typedef void (*thf_bli_rntm_init_ft)(thf_rntm_t *);          /* void bli_rntm_init_from_global(rntm_t*) */
/* rntm_t of BLIS 0.9.0 (64-bit dim_t): bool auto_factor; dim_t num_threads;
 * dim_t thrloop[6]; bool pack_a, pack_b, l3_sup; 72 bytes (some builds of
 * the 0.9 line add two pointers after). l3_sup false makes bli_gemm_ex skip
 * the small/skinny ("sup") path and run the packed kernels. */
#define THF_RNTM_BYTES 256
#define THF_RNTM_L3_SUP 66
/* -------------------------------------------------------------------------- */

/* A plain gemm on the default context (blis.cy's gemm, passed in from Cython):
 * the path when the expert interface is not available. */
typedef void (*thf_sgemm_plain_ft)(thf_dim_t m, thf_dim_t n, thf_dim_t k, float alpha,
                                  const float *A, thf_inc_t rsa, thf_inc_t csa, const float *B,
                                  thf_inc_t rsb, thf_inc_t csb, float beta, float *C, thf_inc_t rsc,
                                  thf_inc_t csc);

/* What the gemm uses: set once at import, read by every call. */
static struct thf_blis_state_s {
    thf_bli_sgemm_ex_ft sgemm_ex;   /* NULL: call `plain` instead */
    thf_bli_gks_lookup_id_ft lookup_id;
    thf_bli_gks_lookup_nat_cntx_ft lookup_nat;
    thf_bli_init_once_ft init_once;
    thf_sgemm_plain_ft plain;
    thf_cntx_t *large;   /* context for large products (NULL: blis's own choice) */
    thf_cntx_t *thin;    /* context for thin/small products (NULL: same as large) */
    /* A product goes to `thin` when one of its dimensions is below these, or
     * when both its columns and its rows are below the `mid` pair, or when it
     * is smaller than thin_flops (the rules per CPU: _blis_arch.THIN_RULES); decided
     * once for the whole product, never per tile, so that the kernel (and so
     * the rounding) does not depend on the thread count. "Rows" and "columns"
     * are those of C as stored: columns run along C's contiguous direction (n
     * for a row-major C, m for a column-major one), since blis lays its
     * kernels out by it. */
    thf_dim_t thin_rows;
    thf_dim_t thin_cols;
    thf_dim_t thin_k;
    thf_dim_t mid_rows;
    thf_dim_t mid_cols;
    double thin_flops;  /* and every product of fewer flops (2 m n k) than this */
    int force;          /* tests/benchmarks: 0 per shape, 1 large, 2 thin, 3 blis default */
    /* Products of at most dot_rows rows, with k >= dot_k and k >= dot_k_per_row
     * times the rows, whose A and B^T are both contiguous along k and whose C
     * is row-major go to thf_sgemm_dot (dot_gemm.h) instead of blis; dot_rows
     * 0: never (the rules per CPU). */
    thf_dim_t dot_rows;
    thf_dim_t dot_k;
    thf_dim_t dot_k_per_row;
    thf_dim_t dot_cols; /* and, whatever their rows, those of at most dot_cols columns
                         * (and k >= dot_k): a thin output layer; 0: never */
    /* Products with B and C contiguous along n, at least smallk_cols
     * columns, and k <= smallk_k, or at most smallk_rows rows with A
     * contiguous along k (an input gradient dY @ W), or at most
     * smallk_trans_rows rows and k <= smallk_trans_k, or m * k at most
     * smallk_trans_area (A strided: a weight gradient dY^T @ X), go to
     * thf_sgemm_smallk (smallk_gemm.h) instead of blis; 0: never (the
     * rules per CPU). */
    thf_dim_t smallk_k;
    thf_dim_t smallk_cols;
    thf_dim_t smallk_rows;
    thf_dim_t smallk_trans_rows;
    thf_dim_t smallk_trans_k;
    thf_dim_t smallk_trans_area;
    /* The runtime large products run with: blis's defaults but its
     * small/skinny path off (NULL: blis's defaults; see thf_blis_nosup_init). */
    thf_rntm_t *nosup;
} thf_blis = {0, 0, 0, 0, 0, 0, 0, 100, 32, 16, 256, 100, 0.0, 0, 0, 256, 8, 0, 0, 16, 0, 0, 0, 0};

/* What kind of kernel a product runs on (decided once for the whole product). */
enum { THF_GEMM_LARGE = 0, THF_GEMM_THIN = 1, THF_GEMM_DOT = 2, THF_GEMM_SMALLK = 3 };

/* Why large products run with sup off. BLIS 0.9.0 sends a product down its
 * small/skinny path when one of m, n, k is under its configuration's
 * thresholds (float: the AVX2 configurations haswell and zen*, ~200-500), and
 * those kernels pick edge cases and loop variants from the shape they are
 * given. A tile of a split product can then take the other path, or the same
 * path with other edges, than the whole: on the haswell context 32x784x64,
 * 60x512x512, 40x300x200 and 700x288x288 gave other bits on 2 threads than on
 * 1 (up to 4e-5 apart). The packed kernels compute every element of C as the
 * same chain over k whatever the tiling. So a product the thin rules leave to
 * the large context runs on the packed kernels, whole or in tiles, and thin
 * ones run whole on one thread (thf_sgemm_threads). BLIS 0.7.0 (blis 1.3.x)
 * has no float sup thresholds on these configurations: nothing to turn off. */
static unsigned char thf_rntm_nosup_buf[THF_RNTM_BYTES] __attribute__((aligned(16)));

/* Fill the runtime from blis's global one, check that it has 0.9.0's layout,
 * turn sup off; 0 when it did, -1 when the layout is not the one expected
 * (then thf_blis.nosup stays NULL and large products keep blis's defaults). */
static int thf_blis_nosup_init(thf_bli_rntm_init_ft init_from_global)
{
    unsigned char *b = thf_rntm_nosup_buf;
    memset(b, 0xA5, sizeof(thf_rntm_nosup_buf));
    init_from_global((thf_rntm_t *)b);
    if (b[0] > 1 || b[64] > 1 || b[65] > 1 || b[THF_RNTM_L3_SUP] > 1)
        return -1;
    for (int i = 0; i < 7; ++i) { /* num_threads and the six loops' ways: -1 or a count */
        int64_t v;
        memcpy(&v, b + 8 + 8 * i, sizeof(v));
        if (v != -1 && (v < 1 || v > 65536))
            return -1;
    }
    int tail_untouched = 1, tail_zero = 1; /* 72 bytes, or 72 and two NULL pointers */
    for (int i = 72; i < 88; ++i) {
        tail_untouched &= b[i] == 0xA5;
        tail_zero &= b[i] == 0;
    }
    if (!tail_untouched && !tail_zero)
        return -1;
    for (int i = 88; i < THF_RNTM_BYTES; ++i)
        if (b[i] != 0xA5)
            return -1;
    b[THF_RNTM_L3_SUP] = 0;
    thf_blis.nosup = (thf_rntm_t *)b;
    return 0;
}

/* Attach blis's expert interface from the addresses of its functions (looked
 * up by _blis_arch with ctypes in the loaded blis.cy library; a dlopen/dlsym
 * here would raise the wheels' glibc floor to 2.34). Order: bli_sgemm_ex,
 * bli_init_once, bli_gks_lookup_id, bli_gks_lookup_nat_cntx,
 * bli_info_get_version_str, bli_info_get_int_type_size, bli_rntm_init_from_global
 * (bli_gks_lookup_id may be 0: BLIS 0.7.0 does not export it, and the caller
 * then checks that a configuration is compiled in before asking for its
 * context; bli_rntm_init_from_global may be 0: sup stays as blis has it). Returns 0 on
 * success, else a negative code and leaves the plain path in place: -2 a
 * function missing, -3 another BLIS version, -4 not 64-bit integers. */
static int thf_blis_attach(const uintptr_t *fns, const char *expected_version)
{
    for (int i = 0; i < 6; ++i)
        if (fns[i] == 0 && i != 2)
            return -2;
    const char *v = ((thf_bli_info_str_ft)fns[4])();
    if (v == NULL || strcmp(v, expected_version) != 0)
        return -3;
    if (((thf_bli_info_int_ft)fns[5])() != 64)
        return -4;
    thf_blis.init_once = (thf_bli_init_once_ft)fns[1];
    thf_blis.lookup_id = (thf_bli_gks_lookup_id_ft)fns[2];
    thf_blis.lookup_nat = (thf_bli_gks_lookup_nat_cntx_ft)fns[3];
    thf_blis.init_once();
    if (strcmp(v, "0.9.0") == 0 && fns[6] != 0)
        thf_blis_nosup_init((thf_bli_rntm_init_ft)fns[6]);
    thf_blis.sgemm_ex = (thf_bli_sgemm_ex_ft)fns[0];
    return 0;
}

/* The native context of configuration `arch` (an arch_t value), or NULL when
 * the expert interface is not loaded or the configuration is not registered.
 * Without bli_gks_lookup_id (BLIS 0.7.0) the caller vouches that `arch` is
 * compiled in (_blis_arch.gemm_plan only names configurations whose
 * bli_cntx_init_<name> the library exports). */
static thf_cntx_t *thf_blis_context(int arch)
{
    if (thf_blis.sgemm_ex == NULL || arch < 0 || arch >= 64)
        return NULL;
    if (thf_blis.lookup_id != NULL) {
        thf_cntx_t **registered = thf_blis.lookup_id(arch); /* gks[arch]: one per ind_t */
        if (registered == NULL || registered[THF_BLIS_NAT] == NULL)
            return NULL;
    }
    return thf_blis.lookup_nat(arch);
}

/* Which context serves an m x n x k product whose C has column stride csc:
 * 0 large, 1 thin. */
static inline int thf_blis_is_thin(thf_dim_t m, thf_dim_t n, thf_dim_t k, thf_inc_t csc)
{
    if (thf_blis.force == 1) return 0;
    if (thf_blis.force == 2) return 1;
    thf_dim_t rows = csc == 1 ? m : n, cols = csc == 1 ? n : m;
    return rows < thf_blis.thin_rows || cols < thf_blis.thin_cols || k < thf_blis.thin_k ||
           (cols < thf_blis.mid_cols && rows < thf_blis.mid_rows) ||
           2.0 * (double)m * (double)n * (double)k < thf_blis.thin_flops;
}

static inline int thf_blis_is_dot(thf_dim_t m, thf_dim_t n, thf_dim_t k, thf_inc_t csa,
                                  thf_inc_t rsb, thf_inc_t csc)
{
    return thf_blis.force == 0 && csa == 1 && rsb == 1 && csc == 1 && k >= thf_blis.dot_k &&
           ((m <= thf_blis.dot_rows && k >= thf_blis.dot_k_per_row * m) ||
            n <= thf_blis.dot_cols);
}

static inline int thf_blis_is_smallk(thf_dim_t m, thf_dim_t n, thf_dim_t k, thf_inc_t csa,
                                     thf_inc_t csb, thf_inc_t csc)
{
    return thf_blis.force == 0 && n >= thf_blis.smallk_cols && csb == 1 && csc == 1 &&
           (k <= thf_blis.smallk_k ||
            (csa == 1 && m <= thf_blis.smallk_rows) ||
            (m <= thf_blis.smallk_trans_rows && k <= thf_blis.smallk_trans_k) ||
            m * k <= thf_blis.smallk_trans_area);
}

static inline int thf_gemm_kind(thf_dim_t m, thf_dim_t n, thf_dim_t k, thf_inc_t csa,
                                thf_inc_t rsb, thf_inc_t csb, thf_inc_t csc)
{
    if (thf_blis_is_dot(m, n, k, csa, rsb, csc))
        return THF_GEMM_DOT;
    if (thf_blis_is_smallk(m, n, k, csa, csb, csc))
        return THF_GEMM_SMALLK;
    return thf_blis_is_thin(m, n, k, csc) ? THF_GEMM_THIN : THF_GEMM_LARGE;
}

/* C := alpha * A @ B + beta * C on one thread through blis: on the thin
 * context (`kind` THF_GEMM_THIN, when one is loaded) or the large one, or by
 * blis's plain gemm when its expert interface is missing. Counted in and out
 * for fork() (fork_guard.h). Not inlined: the dot and short-k kernels' callers
 * keep the code they had without it. */
static __attribute__((noinline)) void thf_sgemm_blis(int kind, thf_dim_t m, thf_dim_t n,
                                                     thf_dim_t k, float alpha, const float *A,
                                                     thf_inc_t rsa, thf_inc_t csa, const float *B,
                                                     thf_inc_t rsb, thf_inc_t csb, float beta,
                                                     float *C, thf_inc_t rsc, thf_inc_t csc)
{
    thf_blis_enter();
    if (thf_blis.sgemm_ex == NULL || thf_blis.force == 3) {
        thf_blis.plain(m, n, k, alpha, A, rsa, csa, B, rsb, csb, beta, C, rsc, csc);
    } else {
        thf_cntx_t *cntx = thf_blis.large;
        thf_rntm_t *rntm = thf_blis.nosup; /* large: the packed kernels, whatever the tile */
        if (kind == THF_GEMM_THIN) {
            rntm = NULL; /* thin: blis's defaults, the whole product on one thread */
            if (thf_blis.thin != NULL)
                cntx = thf_blis.thin;
        }
        thf_blis.sgemm_ex(0, 0, m, n, k, &alpha, (float *)A, rsa, csa, (float *)B, rsb, csb, &beta,
                          C, rsc, csc, cntx, rntm);
    }
    thf_blis_leave();
}

/* C := alpha * A @ B + beta * C on one thread: by dot products (`kind`
 * THF_GEMM_DOT), by the short-k kernel (THF_GEMM_SMALLK) or through blis. */
static void thf_sgemm_tile_on(int kind, thf_dim_t m, thf_dim_t n, thf_dim_t k, float alpha,
                             const float *A, thf_inc_t rsa, thf_inc_t csa, const float *B,
                             thf_inc_t rsb, thf_inc_t csb, float beta, float *C, thf_inc_t rsc,
                             thf_inc_t csc)
{
    if (kind == THF_GEMM_DOT) {
        thf_sgemm_dot(m, n, k, alpha, A, rsa, B, csb, beta, C, rsc);
        return;
    }
    if (kind == THF_GEMM_SMALLK) {
        thf_sgemm_smallk(m, n, k, alpha, A, rsa, csa, B, rsb, beta, C, rsc);
        return;
    }
    thf_sgemm_blis(kind, m, n, k, alpha, A, rsa, csa, B, rsb, csb, beta, C, rsc, csc);
}

/* C := alpha * A @ B + beta * C on one thread, on the context the shape asks for. */
static void thf_sgemm_tile(thf_dim_t m, thf_dim_t n, thf_dim_t k, float alpha, const float *A,
                          thf_inc_t rsa, thf_inc_t csa, const float *B, thf_inc_t rsb, thf_inc_t csb,
                          float beta, float *C, thf_inc_t rsc, thf_inc_t csc)
{
    thf_sgemm_tile_on(thf_gemm_kind(m, n, k, csa, rsb, csb, csc), m, n, k, alpha, A, rsa, csa, B,
                      rsb, csb, beta, C, rsc, csc);
}

/* ---- the split over threads ---- */

typedef struct {
    thf_dim_t m, n, k;
    float alpha, beta;
    const float *A;
    thf_inc_t rsa, csa;
    const float *B;
    thf_inc_t rsb, csb;
    float *C;
    thf_inc_t rsc, csc;
    thf_dim_t mt, nt; /* tile height and width */
    int pm, pn;      /* tiles down and across */
    int thin;        /* the kernel kind, chosen once for the whole product: a tile's own
                      * shape could pick another one, whose kernels round
                      * differently, and the result would depend on the thread count */
} thf_gemm_job;

static void thf_gemm_chunk(void *ctx, int i)
{
    const thf_gemm_job *j = (const thf_gemm_job *)ctx;
    thf_dim_t m0 = (thf_dim_t)(i / j->pn) * j->mt, n0 = (thf_dim_t)(i % j->pn) * j->nt;
    thf_dim_t mm = j->m - m0 < j->mt ? j->m - m0 : j->mt;
    thf_dim_t nn = j->n - n0 < j->nt ? j->n - n0 : j->nt;
    if (mm <= 0 || nn <= 0)
        return;
    thf_sgemm_tile_on(j->thin, mm, nn, j->k, j->alpha, j->A + m0 * j->rsa, j->rsa, j->csa,
                  j->B + n0 * j->csb, j->rsb, j->csb, j->beta, j->C + m0 * j->rsc + n0 * j->csc,
                  j->rsc, j->csc);
}

/* The whole product of a job on the calling thread (its tiling ignored). */
static void thf_gemm_whole(void *ctx)
{
    const thf_gemm_job *j = (const thf_gemm_job *)ctx;
    thf_sgemm_tile_on(j->thin, j->m, j->n, j->k, j->alpha, j->A, j->rsa, j->csa, j->B, j->rsb,
                      j->csb, j->beta, j->C, j->rsc, j->csc);
}

static inline thf_dim_t thf_ceil_to(thf_dim_t x, thf_dim_t q) { return (x + q - 1) / q * q; }

/* Tiling knobs (set from Python for measurements; defaults below). */
static struct thf_split_state_s {
    double min_flops;      /* below this, one thread */
    double chunk_flops;    /* aim for tiles of at least this much work... */
    int chunks_per_thread; /* ...and up to this many tiles per thread when the workers
                            * sleep (one per thread while they spin: see thf_gemm_plan) */
    thf_dim_t align;        /* tile edges at multiples of this */
    int adaptive;          /* split only where splitting measured faster (below) */
} thf_split = {1 << 20, 4e6, 2, 16, 1};

/* The cost, in flop-equivalents, of computing an mt x nt tile of an m x n x k
 * product: its multiply-adds, packing its panels of A and B, and a fixed
 * per-call overhead. Used only to compare tilings of one product. */
static inline double thf_tile_cost(thf_dim_t mt, thf_dim_t nt, thf_dim_t k)
{
    return 2.0 * (double)mt * (double)nt * (double)k + 16.0 * (double)k * (double)(mt + nt) + 1e5;
}

/* Plan the tiles of an m x n x k product for `nthreads` threads; each tile
 * is one single-threaded blis call, and the threads take tiles in turn.
 *
 * Aim at nthreads x r tiles. r = 1 while the workers spin (they take their
 * tile within a microsecond, and fewer tiles pack fewer panels twice: on a
 * Xeon, 128x512x512 in 2 tiles ran at 194 GFLOP/s, in 4 at 177). When some
 * sleep, their wake-up takes tens of microseconds or more, so r is the largest
 * value up to `per_thread` that keeps tiles of at least chunk_flops: the
 * threads that run take over the share of one that starts late. The grid may cut one dimension or both:
 * both when one is too small to give every thread `align_m` rows or
 * `align_n` columns (tile edges fall at multiples of them).
 * Among the grids of about that many tiles that give every thread a tile, the
 * one with the smallest (rounds of tiles) x (tile cost) wins. */
static void thf_gemm_plan(thf_gemm_job *j, int nthreads, int per_thread, thf_dim_t align_m,
                          thf_dim_t align_n)
{
    thf_dim_t m = j->m, n = j->n, k = j->k;
    double flops = 2.0 * (double)m * (double)n * (double)k;
    j->pm = 1; j->pn = 1; j->mt = m; j->nt = n;
    if (nthreads <= 1 || flops < thf_split.min_flops)
        return;
    int r = per_thread;
    while (r > 1 && flops / ((double)nthreads * r) < thf_split.chunk_flops)
        --r;
    for (; r >= 1; --r) {
        int target = nthreads * r;
        if (target > THF_POOL_MAX_CHUNKS)
            continue;
        double best = 1e300;
        for (int pm = 1; pm <= target; ++pm) {
            int pn = (target + pm - 1) / pm;
            thf_dim_t mt = pm == 1 ? m : thf_ceil_to((m + pm - 1) / pm, align_m);
            thf_dim_t nt = pn == 1 ? n : thf_ceil_to((n + pn - 1) / pn, align_n);
            int rm = (int)((m + mt - 1) / mt), rn = (int)((n + nt - 1) / nt);
            int used = rm * rn;
            if (used < nthreads || used > THF_POOL_MAX_CHUNKS)
                continue; /* alignment left a thread without a tile */
            double rounds = (double)((used + nthreads - 1) / nthreads);
            double cost = rounds * thf_tile_cost(mt, nt, k);
            if (cost < best) {
                best = cost;
                j->pm = rm; j->pn = rn; j->mt = mt; j->nt = nt;
            }
        }
        if (best < 1e300)
            return;
    }
    /* Too small to give every thread a tile of `align`: as many tiles as fit. */
    int most = 1;
    for (int pm = 1; pm <= nthreads; ++pm) {
        int pn = (nthreads + pm - 1) / pm;
        thf_dim_t mt = pm == 1 ? m : thf_ceil_to((m + pm - 1) / pm, align_m);
        thf_dim_t nt = pn == 1 ? n : thf_ceil_to((n + pn - 1) / pn, align_n);
        int rm = (int)((m + mt - 1) / mt), rn = (int)((n + nt - 1) / nt);
        if (rm * rn > most && rm * rn <= THF_POOL_MAX_CHUNKS) {
            most = rm * rn;
            j->pm = rm; j->pn = rn; j->mt = mt; j->nt = nt;
        }
    }
}

/* C := alpha * A @ B + beta * C, split over up to `nthreads` threads. */
static void thf_sgemm_threads(thf_dim_t m, thf_dim_t n, thf_dim_t k, float alpha, const float *A,
                             thf_inc_t rsa, thf_inc_t csa, const float *B, thf_inc_t rsb,
                             thf_inc_t csb, float beta, float *C, thf_inc_t rsc, thf_inc_t csc,
                             int nthreads)
{
    thf_gemm_job j = {m, n, k, alpha, beta, A, rsa, csa, B, rsb, csb, C, rsc, csc, m, n, 1, 1,
                     thf_gemm_kind(m, n, k, csa, rsb, csb, csc)};
    /* A thin product runs whole on one thread, on the thin context or, when
     * there is none (an AVX2 CPU: every product on haswell or zen*), on the
     * large one with blis's defaults: blis's small/skinny code picks its
     * kernels (edge cases, loop variants) from the shape it is given, so a
     * tile of it can round differently from the whole and the result would
     * depend on the thread count (measured: 60x512x512 and 40x300x200 on the
     * haswell context differed by 5e-5 between 1 and 2 threads). Large
     * products run with sup off (thf_blis.nosup), so their tiles may split. */
    if (j.thin == THF_GEMM_THIN && thf_blis.sgemm_ex != NULL && thf_blis.force != 3)
        nthreads = 1;
    /* dot products: tile edges at multiples of the build's block (dot_gemm.h),
     * so that every element of C falls in the same kind of block whatever the
     * tiling */
    thf_dim_t align_m = thf_split.align, align_n = thf_split.align;
    if (j.thin == THF_GEMM_DOT) {
        align_m = thf_ceil_to(align_m, thf_dot_block_rows());
        align_n = thf_ceil_to(align_n, thf_dot_block_cols());
    }
    thf_gemm_plan(&j, nthreads, thf_pool_all_spinning(nthreads - 1) ? 1 : thf_split.chunks_per_thread,
                  align_m, align_n);
    int tiles = j.pm * j.pn;
    if (tiles <= 1) {
        thf_sgemm_tile_on(j.thin, m, n, k, alpha, A, rsa, csa, B, rsb, csb, beta, C, rsc, csc);
        return;
    }
    if (!thf_split.adaptive) {
        thf_pool_run(thf_gemm_chunk, &j, tiles, nthreads);
        return;
    }
    thf_adapt_run(j.thin == THF_GEMM_DOT      ? THF_ADAPT_GEMM_DOT
                  : j.thin == THF_GEMM_SMALLK ? THF_ADAPT_GEMM_SMALLK
                                              : THF_ADAPT_GEMM,
                  2.0 * (double)m * (double)n * (double)k, nthreads, thf_gemm_chunk,
                  thf_gemm_whole, &j, tiles);
}

#endif /* THF_BLIS_H */
