/* A small pool of worker threads for thinc_fast's gemm splits.
 *
 * Why not an OpenMP parallel region: a region ends in a barrier that waits for
 * every thread of its team to arrive, so a worker the OS has not scheduled yet
 * (another library's threads still spinning on the cores after its last call,
 * or another process) stalls the caller until it runs, however little work it
 * had. Here the work is cut into chunks that the threads claim one at a time
 * from one atomic word; the caller claims chunks too, and it waits only for
 * chunks that a running worker has claimed, never for a worker to show up. A
 * worker that comes late finds nothing left and goes back to waiting.
 *
 * Spin/sleep policy. After a job a worker polls for the next one, with the
 * CPU's pause hint, then sleeps on a condition variable, so an idle pool takes
 * no CPU time from NumPy's or PyTorch's threads. It polls for thf_pool_spin_ns
 * (default 100 us: the gemms of a training step follow each other within
 * microseconds) or, when jobs have lately come further apart but still often,
 * for twice the usual gap between them, up to thf_pool_spin_max_ns (2 ms): in
 * spaCy's training loop the gemms come ~0.3-1 ms apart, with Python between
 * them, and a worker that has gone to sleep costs each one a wake-up (21-34
 * us) and its first tile. Measured on the 2-core Xeon VM, spaCy tagger
 * training / nlp.pipe words per second: 100 us 24.8k / 56.9k, 1 ms 28.0k /
 * 80.3k, 5 ms 27.9k / 65.5k. The usual gap is a moving average of the gaps
 * between jobs (each capped at 4x the maximum, so a pause between epochs does
 * not count for more than that); jobs rarer than the maximum leave the
 * workers asleep as before, and thf_pool_spin_ns = 0 means never poll. A caller waiting for chunks that workers claimed polls
 * for 100 us, then sleeps until the last one is done, leaving its core to a
 * worker the OS preempted. Measured on a 2-core Xeon VM: a sleeping thread
 * takes 21-34 us to run again once woken (also when another thread spins on
 * its core: a woken thread preempts it), a polling one under 1 us, but one
 * that polls beside a busy thread loses its core for ~4 ms one time in ten.
 *
 * Beside NumPy: OpenBLAS's workers busy-wait for 50 ms and more after every
 * NumPy call (measured: 48 ms of CPU in the 50 ms after a 25 us matmul) and do
 * not yield. On 2 cores one of theirs then shares a core with one of ours,
 * and a gemm right after a NumPy matmul took 1.7-2.0x as long as alone (AMD
 * EPYC Zen 5, 2 vCPUs; the Xeon alike): mostly our polling worker, queued
 * behind their spinner, never got the CPU and the caller did every tile.
 * So the pool watches for such hogs, and after a sign its workers sleep as
 * soon as a job is done (thf_pool_contended_spin_ns, 0; not the up-to-2 ms
 * polls that serve spaCy's loop) for THF_POOL_CONTENDED_FOR_NS: a woken
 * thread preempts the hog, and a sleeping one takes nothing from NumPy's call
 * between ours. Signs of a hog: the caller, its own chunks done, waited
 * THF_POOL_HOGGED_NS or more for a worker's chunk; polling workers took no
 * chunk of a job of THF_POOL_MISS_LONG_NS or more, or of two shorter ones in
 * a row (they never got the CPU: the caller did every chunk alone); a poll
 * that had under THF_POOL_SHARE_MIN_PERCENT of its CPU's time (another thread
 * ran there: thf_pool_wait). A daemon waking up for some microseconds is none
 * of these. Measured on the Xeon VM with polls of 100 us after a sign instead
 * of none: a gemm right after a NumPy matmul 1.34-1.47x alone (1.67-1.81x
 * without the signs); spaCy's tagger and textcat within noise, 30-130 signs
 * in ~6,600 jobs. On the Zen 5 VM, no poll after a sign and the share check
 * against 100 us polls: the worst of the 784-512-512-10 step's 9 gemms right
 * after a NumPy matmul 1.27 and 1.35x alone (compare.py's gemm_mixed; 1.23-1.56
 * in later runs, with two signs needed) against 1.76 and 1.92x, alone
 * unchanged; spaCy 3.8's tagger,
 * textcat, ner and parser on the Thinc backend within noise (train words/s
 * -3% to +9%, 4 runs each).
 *
 * A worker that finds itself on the CPU its caller published the job from
 * moves to one of the other CPUs the process may use (sched_setaffinity), or
 * leaves the job to the caller when there is none: taking turns on one CPU
 * only adds waits. The scheduler puts a woken thread beside its waker, and on
 * an idle VM the other vCPU may not pull it over for milliseconds: measured,
 * after idle gaps every worker tile of a run could land on the caller's CPU,
 * and the gemm ran at one-thread speed or slower.
 *
 * One job runs at a time: a second caller (another Python thread, the GIL is
 * released) that finds the pool busy runs its work on its own thread. After
 * fork() the child has no workers; the pool starts new ones when it needs them.
 * fork() itself waits until no thread of ours is inside blis (fork_guard.h).
 *
 * Workers are started with PyThread_start_new_thread (under the GIL, from
 * thf_pool_grow), and the pool needs nothing from libc newer than glibc 2.17
 * (no pthread_create/trylock/sigmask, whose default versions moved to 2.32 and
 * 2.34): wheels keep their manylinux floor. Include Python.h first.
 *
 * The job word (64 bits, updated atomically): generation (32) | helpers (8) |
 * chunks (12) | claims (12). A claim is a compare-and-swap that checks the
 * generation, so a claim can only land in the job it was meant for; the job's
 * function and context are read after a successful claim, and the caller does
 * not return (or start another job) before every claimed chunk is done. The
 * caller's first chunk, 0, is published already claimed, so the caller starts
 * on it at once, without a compare-and-swap on the line a worker is reading.
 *
 * Home chunks. A job of at most THF_POOL_MASK_CHUNKS chunks keeps one claimed
 * bit per chunk, and each thread takes its own chunks first: thread t (the
 * caller 0, helper h) those with index t, t + threads, ...; only then another's,
 * from the last. So a job cut the same way as the one before gives each thread
 * the same part of the data (an optimizer step its half of the weights, a
 * gemm its tiles), which is still in that core's cache. With a plain counter
 * a polling worker that saw the job first took chunk 0, the caller chunk 1,
 * and the halves changed cores from call to call: on the 2-vCPU Zen 5 a 64k-
 * value triad on 2 threads then ran at 4.4-4.6 us against 3.1-3.5 when the
 * worker took chunk 0 in under 4% of the jobs (one thread: 3.7-4.8).
 * Larger jobs count claims in the same 12 bits (the next chunk).
 */
