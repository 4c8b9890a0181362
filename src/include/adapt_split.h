/* Split over the threads or not, from measurement: for gemm's products
 * (blis_gemm.h) and for the loops that run on the pool as jobs (pool_job.h:
 * the optimizer steps, the sequence kernels).
 *
 * Why measure: on a VM the second vCPU is sometimes far from the first (the
 * 784-64-10 MLP at batch 32 on a 2-vCPU Zen 5 ran 0.29-0.30 s an epoch on 2
 * threads against 0.21-0.22 on one, for minutes at a time; at other times 0.15
 * against 0.21), or busy elsewhere; and a loop whose data sits in the caller's
 * cache pays to move half of it to another core and back. Fused Adam over
 * 50,000-400,000 values there: 1.2-1.7x slower on 2 threads than on one; over
 * 1 million and more, 1.25-1.5x faster. No fixed size threshold fits every
 * CPU and every phase of a VM.
 *
 * Each call that would be split times itself, and its class (the kind of work
 * x the power of two of its size: flops for gemm, values or rows for a loop,
 * per thread count) keeps a figure of nanoseconds per unit for "split" and
 * for "alone": a moving average for the way it runs, the mean of the last
 * burst for the other (thf_adapt_record); a call runs the way that is
 * faster, and once in THF_ADAPT_EXPLORE calls the other way, THF_ADAPT_BURST
 * calls in a row, so that a change is seen.
 *
 * Why bursts: a call's data sit in the caches of the way the calls before it
 * ran (split: each half in its core's cache; alone: all in the caller's). A
 * lone call the other way found its data in the wrong cache and measured
 * slower than that way runs, whichever way was current: each way looked best
 * while it ran, and a class could stay on the slower one for seconds. Seen
 * on the 2-vCPU Zen 5, 784-64-10 MLP at batch 32: epochs of 0.143 s with
 * every class alone, for 24 epochs in a row, then 0.108 s once they split.
 * So the first call of a burst, and the first call back after it, are not
 * timed into the averages; the others of the burst are. One burst in 256
 * calls spends as many calls the other way as one call in 64 did: with one
 * in 64, the 784-512-512-10 epoch (splits 2x faster there) lost 3-5%. The
 * result never depends on the choice: gemm's tiles compute every element in
 * the same order as the whole product, and every pool loop gives the same
 * bits on any number of chunks (both tested on 1 to 4 threads), so this changes
 * only speed. Races between threads calling at once can only blur an average.
 *
 * Kinds: gemm on blis, by dot products and with a short k, and one per pool loop (its range
 * function), registered on first use, up to THF_ADAPT_KINDS in all; loops
 * beyond that always split. Include worker_pool.h first.
 */
#ifndef THF_ADAPT_SPLIT_H
#define THF_ADAPT_SPLIT_H

#include <stdint.h>
#include <string.h>

#include "pool_job.h"

#define THF_ADAPT_CLASSES 64
#define THF_ADAPT_KINDS 16
#define THF_ADAPT_GEMM 0     /* gemm on blis's kernels */
#define THF_ADAPT_GEMM_DOT 1 /* gemm by dot products (dot_gemm.h) */
#define THF_ADAPT_GEMM_SMALLK 2 /* gemm with a short k (smallk_gemm.h) */
#define THF_ADAPT_FIRST_LOOP 3
#define THF_ADAPT_EXPLORE 256 /* one burst in this many calls tries the other way */
#define THF_ADAPT_BURST 4     /* calls in a row per try (the first not timed) */
#define THF_ADAPT_WARM 8     /* samples of each way before the averages decide */
#define THF_ADAPT_MARGIN 1.1 /* the other way must be this much faster to switch */
#define THF_ADAPT_UNHELPED 16 /* split calls no worker helped that go untimed, of a streak */

struct thf_adapt_class_s {
    double ns_per_flop[2]; /* [0]: alone, [1]: split (ns per unit of size: flops, values...) */
    unsigned samples[2];
    unsigned calls;
    int split;             /* the way ordinary calls go now */
    int threads;           /* the thread count the averages are for */
    unsigned unhelped;     /* split calls in a row that no worker helped */
    int last;              /* the way the previous call went (warming up) */
    unsigned burst;        /* timed calls so far of the current burst the other way */
};
static struct thf_adapt_class_s thf_adapt[THF_ADAPT_KINDS][THF_ADAPT_CLASSES];
/* The range function of each loop kind (THF_ADAPT_FIRST_LOOP on); NULL: free. */
static thf_range_fn thf_adapt_loop_fn[THF_ADAPT_KINDS];

/* The way ordinary calls of a class go after its averages changed: while
 * warming up (either way under THF_ADAPT_WARM samples), the two ways in turn,
 * a burst each (THF_ADAPT_BURST - 1 timed calls: see thf_adapt_timed), the
 * way with fewer samples next (split on a tie); then the current way `split`
 * unless the other is THF_ADAPT_MARGIN times faster. Warming up one call each
 * way in turn timed every call in the other way's caches: measured on the Zen
 * 5 at 256 bits, a 32x64x784 product of 27 us alone and 15 us split settled
 * alone in one start in three, and after every reset of the measurements,
 * then needed over a thousand calls of bursts to come back. Pure (tested
 * from Python). */
