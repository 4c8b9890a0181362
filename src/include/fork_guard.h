/* Keeping fork() away from blis's locks.
 *
 * blis locks mutexes of its own inside a call: the small-block allocator's
 * array pool (bli_apool_checkout_array) and the packing-block pools. fork()
 * copies a mutex as it is, and only the forking thread goes on in the child,
 * so a child forked while one of our threads (a pool worker running a tile, or
 * another Python thread in a gemm) held one of those locks waits for it
 * forever in its first gemm. Measured on the 2-vCPU Zen 3 VM with a thread
 * running 800x400x600 gemms and the main thread forking six times: 1-5 of six
 * children hung (blis's pool lock, seen with gdb); Thinc's NumpyOps, whose
 * calls hold that lock for less time and never from two threads, 0 of six.
 *
 * So every blis call of ours counts itself in (thf_blis_enter) and out
 * (thf_blis_leave). The pthread_atfork prepare handler raises `forking` and
 * waits until no call is counted in; a thread that finds `forking` raised
 * waits, outside blis and counting nothing, until the fork is over. blis's
 * locks are then all free when fork() copies the process. Nothing here waits
 * while holding anything: a pool job whose worker waits at the gate only
 * finishes later, and the forking thread never waits on a job.
 *
 * Each pool worker counts in its own slot (one cache line each), every other
 * thread in slot 0: a gemm split over two threads then writes two lines that
 * stay in their own cores' caches, where one shared counter would move
 * between the cores on every tile. Include after pool_job.h; the handlers are
 * registered by worker_pool.h (thf_pool_install_fork_handlers).
 *
 * Not covered: blis calls that are not ours, such as those the Thinc
 * backend leaves to Thinc's own NumpyOps (float64, arrays that are not
 * C-ordered): they keep Thinc's exposure. The forking thread holds the GIL
 * while it waits, at most as long as the longest blis call under way (a
 * thin product runs whole on one thread).
 */
#ifndef THF_FORK_GUARD_H
#define THF_FORK_GUARD_H

#include <stdint.h>

#include "pool_job.h" /* THF_POOL_MAX_HELPERS */

#if defined(_WIN32) || !defined(__GNUC__)

static inline void thf_blis_enter(void) {}
static inline void thf_blis_leave(void) {}
static inline void thf_fork_set_slot(int slot) { (void)slot; }
static inline int thf_blis_inside(void) { return 0; }

#else

#include <time.h>

#define THF_FORK_SLOTS (THF_POOL_MAX_HELPERS + 1)
/* The longest the prepare handler waits for blis calls to end: a gemm of a
 * few GFLOP takes well under a second; past this the fork goes ahead (and
 * risks the hang) rather than never. */
#define THF_FORK_WAIT_MAX_NS 20000000000LL

static struct {
    int n; /* atomic: blis calls of this slot's threads under way */
    char pad[64 - sizeof(int)];
} thf_fork_slots[THF_FORK_SLOTS] __attribute__((aligned(64)));
/* atomic: forks being prepared (a count: glibc before 2.28 does not
 * serialize the fork handlers of forks from two threads, and one fork's
 * parent handler must not open the gate while another is still waiting).
 * Read on every blis call and written only around a fork, on a line of its
 * own (a neighbour written often would move it between the cores on every
 * read). */
static struct {
    int n;
    char pad[64 - sizeof(int)];
} thf_forking __attribute__((aligned(64)));
static __thread int thf_fork_slot; /* this thread's slot: 0, or its worker number */

static inline void thf_fork_set_slot(int slot)
{
    thf_fork_slot = slot > 0 && slot < THF_FORK_SLOTS ? slot : 0;
}

static void thf_fork_nap(long ns)
{
    struct timespec ts = {0, ns};
    nanosleep(&ts, NULL);
}

/* Count a blis call in; while a fork is being prepared, wait until it is over. */
static inline void thf_blis_enter(void)
{
    int *n = &thf_fork_slots[thf_fork_slot].n;
    for (;;) {
        /* The increment is a locked instruction (a full barrier on x86): the
         * load below cannot pass it, and the prepare handler raises `forking`
         * before it reads the counts, so one of the two sees the other. */
        __atomic_add_fetch(n, 1, __ATOMIC_SEQ_CST);
        if (__builtin_expect(!__atomic_load_n(&thf_forking.n, __ATOMIC_SEQ_CST), 1))
            return;
        __atomic_sub_fetch(n, 1, __ATOMIC_SEQ_CST);
        while (__atomic_load_n(&thf_forking.n, __ATOMIC_ACQUIRE))
            thf_fork_nap(20000);
    }
}

static inline void thf_blis_leave(void)
{
    __atomic_sub_fetch(&thf_fork_slots[thf_fork_slot].n, 1, __ATOMIC_RELEASE);
}

/* blis calls under way, all threads together. */
static int thf_blis_inside(void)
{
    int total = 0;
    for (int s = 0; s < THF_FORK_SLOTS; ++s)
        total += __atomic_load_n(&thf_fork_slots[s].n, __ATOMIC_SEQ_CST);
    return total;
}

static void thf_fork_prepare(void)
{
    __atomic_add_fetch(&thf_forking.n, 1, __ATOMIC_SEQ_CST);
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (thf_blis_inside() > 0) {
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000000000LL + (t.tv_nsec - t0.tv_nsec) > THF_FORK_WAIT_MAX_NS)
            break;
        thf_fork_nap(20000);
    }
}

static void thf_fork_parent(void) { __atomic_sub_fetch(&thf_forking.n, 1, __ATOMIC_SEQ_CST); }

static void thf_fork_child(void)
{
    /* Only the forking thread runs here, and it was in no blis call. */
    for (int s = 0; s < THF_FORK_SLOTS; ++s)
        thf_fork_slots[s].n = 0;
    thf_forking.n = 0;
}

#endif
#endif /* THF_FORK_GUARD_H */