#ifndef THF_POOL_H
#define THF_POOL_H

#include <stdint.h>

#include "pool_job.h" /* THF_POOL_MAX_CHUNKS, THF_POOL_MAX_HELPERS; the jobs it runs */
#include "fork_guard.h"

typedef void (*thf_chunk_fn)(void *ctx, int chunk);

/* OpenMP's thread limit for the calling thread (threadpoolctl sets it), or no
 * limit when built without OpenMP. */
#ifdef _OPENMP
#include <omp.h>
static int thf_omp_limit(void) { return omp_get_max_threads(); }
#else
static int thf_omp_limit(void) { return 1 << 30; }
#endif

#define THF_POOL_HOGGED_NS 300000           /* a wait this long for a worker: a hog ran */

#define THF_POOL_MISS_MIN_NS 20000   /* a job shorter than this may end before a worker looks */
#define THF_POOL_MISS_LONG_NS 100000 /* missing a job this long is a sign by itself */

/* Whether a job shows a hog (see thf_pool_run): it took `job_ns`, of which the
 * caller waited `waited_ns` for workers' chunks after its own; `polling`: no
 * worker slept when it was published; `worker_chunks`: chunks the workers did.
 * `missed` counts the jobs in a row (of those long enough to tell) whose
 * polling workers did none: two such, or one of THF_POOL_MISS_LONG_NS or more
 * (a daemon's blip does not keep a polling worker off its CPU that long). */
static inline int thf_pool_hog_seen(int64_t job_ns, int64_t waited_ns, int polling,
                                   unsigned long long worker_chunks, int *missed)
{
    if (worker_chunks > 0 || !polling)
        *missed = 0;
    else if (job_ns >= THF_POOL_MISS_LONG_NS)
        *missed = 2;
    else if (job_ns >= THF_POOL_MISS_MIN_NS && *missed < 2)
        ++*missed;
    return waited_ns > THF_POOL_HOGGED_NS || *missed >= 2;
}

