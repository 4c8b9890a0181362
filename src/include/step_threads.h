/* Threads per training step, from measurement of whole steps.
 *
 * Why: the adaptive split (adapt_split.h) times each product and loop alone,
 * but on a VM the second vCPU sometimes costs the first more than any one
 * call shows: a worker that polls for the next job on a core the caller
 * shares (SMT siblings, or one host core time-sliced between the two vCPUs)
 * slows the Python between the kernels. Measured on the 2-vCPU Zen 5, MLP
 * 784-64-10 at batch 32, epochs alternating in one process: for minutes,
 * 2 threads 0.19-0.21 s against 1 thread 0.142 s, every split still timing
 * faster per call; at other times 2 threads 0.108 s against 0.165.
 *
 * So each optimizer step (Optimizer.update_arena) ticks this clock with the
 * time, and steps run in blocks of THF_STEPS_BLOCK: one block on every thread,
 * one on one thread, then the faster way (one thread only when it is
 * THF_STEPS_MARGIN faster) for THF_STEPS_HOLD blocks, and again. A block's
 * figure is the median of its step periods (tick to tick: the whole step,
 * the caller's own code included) after its first THF_STEPS_SKIP (their
 * data are in the other way's caches). Steps longer than THF_STEPS_MAX_NS on
 * every thread are not tried on one: there the kernels' own splits decide,
 * and a block on one thread would cost more than it could find (the
 * 784-512-512-10 step at batch 128 takes 1.5-2 ms on 2 threads). Every
 * kernel gives the same bits on any thread count, so this changes only
 * speed. A pause between steps (an evaluation, a checkpoint) does not skew
 * the medians much, and once no step has ended for THF_STEPS_LAPSE_NS the
 * kernels use every thread again (inference after training). A change of
 * the thread count or of the gemm options restarts the cycle; with the
 * adaptive split off (every product split as planned) it is off too.
 */
#ifndef THF_STEP_THREADS_H
#define THF_STEP_THREADS_H

#include <stdint.h>
#include <string.h>
#include <time.h>

#define THF_STEPS_BLOCK 24         /* steps per measured block */
#define THF_STEPS_SKIP 2           /* first steps of a block not counted */
#define THF_STEPS_HOLD 40          /* blocks the choice holds before the next try */
#define THF_STEPS_MARGIN 0.95      /* one thread must take under this share of the time */
#define THF_STEPS_MAX_NS 1000000   /* steps longer than this stay on every thread */
#define THF_STEPS_LAPSE_NS 50000000 /* no step for this long: every thread again */

enum { THF_STEPS_ALL = 0, THF_STEPS_ONE = 1, THF_STEPS_HOLDING = 2 };

typedef struct {
    int enabled;            /* 0: every step on every thread */
    int phase;              /* THF_STEPS_ALL, _ONE (measuring), _HOLDING */
    int one;                /* 1: steps run on one thread now */
    int count;              /* steps into the current block */
    int held;               /* blocks held so far */
    int64_t last_ns;        /* the previous tick (0: none yet) */
    double all_ns, one_ns;  /* the last blocks' medians (0: not measured) */
    unsigned long long tries, chose_one; /* cycles measured, and won by one thread */
    double periods[THF_STEPS_BLOCK];
} thf_steps_state;

static thf_steps_state thf_steps = {1, THF_STEPS_ALL, 0, 0, 0, 0, 0.0, 0.0, 0, 0, {0}};

static inline double thf_steps_median(double *v, int n)
{
    for (int i = 1; i < n; ++i) { /* insertion sort: n <= THF_STEPS_BLOCK */
        double x = v[i];
        int j = i - 1;
        for (; j >= 0 && v[j] > x; --j)
            v[j + 1] = v[j];
        v[j + 1] = x;
    }
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Start over (a new thread setting, or turned on again): all threads. */
static inline void thf_steps_reset(thf_steps_state *s)
{
    s->phase = THF_STEPS_ALL;
    s->one = 0;
    s->count = 0;
    s->held = 0;
    s->last_ns = 0;
}

/* One step ended at `now_ns`: fold its period in and move the cycle on.
 * Returns whether the next step runs on one thread. */
static inline int thf_steps_tick(thf_steps_state *s, int64_t now_ns)
{
    if (!s->enabled) {
        s->one = 0;
        return 0;
    }
    int64_t last = s->last_ns;
    s->last_ns = now_ns;
    if (last == 0 || now_ns <= last)
        return s->one;
    if (s->phase == THF_STEPS_HOLDING) {
        if (++s->count >= THF_STEPS_BLOCK) {
            s->count = 0;
            if (++s->held >= THF_STEPS_HOLD) {
                s->held = 0;
                s->phase = THF_STEPS_ALL;
                s->one = 0;
            }
        }
        return s->one;
    }
    if (s->count >= THF_STEPS_SKIP)
        s->periods[s->count - THF_STEPS_SKIP] = (double)(now_ns - last);
    if (++s->count < THF_STEPS_BLOCK)
        return s->one;
    s->count = 0;
    double median = thf_steps_median(s->periods, THF_STEPS_BLOCK - THF_STEPS_SKIP);
    if (s->phase == THF_STEPS_ALL) {
        s->all_ns = median;
        if (median > THF_STEPS_MAX_NS) { /* long steps: no try on one thread */
            s->phase = THF_STEPS_HOLDING;
            s->one = 0;
        } else {
            s->phase = THF_STEPS_ONE;
            s->one = 1;
        }
        return s->one;
    }
    s->one_ns = median;
    s->tries++;
    s->one = median < THF_STEPS_MARGIN * s->all_ns;
    s->chose_one += (unsigned long long)s->one;
    s->phase = THF_STEPS_HOLDING;
    return s->one;
}

static inline int64_t thf_steps_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Whether kernels run on one thread now: the cycle says so and a step ended
 * within THF_STEPS_LAPSE_NS (after training, inference gets every thread). */
static inline int thf_steps_capped(const thf_steps_state *s)
{
    return s->one && thf_steps_now() - s->last_ns < THF_STEPS_LAPSE_NS;
}

#endif /* THF_STEP_THREADS_H */