static inline int thf_adapt_settle(double alone, double split_avg, unsigned alone_samples,
                                   unsigned split_samples, int split)
{
    if (alone_samples < THF_ADAPT_WARM || split_samples < THF_ADAPT_WARM) {
        unsigned mine = split ? split_samples : alone_samples;
        if (mine % (THF_ADAPT_BURST - 1) != 0 && mine < THF_ADAPT_WARM)
            return split; /* finish this way's burst */
        return split_samples <= alone_samples;
    }
    if (split && alone * THF_ADAPT_MARGIN < split_avg)
        return 0;
    if (!split && split_avg * THF_ADAPT_MARGIN < alone)
        return 1;
    return split;
}

static inline int thf_adapt_warm(const struct thf_adapt_class_s *c)
{
    return c->samples[0] >= THF_ADAPT_WARM && c->samples[1] >= THF_ADAPT_WARM;
}

/* The way the class's `calls`-th call goes: its current way, the other for
 * the last THF_ADAPT_BURST calls of every THF_ADAPT_EXPLORE once warm. */
static inline int thf_adapt_way(const struct thf_adapt_class_s *c, unsigned calls)
{
    int exploring = calls % THF_ADAPT_EXPLORE >= THF_ADAPT_EXPLORE - THF_ADAPT_BURST;
    return thf_adapt_warm(c) && exploring ? !c->split : c->split;
}

/* Whether the `calls`-th call's time counts: not when it is the first of a
 * burst or the first back from one (its data are in the other way's caches);
 * while warming up, not when it goes the other way from the call before. */
static inline int thf_adapt_timed(const struct thf_adapt_class_s *c, unsigned calls)
{
    if (!thf_adapt_warm(c))
        return calls == 0 || c->split == c->last;
    unsigned r = calls % THF_ADAPT_EXPLORE;
    return !(r == THF_ADAPT_EXPLORE - THF_ADAPT_BURST || (r == 0 && calls > 0));
}

/* The average after one more sample `x`: the mean of the first
 * THF_ADAPT_WARM, then a moving average over about that many; a sample over
 * twice the average (a preemption, a page fault) counts as twice it. */
static inline double thf_adapt_update(double avg, unsigned samples, double x)
{
    if (samples > 0 && x > 2.0 * avg)
        x = 2.0 * avg;
    unsigned n = samples + 1 < THF_ADAPT_WARM ? samples + 1 : THF_ADAPT_WARM;
    return avg + (x - avg) / (double)n;
}

/* The class of a call of `kind` and `size` (flops, values, ...) split over
 * `nthreads`; a class measured for another thread count starts anew. */
static inline struct thf_adapt_class_s *thf_adapt_class(int kind, double size, int nthreads)
{
    unsigned long long f = size >= 1.0 ? (unsigned long long)size : 1ULL;
    int c = 63 - __builtin_clzll(f);
    struct thf_adapt_class_s *cls = &thf_adapt[kind][c < THF_ADAPT_CLASSES ? c : THF_ADAPT_CLASSES - 1];
    if (cls->threads != nthreads) {
        memset(cls, 0, sizeof(*cls));
        cls->threads = nthreads;
    }
    return cls;
}

/* Fold one timed call (`ns` for `size` units, split or not) into its class.
 *
 * Once warm, the timed calls of a burst the other way measure that way
 * afresh: its average restarts from the burst's first timed call, so that
 * after the burst it is the mean of the burst's calls alone. Blended into the
 * old moving average instead (3 new samples against about 8), one burst moved
 * a stale figure only part of the way, and a class that had settled on the
 * slower way from a few bad samples (a worker woken late while it warmed up,
 * the first calls of a process) needed two or three bursts, 500-750 calls, to
 * come back: seen on the 2-vCPU Zen 3 in a spaCy tagger's training, a
 * 134-MFLOP class ran 122 of its 318 calls alone at 50 GFLOP/s where
 * splitting gave 122, and compare.py's 288x2000x288 at 0.66x NumPy. The way
 * changes only after the burst's last timed call, on the burst's mean; a
 * sample over twice the figure before it counts as twice it, as in
 * thf_adapt_update. */