#if defined(_WIN32) || !defined(__GNUC__)

/* No pthreads/atomics here: run the chunks on the calling thread. */
static long thf_pool_spin_ns = 0;
static long thf_pool_spin_max_ns = 0;
static int64_t thf_pool_gap_ns = 0;
static int64_t thf_pool_budget_for(int64_t base, int64_t most, int64_t gap) { (void)base; (void)most; (void)gap; return 0; }
static int64_t thf_pool_spin_budget(void) { return 0; }
static void thf_pool_set_spin_ns(long ns) { (void)ns; }
static void thf_pool_set_spin_max_ns(long ns) { (void)ns; }

static int thf_pool_threads_supported(void) { return 0; }
static int thf_pool_workers(void) { return 0; }
static long thf_pool_contended_spin_ns = 0;
static int thf_pool_share_check = 0;
static void thf_pool_counters(unsigned long long *out) { out[0] = out[1] = out[2] = out[3] = out[4] = out[5] = 0; }
static int thf_pool_all_spinning(int helpers) { (void)helpers; return 0; }
static int thf_pool_grow(int wanted) { (void)wanted; return 0; }
static void thf_pool_install_fork_handlers(void) {}
static int thf_pool_run_from(thf_chunk_fn fn, void *ctx, int nchunks, int nthreads,
                             int64_t now, int64_t *end)
{
    (void)nthreads;
    (void)now;
    for (int i = 0; i < nchunks; ++i)
        fn(ctx, i);
    if (end != NULL)
        *end = 0;
    return 0;
}
static int thf_pool_run(thf_chunk_fn fn, void *ctx, int nchunks, int nthreads)
{
    return thf_pool_run_from(fn, ctx, nchunks, nthreads, 0, NULL);
}

#else

#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <pythread.h>

#if defined(__linux__)
#define THF_CPU_NOW() sched_getcpu() /* Python.h defines _GNU_SOURCE */

/* Move the calling worker off CPU `avoid` (onto the CPUs it may use, less
 * that one); returns whether it moved. `allowed` is its mask at start. */
static int thf_pool_move_off(const cpu_set_t *allowed, int avoid)
{
    cpu_set_t mask = *allowed;
    if (avoid < 0 || avoid >= CPU_SETSIZE || !CPU_ISSET(avoid, &mask))
        return 0;
    CPU_CLR(avoid, &mask);
    if (CPU_COUNT(&mask) == 0)
        return 0;
    return sched_setaffinity(0, sizeof(mask), &mask) == 0;
}
#else
#define THF_CPU_NOW() (-1)
#endif

#if defined(__x86_64__) || defined(__i386__)
#define THF_CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define THF_CPU_RELAX() __asm__ __volatile__("yield" ::: "memory")
#else
#define THF_CPU_RELAX() do { } while (0)
#endif

#define THF_WORD(gen, helpers, n, next) \
    (((uint64_t)(uint32_t)(gen) << 32) | ((uint64_t)(helpers) << 24) | ((uint64_t)(n) << 12) | (uint64_t)(next))
#define THF_GEN(w) ((uint32_t)((w) >> 32))
#define THF_HELPERS(w) ((int)(((w) >> 24) & 0xff))
#define THF_NCHUNKS(w) ((int)(((w) >> 12) & 0xfff))
#define THF_NEXT(w) ((int)((w) & 0xfff))
#define THF_POOL_MASK_CHUNKS 12 /* jobs of up to this many chunks: claimed bits, home chunks */

static long thf_pool_spin_ns = 100000;
static long thf_pool_spin_max_ns = 2000000;
static void thf_pool_set_spin_ns(long ns) { thf_pool_spin_ns = ns; }
static void thf_pool_set_spin_max_ns(long ns) { thf_pool_spin_max_ns = ns; }

/* The moving average of the gaps between jobs (ns; atomic), and when the last
 * job ended (ns; written by the caller of the job). */
static int64_t thf_pool_gap_ns = 0;
static int64_t thf_pool_last_end_ns = 0;

