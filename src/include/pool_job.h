/* The one way thinc_fast's kernels run a loop on the worker pool
 * (worker_pool.h): a job.
 *
 * A job is one loop over [0, n) (values, rows, sequences or table rows) and a
 * `range` function that runs it over [lo, hi); thf_job_chunk cuts it into
 * `nparts` chunks that thf_pool_run hands to the calling thread and the pool's
 * workers, one chunk at a time: a worker the OS has not scheduled yet never
 * stalls the caller, which then takes the remaining chunks itself. Chunk c
 * covers [bounds[c], bounds[c + 1]) when `bounds` is set (sequences balanced
 * by rows), else an equal share of [0, n) with inner boundaries rounded down
 * to a multiple of `align`. The adapters (seq_loops.h, fma_peak.h, the
 * optimizer steps of stream_kernels.pyx) map the job's fields onto each
 * loop's arguments; a loop whose arguments do not fit the generic fields
 * takes its own record through `ctx`.
 *
 * No state here: any extension module may include it (the pool itself, with
 * its threads, lives in one module only).
 */
#ifndef THF_POOL_JOB_H
#define THF_POOL_JOB_H

#include <stddef.h>
#include <stdint.h>

#ifndef THF_IDX_DEFINED
#define THF_IDX_DEFINED
typedef ptrdiff_t thf_idx;
#endif

#define THF_POOL_MAX_CHUNKS 4095  /* chunks of one job (12 bits of the pool's job word) */
#define THF_POOL_MAX_HELPERS 255  /* worker threads (8 bits) */

typedef struct thf_job thf_job;
typedef void (*thf_range_fn)(const thf_job *j, thf_idx lo, thf_idx hi);
struct thf_job {
    thf_range_fn range;
    thf_idx n;
    int nparts;
    thf_idx align;
    const int64_t *bounds;
    void *dst, *dst2;
    const void *src, *src2, *src3;
    const int64_t *offs;
    thf_idx nseq;
    thf_idx s0, s1, s2; /* sizes, per adapter */
    int flag;          /* mean, activation kind, n-gram width, vector width */
    uint32_t seed;
    float p[4];
    const void *ctx;   /* an adapter's own record of arguments */
};

/* One chunk of a job (the pool's chunk function: ctx is the thf_job). */
static void thf_job_chunk(void *ctx, int chunk)
{
    const thf_job *j = (const thf_job *)ctx;
    thf_idx lo, hi;
    if (j->bounds != NULL) {
        lo = j->bounds[chunk];
        hi = j->bounds[chunk + 1];
    } else {
        lo = (thf_idx)chunk * j->n / j->nparts;
        hi = (thf_idx)(chunk + 1) * j->n / j->nparts;
        if (j->align > 1) {
            lo -= lo % j->align;
            if (chunk + 1 < j->nparts)
                hi -= hi % j->align;
        }
    }
    if (hi > lo)
        j->range(j, lo, hi);
}

#endif /* THF_POOL_JOB_H */