static inline void thf_adapt_record(struct thf_adapt_class_s *cls, int split, double size,
                                    int64_t ns)
{
    double x = (double)ns / (size >= 1.0 ? size : 1.0);
    int was_warm = thf_adapt_warm(cls);
    if (was_warm && split != cls->split) { /* exploring: the burst's mean */
        unsigned n = ++cls->burst;
        double avg = cls->ns_per_flop[split]; /* the burst's mean so far, or the old figure */
        if (avg > 0.0 && x > 2.0 * avg)
            x = 2.0 * avg; /* a preemption, a page fault: at most twice the figure */
        cls->ns_per_flop[split] = n == 1 ? x : avg + (x - avg) / n;
        cls->samples[split]++;
        if (n >= THF_ADAPT_BURST - 1) /* the way changes only on the whole burst's mean */
            cls->split = thf_adapt_settle(cls->ns_per_flop[0], cls->ns_per_flop[1],
                                          cls->samples[0], cls->samples[1], cls->split);
        return;
    }
    cls->burst = 0;
    cls->ns_per_flop[split] = thf_adapt_update(cls->ns_per_flop[split], cls->samples[split], x);
    cls->samples[split]++;
    if (!was_warm && thf_adapt_warm(cls)) /* warm now: the faster way, no margin yet */
        cls->split = cls->ns_per_flop[1] < cls->ns_per_flop[0];
    else
        cls->split = thf_adapt_settle(cls->ns_per_flop[0], cls->ns_per_flop[1],
                                      cls->samples[0], cls->samples[1], cls->split);
}

/* The kind of a pool loop: its range function's slot, taken on first use;
 * -1 when every slot holds another loop. */
static int thf_adapt_loop_kind(thf_range_fn fn)
{
    for (int k = THF_ADAPT_FIRST_LOOP; k < THF_ADAPT_KINDS; ++k) {
        thf_range_fn seen = __atomic_load_n(&thf_adapt_loop_fn[k], __ATOMIC_ACQUIRE);
        if (seen == fn)
            return k;
        if (seen == NULL) {
            thf_range_fn empty = NULL;
            if (__atomic_compare_exchange_n(&thf_adapt_loop_fn[k], &empty, fn, 0,
                                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ||
                empty == fn)
                return k;
        }
    }
    return -1;
}

/* After a split call that workers ran `worker_chunks` chunks of: whether its
 * time tells what a split costs. A call no worker helped does not, for the
 * first THF_ADAPT_UNHELPED of a streak of them: the caller ran every chunk (a
 * sleeping worker takes 20-35 us to wake, longer than a burst of small calls;
 * or another thread held its CPU), so it timed one thread plus the cost of
 * publishing. Such a call in a burst the other way (the class runs alone)
 * does not count in the burst either (`calls` steps back), so the burst lasts
 * until a worker comes. Measured on the 2-vCPU Zen 5 with 2 s idle between
 * runs of 800 calls of 128x512x10 (as compare.py's gemm_step): the workers
 * slept between bursts, woke after the burst's 4 calls, the split samples
 * read 175-250 GFLOP/s against 240 alone, and the class ran alone at ~230
 * for runs on end where splitting gives ~400. Past THF_ADAPT_UNHELPED in a
 * row the workers are not coming (one CPU for two threads, another process
 * on theirs): every further call counts as it is, and bursts keep their 4
 * calls, until a worker helps again. */
static inline int thf_adapt_helped(struct thf_adapt_class_s *cls, unsigned long long worker_chunks)
{
    if (worker_chunks > 0) {
        cls->unhelped = 0;
        return 1;
    }
    if (cls->unhelped >= THF_ADAPT_UNHELPED)
        return 1;
    cls->unhelped++;
    if (!cls->split)
        cls->calls--;
    return 0;
}

/* Run a call of `kind` and `size` the way its class says: `nchunks` chunks
 * of `chunk` on up to `nthreads` threads, or `whole` on the calling thread;
 * timed, and the time folded into the class. */
static void thf_adapt_run(int kind, double size, int nthreads, thf_chunk_fn chunk,
                          void (*whole)(void *ctx), void *ctx, int nchunks)
{
    struct thf_adapt_class_s *cls = thf_adapt_class(kind, size, nthreads);
    unsigned call = cls->calls++;
    int split = thf_adapt_way(cls, call), timed = thf_adapt_timed(cls, call);
    cls->last = split;
    int64_t start = thf_now_ns(), end = 0;
    if (split) {
        int worker_chunks = thf_pool_run_from(chunk, ctx, nchunks, nthreads, start, &end);
        if (!thf_adapt_helped(cls, (unsigned long long)worker_chunks))
            return;
    } else {
        whole(ctx);
        if (timed)
            end = thf_now_ns();
    }
    if (timed)
        thf_adapt_record(cls, split, size, end - start);
}

static void thf_job_whole(void *ctx)
{
    thf_job *job = (thf_job *)ctx;
    job->range(job, 0, job->n);
}

/* Run a job of nparts chunks on up to `parts` threads, or whole on the
 * calling thread where that has measured faster for its loop and size. */
static void thf_adapt_run_job(thf_job *job, int parts)
{
    int kind = thf_adapt_loop_kind(job->range);
    if (kind < 0)
        thf_pool_run(thf_job_chunk, job, job->nparts, parts);
    else
        thf_adapt_run(kind, (double)job->n, parts, thf_job_chunk, thf_job_whole, job,
                      job->nparts);
}

#endif /* THF_ADAPT_SPLIT_H */