/* How long an idle worker polls before it sleeps, for a base poll, a maximum
 * and the usual gap between jobs: see the policy above. */
static inline int64_t thf_pool_budget_for(int64_t base, int64_t most, int64_t gap)
{
    if (base == 0 || most <= base || 2 * gap <= base || gap > most)
        return base; /* jobs back to back, or rarer than the longest poll */
    return 2 * gap < most ? 2 * gap : most;
}

/* Contention: after a second sign of a CPU hog (thf_pool_hog_seen, or a poll
 * that got too little of its CPU: thf_pool_wait) within
 * THF_POOL_CONTENDED_FOR_NS of the one before, polls are kept to
 * thf_pool_contended_spin_ns for THF_POOL_CONTENDED_FOR_NS. One sign alone
 * (a worker's first start, a vCPU the host paused once) does not: with no
 * polls, every job pays a wake-up, and the 64k-value triad on 2 threads, jobs
 * back to back, took 3.7-5.6 us in a run after a single sign against 3.0-3.4
 * without. A hog that stays gives signs job after job. */
static int64_t thf_pool_contended_until_ns = 0;
static int64_t thf_pool_last_sign_ns = 0;
static int thf_pool_missed_in_a_row = 0; /* jobs in a row whose polling workers took no chunk */
static long thf_pool_contended_spin_ns = 0;  /* the poll while contended: none */
#define THF_POOL_CONTENDED_FOR_NS 50000000  /* how long that lasts */
/* A poll that, over THF_POOL_SHARE_AFTER_NS from its first sample of its
 * thread's CPU time (taken THF_POOL_SHARE_FROM_NS into the poll), has had
 * less than THF_POOL_SHARE_MIN_PERCENT of its CPU's time shares the CPU with
 * a thread that runs (see thf_pool_wait); thf_pool_share_check 0 turns the
 * check off. */
static int thf_pool_share_check = 1;
#define THF_POOL_SHARE_FROM_NS 5000
#define THF_POOL_SHARE_AFTER_NS 40000
#define THF_POOL_SHARE_EVERY_NS 20000
#define THF_POOL_SHARE_MIN_PERCENT 75

/* A sign of a hog at `now`: contended from a second one on (see above). */
static inline void thf_pool_sign(int64_t now)
{
    int64_t last = __atomic_exchange_n(&thf_pool_last_sign_ns, now, __ATOMIC_RELAXED);
    if (last != 0 && now - last < THF_POOL_CONTENDED_FOR_NS)
        __atomic_store_n(&thf_pool_contended_until_ns, now + THF_POOL_CONTENDED_FOR_NS,
                         __ATOMIC_RELAXED);
}

static inline int64_t thf_pool_spin_budget_at(int64_t now)
{
    int64_t budget = thf_pool_budget_for(thf_pool_spin_ns, thf_pool_spin_max_ns,
                                        __atomic_load_n(&thf_pool_gap_ns, __ATOMIC_RELAXED));
    if (now < __atomic_load_n(&thf_pool_contended_until_ns, __ATOMIC_RELAXED) &&
        budget > thf_pool_contended_spin_ns)
        budget = thf_pool_contended_spin_ns;
    return budget;
}

/* The caller publishes a job: fold the gap since the last one into the average. */
static inline void thf_pool_note_gap(int64_t now)
{
    if (thf_pool_last_end_ns == 0)
        return;
    int64_t gap = now - thf_pool_last_end_ns, cap = 4 * (int64_t)thf_pool_spin_max_ns;
    if (gap < 0)
        gap = 0;
    if (gap > cap)
        gap = cap;
    int64_t avg = __atomic_load_n(&thf_pool_gap_ns, __ATOMIC_RELAXED);
    __atomic_store_n(&thf_pool_gap_ns, avg + (gap - avg) / 8, __ATOMIC_RELAXED);
}


/* Laid out by who writes what, one cache line each: the job (the caller
 * publishes it, workers read it and claim chunks in `word`), the count of
 * chunks the workers finished (workers add to it, the caller polls it; the
 * caller counts its own chunks itself), and the rest (locks and counters,
 * written by the caller or rarely). Every write to a line another thread
 * reads moves it between cores. Measured on the 2-vCPU Zen 5 in a phase where
 * a line took ~0.5 us to go to the other vCPU and back: a job of two ~0.9 us
 * chunks took 0.69-0.76 us more than one chunk with these fields packed
 * together and the workers counting their chunks in a shared counter,
 * 0.49-0.55 us laid out as here. */
#define THF_LINE __attribute__((aligned(64)))
static struct {
    THF_LINE uint64_t word;     /* atomic: the job word described above */
    thf_chunk_fn fn;
    void *ctx;
    int caller_cpu;             /* the CPU the caller published the job from (-1: unknown) */
    THF_LINE int done;          /* atomic: chunks of the current job finished */
    int caller_waits;           /* atomic: the caller waits on `finished` */
    THF_LINE int sleepers;      /* atomic: workers waiting on `wake` */
    int busy;                   /* atomic: a caller is running a job */
    int nworkers;               /* workers started (under the GIL) */
    int atfork;                 /* the fork handler is registered */
    pthread_mutex_t sleep_lock; /* guards the condition variables */
    pthread_cond_t wake;        /* workers sleep here between jobs */
    pthread_cond_t finished;    /* a caller sleeps here for the last claimed chunk */
    unsigned long long jobs, chunks, helped, moves; /* counters: jobs run, their chunks,
                                                     * chunks done by workers, moves off
                                                     * the caller's CPU */
    unsigned long long hog_signs; /* jobs after which the caller saw a hog */
    unsigned long long shared_polls; /* polls cut short: their CPU ran another thread */
} thf_pool = {.caller_cpu = -1, .sleep_lock = PTHREAD_MUTEX_INITIALIZER,
              .wake = PTHREAD_COND_INITIALIZER, .finished = PTHREAD_COND_INITIALIZER};

#define THF_POOL_CALLER_SPIN_NS 100000

static int thf_pool_threads_supported(void) { return 1; }
static int thf_pool_workers(void) { return thf_pool.nworkers; }
/* Whether `helpers` workers exist and none sleeps (they poll for the next job). */
static int thf_pool_all_spinning(int helpers)
{
    return helpers <= __atomic_load_n(&thf_pool.nworkers, __ATOMIC_RELAXED) &&
           __atomic_load_n(&thf_pool.sleepers, __ATOMIC_RELAXED) == 0;
}

/* Counters since start: jobs run on the pool, their chunks, chunks workers did,
 * workers' moves off their caller's CPU, jobs that showed a hog, polls cut
 * short because their CPU ran another thread. */
static void thf_pool_counters(unsigned long long *out)
{
    out[0] = thf_pool.jobs;
    out[1] = thf_pool.chunks;
    out[2] = __atomic_load_n(&thf_pool.helped, __ATOMIC_RELAXED);
    out[3] = __atomic_load_n(&thf_pool.moves, __ATOMIC_RELAXED);
    out[4] = __atomic_load_n(&thf_pool.hog_signs, __ATOMIC_RELAXED);
    out[5] = __atomic_load_n(&thf_pool.shared_polls, __ATOMIC_RELAXED);
}

static inline int64_t thf_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
/* The CPU time the calling thread has had (ns), or -1 where the clock is missing. */
static inline int64_t thf_thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* How long an idle worker would poll now. */
static inline int64_t thf_pool_spin_budget(void) { return thf_pool_spin_budget_at(thf_now_ns()); }

/* The chunk thread `self` (0: the caller, h: helper h) would claim in job
 * word `w`, or -1 when none is left: see "Home chunks" above. */
static inline int thf_pool_pick(uint64_t w, int self)
{
    int n = THF_NCHUNKS(w), claims = THF_NEXT(w);
    if (n > THF_POOL_MASK_CHUNKS)
        return claims < n ? claims : -1;
    int threads = THF_HELPERS(w) + 1;
    for (int c = self % threads; c < n; c += threads)
        if (!((claims >> c) & 1))
            return c;
    for (int c = n - 1; c >= 0; --c)
        if (!((claims >> c) & 1))
            return c;
    return -1;
}

/* Claim a chunk of job `gen` for thread `self`; -1 when it has none left (or
 * is over). */
static inline int thf_pool_claim(uint32_t gen, int self)
{
    uint64_t w = __atomic_load_n(&thf_pool.word, __ATOMIC_ACQUIRE);
    for (;;) {
        if (THF_GEN(w) != gen)
            return -1;
        int c = thf_pool_pick(w, self);
        if (c < 0)
            return -1;
        uint64_t claimed = THF_NCHUNKS(w) > THF_POOL_MASK_CHUNKS ? w + 1 : w | (1ULL << c);
        if (__atomic_compare_exchange_n(&thf_pool.word, &w, claimed, 1, __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE))
            return c;
    }
}

/* Run chunks of job `gen` on thread `self` (0: the caller) until none is
 * left; returns how many it ran. Workers count theirs in `done` (the caller
 * counts its own: see thf_pool_run) and wake a caller that sleeps. */
static int thf_pool_drain(uint32_t gen, int self)
{
    int i, ran = 0;
    while ((i = thf_pool_claim(gen, self)) >= 0) {
        thf_pool.fn(thf_pool.ctx, i);
        ++ran;
        if (self > 0) {
            __atomic_add_fetch(&thf_pool.done, 1, __ATOMIC_SEQ_CST);
            if (__atomic_load_n(&thf_pool.caller_waits, __ATOMIC_SEQ_CST)) {
                pthread_mutex_lock(&thf_pool.sleep_lock);
                pthread_cond_broadcast(&thf_pool.finished);
                pthread_mutex_unlock(&thf_pool.sleep_lock);
            }
        }
    }
    return ran;
}

/* Wait for a job word whose generation differs from `seen`: spin, then sleep. */
static uint64_t thf_pool_wait(uint32_t seen)
{
    uint64_t w;
    int64_t start = thf_now_ns(), budget = thf_pool_spin_budget_at(start);
    /* The share check's first sample of this thread's CPU time is taken only
     * once the poll has lasted THF_POOL_SHARE_FROM_NS: the clock is a system
     * call (0.35-0.37 us on the Zen 5 KVM guest), and taken at once it
     * delayed every job that came within that time: two ~0.9 us chunks
     * published back to back took 0.50 us more than one, 0.27 us with the
     * sample put off. */
    int check = thf_pool_share_check && budget > THF_POOL_SHARE_FROM_NS + THF_POOL_SHARE_AFTER_NS;
    int64_t cpu_start = -1, wall_start = 0, next_check = start + THF_POOL_SHARE_FROM_NS;
    for (unsigned i = 1;; ++i) {
        w = __atomic_load_n(&thf_pool.word, __ATOMIC_ACQUIRE);
        if (THF_GEN(w) != seen)
            return w;
        THF_CPU_RELAX();
        if ((i & 63) == 0) {
            int64_t now = thf_now_ns();
            if (now - start > budget)
                break;
            if (check && now >= next_check) {
                if (cpu_start < 0) {
                    if ((cpu_start = thf_thread_cpu_ns()) < 0) {
                        check = 0;
                        continue;
                    }
                    wall_start = now;
                    next_check = now + THF_POOL_SHARE_AFTER_NS;
                    continue;
                }
                /* Another thread that runs on this CPU (NumPy's OpenBLAS
                 * workers computing or spinning, another process) gets the
                 * rest: polling only takes time from it, and our next job would
                 * share the CPU with it too. Sleep: a woken thread preempts it. */
                if ((thf_thread_cpu_ns() - cpu_start) * 100 <
                    (now - wall_start) * THF_POOL_SHARE_MIN_PERCENT) {
                    __atomic_add_fetch(&thf_pool.shared_polls, 1, __ATOMIC_RELAXED);
                    thf_pool_sign(now);
                    break;
                }
                next_check = now + THF_POOL_SHARE_EVERY_NS;
            }
        }
    }
    pthread_mutex_lock(&thf_pool.sleep_lock);
    __atomic_add_fetch(&thf_pool.sleepers, 1, __ATOMIC_SEQ_CST);
    while (THF_GEN(w = __atomic_load_n(&thf_pool.word, __ATOMIC_SEQ_CST)) == seen)
        pthread_cond_wait(&thf_pool.wake, &thf_pool.sleep_lock);
    __atomic_sub_fetch(&thf_pool.sleepers, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&thf_pool.sleep_lock);
    return w;
}

static void thf_pool_worker(void *arg)
{
    int self = (int)(intptr_t)arg; /* 1, 2, ...: helper number */
    thf_fork_set_slot(self);
    uint32_t seen = THF_GEN(__atomic_load_n(&thf_pool.word, __ATOMIC_ACQUIRE));
#if defined(__linux__)
    cpu_set_t allowed;
    int have_mask = sched_getaffinity(0, sizeof(allowed), &allowed) == 0;
#endif
    for (;;) {
        uint64_t w = thf_pool_wait(seen);
        seen = THF_GEN(w);
        if (self > THF_HELPERS(w))
            continue;
        /* On the caller's CPU this worker would only take turns with it: move
         * to another CPU, or, when there is none, leave the job to the caller. */
        int cpu = THF_CPU_NOW();
        int caller = __atomic_load_n(&thf_pool.caller_cpu, __ATOMIC_RELAXED);
#if defined(__linux__)
        if (cpu >= 0 && cpu == caller && have_mask && thf_pool_move_off(&allowed, caller)) {
            __atomic_add_fetch(&thf_pool.moves, 1, __ATOMIC_RELAXED);
            cpu = THF_CPU_NOW();
        }
#endif
        if (cpu < 0 || cpu != caller)
            thf_pool_drain(seen, self);
    }
}

static void thf_pool_after_fork_child(void)
{
    /* Only the forking thread exists in the child: forget the workers, reset the locks. */
    thf_fork_child();
    pthread_mutex_init(&thf_pool.sleep_lock, NULL);
    pthread_cond_init(&thf_pool.wake, NULL);
    pthread_cond_init(&thf_pool.finished, NULL);
    thf_pool.caller_waits = 0;
    thf_pool.nworkers = 0;
    thf_pool.sleepers = 0;
    thf_pool.done = 0;
    thf_pool.busy = 0;
}

/* Register the fork handlers once: fork_guard.h's, which keep fork() from
 * copying blis's locks while a call of ours holds one, and the child's reset
 * of the pool. Called when gemm is set up, at import, before any worker
 * starts or blis call runs; with the GIL held (it guards `atfork`). */
static void thf_pool_install_fork_handlers(void)
{
    if (!thf_pool.atfork) {
        pthread_atfork(thf_fork_prepare, thf_fork_parent, thf_pool_after_fork_child);
        thf_pool.atfork = 1;
    }
}

/* Start workers up to `wanted`; returns how many run. Call with the GIL held
 * (PyThread_start_new_thread reads the interpreter's thread stack size). */
static int thf_pool_grow(int wanted)
{
    if (wanted > THF_POOL_MAX_HELPERS)
        wanted = THF_POOL_MAX_HELPERS;
    while (thf_pool.nworkers < wanted) {
        unsigned long id = PyThread_start_new_thread(thf_pool_worker,
                                                     (void *)(intptr_t)(thf_pool.nworkers + 1));
        if (id == PYTHREAD_INVALID_THREAD_ID)
            break;
        __atomic_add_fetch(&thf_pool.nworkers, 1, __ATOMIC_RELEASE);
    }
    return thf_pool.nworkers;
}

/* Run fn(ctx, i) for i in [0, nchunks) on up to `nthreads` threads (the caller
 * included; only workers already started by thf_pool_grow help), each chunk
 * exactly once; returns when all are done, with the number of chunks workers
 * ran (0: the caller ran them all). `now` is thf_now_ns() at the call (the
 * caller has just read the clock), and *end, unless NULL, receives it when
 * the job is done: a caller that times the job (adapt_split.h) and the pool
 * read the clock once between them. Needs no GIL. */
static int thf_pool_run_from(thf_chunk_fn fn, void *ctx, int nchunks, int nthreads,
                             int64_t now, int64_t *end)
{
    int helpers = nthreads - 1;
    if (helpers > nchunks - 1)
        helpers = nchunks - 1;
    int have = __atomic_load_n(&thf_pool.nworkers, __ATOMIC_ACQUIRE);
    if (helpers > have)
        helpers = have;
    if (helpers < 1 || nchunks > THF_POOL_MAX_CHUNKS ||
        __atomic_exchange_n(&thf_pool.busy, 1, __ATOMIC_ACQUIRE)) {
        for (int i = 0; i < nchunks; ++i)
            fn(ctx, i);
        if (end != NULL)
            *end = thf_now_ns();
        return 0;
    }
    thf_pool.fn = fn;
    thf_pool.ctx = ctx;
    int64_t published = now;
    thf_pool_note_gap(published);
    __atomic_store_n(&thf_pool.caller_cpu, THF_CPU_NOW(), __ATOMIC_RELAXED);
    __atomic_store_n(&thf_pool.done, 0, __ATOMIC_RELAXED);
    uint32_t gen = THF_GEN(__atomic_load_n(&thf_pool.word, __ATOMIC_RELAXED)) + 1;
    __atomic_store_n(&thf_pool.word, THF_WORD(gen, helpers, nchunks, 1), __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&thf_pool.sleepers, __ATOMIC_SEQ_CST) > 0) {
        pthread_mutex_lock(&thf_pool.sleep_lock);
        pthread_cond_broadcast(&thf_pool.wake);
        pthread_mutex_unlock(&thf_pool.sleep_lock);
    }
    thf_pool.jobs++;
    thf_pool.chunks += (unsigned long long)nchunks;
    int64_t waited_from = 0;
    int polling = __atomic_load_n(&thf_pool.sleepers, __ATOMIC_RELAXED) == 0;
    /* Chunk 0, the caller's first, was published as claimed: no claim to
     * make, and no transfer of the job's line back from a worker that read
     * it. The caller does not add its chunks to `done`: only workers write
     * that line, and the caller waits for their count, nchunks - mine. */
    fn(ctx, 0);
    int mine = 1 + thf_pool_drain(gen, 0), theirs = nchunks - mine;
    if (__atomic_load_n(&thf_pool.done, __ATOMIC_ACQUIRE) < theirs) {
        /* Chunks claimed by workers are running (or their thread lost its core). */
        int64_t start = thf_now_ns();
        waited_from = start;
        for (unsigned i = 1; __atomic_load_n(&thf_pool.done, __ATOMIC_ACQUIRE) < theirs; ++i) {
            THF_CPU_RELAX();
            if ((i & 63) == 0 && thf_now_ns() - start > THF_POOL_CALLER_SPIN_NS) {
                pthread_mutex_lock(&thf_pool.sleep_lock);
                __atomic_store_n(&thf_pool.caller_waits, 1, __ATOMIC_SEQ_CST);
                while (__atomic_load_n(&thf_pool.done, __ATOMIC_SEQ_CST) < theirs)
                    pthread_cond_wait(&thf_pool.finished, &thf_pool.sleep_lock);
                __atomic_store_n(&thf_pool.caller_waits, 0, __ATOMIC_RELAXED);
                pthread_mutex_unlock(&thf_pool.sleep_lock);
                break;
            }
        }
    }
    int64_t ended = thf_now_ns();
    /* Signs that another thread hogs a worker's core (typically another
     * library's workers spinning after their call: OpenBLAS's spin for tens
     * of milliseconds): the caller, its own chunks done, waited long for a
     * worker's; or, twice in a row, workers that were polling took no chunk
     * at all (queued behind the hog, they never ran while the caller did
     * every chunk alone). */
    if (thf_pool_hog_seen(ended - published, waited_from != 0 ? ended - waited_from : 0,
                         polling, (unsigned long long)theirs, &thf_pool_missed_in_a_row)) {
        __atomic_add_fetch(&thf_pool.hog_signs, 1, __ATOMIC_RELAXED);
        thf_pool_sign(ended);
    }
    __atomic_store_n(&thf_pool.helped, thf_pool.helped + (unsigned long long)theirs,
                     __ATOMIC_RELAXED);
    thf_pool_last_end_ns = ended;
    __atomic_store_n(&thf_pool.busy, 0, __ATOMIC_RELEASE);
    if (end != NULL)
        *end = ended;
    return theirs;
}

static int thf_pool_run(thf_chunk_fn fn, void *ctx, int nchunks, int nthreads)
{
    return thf_pool_run_from(fn, ctx, nchunks, nthreads, thf_now_ns(), NULL);
}

#endif /* pthreads */
#endif /* THF_POOL_H */
