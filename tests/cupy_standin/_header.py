"""The C++ header that lets g++ compile CUDA kernel source for the CPU (see
``_emulator.py`` for how a launch runs, ``__init__.py`` for what it cannot catch).

What it provides: ``threadIdx``/``blockIdx``/``blockDim``/``gridDim``/``warpSize``;
``__global__``, ``__device__``, ``__forceinline__`` and friends as plain C++;
``__syncthreads`` as a real barrier (every thread of a block is a coroutine with
its own stack; a barrier switches back to the scheduler, which resumes the next
thread, so a block's threads advance phase by phase, and threads that have
exited while others wait at a barrier are reported); ``__shared__`` arrays (the
emulator rewrites their declarations into ``thf_emu::Shared`` objects, filled
with garbage at the start of each block and fenced by guard bytes that are
checked after it) and ``extern __shared__`` (the launch's dynamic shared
memory, sized by ``shared_mem``, also fenced); the atomics as plain
read-modify-write (all threads of a launch run on one OS thread and only
switch at barriers, so they are atomic here); the float/int bit-cast
intrinsics and fast-math functions. Anything else (warp shuffles, ``__syncwarp``,
cooperative groups, textures) is not defined, so a kernel using it fails to
compile with g++'s error rather than running wrongly.
"""

HEADER = r"""
// ---- thinc_fast tests: CUDA emulated on the CPU (tests/cupy_standin) ----
#include <cmath>
#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <vector>
#include <ucontext.h>
#include <sys/mman.h>
#include <unistd.h>
#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif

struct uint3 { unsigned int x, y, z; };
struct dim3 {
    unsigned int x, y, z;
    dim3(unsigned int a = 1, unsigned int b = 1, unsigned int c = 1) : x(a), y(b), z(c) {}
};

static uint3 threadIdx, blockIdx;
static dim3 blockDim, gridDim;
static const int warpSize = 32;

#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __restrict__ __restrict
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// __shared__ declarations are rewritten before compiling; one left over is an error
#define __shared__ THF_EMU_UNSUPPORTED_SHARED_DECLARATION

namespace thf_emu {

template <class T> struct same { typedef T type; };

// ------------------------------------------------------------ failures
static bool failed = false;
static char message[1024];

static void fail(const char* fmt, ...)
{
    if (failed)
        return;
    failed = true;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
}

// ------------------------------------------------------- shared memory
static const size_t GUARD = 64;
static const unsigned char GUARD_BYTE = 0xA5;
static unsigned long long block_generation = 0;
struct SharedRecord { unsigned char* pre; unsigned char* post; size_t size; const char* name; };
static std::vector<SharedRecord> shared_records;
static size_t static_shared_bytes = 0;

template <class T> struct Shared {
    unsigned char pre[GUARD];
    T data;
    unsigned char post[GUARD];
    unsigned long long generation = ~0ULL;

    // The array for the running block: the first thread of a block to reach
    // the declaration fills it with garbage (0xFF bytes, NaN for floats, as
    // uninitialised shared memory) and arms its guards.
    T& claim(const char* name)
    {
        if (generation != block_generation) {
            generation = block_generation;
            memset(pre, GUARD_BYTE, GUARD);
            memset(post, GUARD_BYTE, GUARD);
            memset((void*)&data, 0xFF, sizeof(T));
            shared_records.push_back(SharedRecord{pre, post, sizeof(T), name});
            static_shared_bytes += sizeof(T);
        }
        return data;
    }
};

static std::vector<unsigned char> dynamic_buffer;
static size_t dynamic_size = 0;

static inline void* dynamic_shared()
{
    return dynamic_buffer.data() + GUARD;
}

static bool guards_intact(const unsigned char* p)
{
    for (size_t i = 0; i < GUARD; ++i)
        if (p[i] != GUARD_BYTE)
            return false;
    return true;
}

// ---------------------------------------------------------- scheduling
// Each thread of a block that reaches barriers is a coroutine on its own stack.
// On x86-64 the switch is a few instructions (callee-saved registers, the stack
// pointer, MXCSR and the x87 control word); elsewhere, or with
// -DTF_EMU_UCONTEXT, it is swapcontext (which also makes a system call).
enum State { READY, AT_BARRIER, DONE };
static const size_t STACK = 256 * 1024;
static long current = -1;
static bool coroutines = false;
static void (*thunk)(void**) = 0;
static void** thunk_args = 0;
static const char* kernel_name = "";
static std::vector<char*> stacks;

static char* stack_for(size_t t)
{
    while (stacks.size() <= t) {
        long page = sysconf(_SC_PAGESIZE);
        void* p = mmap(0, STACK + page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p == MAP_FAILED)
            return 0;
        mprotect(p, page, PROT_NONE);  // a stack overflow faults instead of corrupting
        stacks.push_back((char*)p + page);
    }
    return stacks[t];
}

#if defined(__x86_64__) && !defined(THF_EMU_UCONTEXT)
extern "C" void thf_emu_switch(void** save_sp, void* next_sp);
asm(".text\n"
    ".globl thf_emu_switch\n"
    ".hidden thf_emu_switch\n"
    ".type thf_emu_switch,@function\n"
    "thf_emu_switch:\n"
    "    pushq %rbp\n"
    "    pushq %rbx\n"
    "    pushq %r12\n"
    "    pushq %r13\n"
    "    pushq %r14\n"
    "    pushq %r15\n"
    "    subq $8, %rsp\n"
    "    stmxcsr (%rsp)\n"
    "    fnstcw 4(%rsp)\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    ldmxcsr (%rsp)\n"
    "    fldcw 4(%rsp)\n"
    "    addq $8, %rsp\n"
    "    popq %r15\n"
    "    popq %r14\n"
    "    popq %r13\n"
    "    popq %r12\n"
    "    popq %rbx\n"
    "    popq %rbp\n"
    "    ret\n"
    ".size thf_emu_switch, .-thf_emu_switch\n");

struct Thread { void* sp; State state; uint3 idx; };
static void* scheduler_sp = 0;
static std::vector<Thread> threads;
static void trampoline();

static void start(Thread& th, char* stack)
{
    // a frame that thf_emu_switch "returns" from into trampoline(), entered
    // with the stack aligned as after a call
    unsigned long long top = ((unsigned long long)(stack + STACK)) & ~15ULL;
    unsigned long long* sp = (unsigned long long*)(top - 16);
    sp[0] = (unsigned long long)&trampoline;
    for (int i = 1; i <= 6; ++i)
        sp[-i] = 0;  // rbp rbx r12 r13 r14 r15
    unsigned int csr[2];
    asm volatile("stmxcsr %0" : "=m"(csr[0]));
    asm volatile("fnstcw %0" : "=m"(csr[1]));
    memcpy(&sp[-7], csr, 8);
    th.sp = &sp[-7];
}

static inline void resume(Thread& th) { thf_emu_switch(&scheduler_sp, th.sp); }
static inline void yield_to_scheduler(Thread& th) { thf_emu_switch(&th.sp, scheduler_sp); }
#else
struct Thread { ucontext_t ctx; State state; uint3 idx; };
static ucontext_t scheduler;
static std::vector<Thread> threads;
static void trampoline();

static void start(Thread& th, char* stack)
{
    getcontext(&th.ctx);
    th.ctx.uc_stack.ss_sp = stack;
    th.ctx.uc_stack.ss_size = STACK;
    th.ctx.uc_link = &scheduler;
    makecontext(&th.ctx, trampoline, 0);
}

static inline void resume(Thread& th) { swapcontext(&scheduler, &th.ctx); }
static inline void yield_to_scheduler(Thread& th) { swapcontext(&th.ctx, &scheduler); }
#endif

static void trampoline()
{
    thunk(thunk_args);
    threads[current].state = DONE;
    yield_to_scheduler(threads[current]);  // never resumed
    abort();
}

// the k-th thread (or block) to run in a phase, for the launch's order:
// 0 forward, 1 reverse, 2 a pseudo-random permutation that changes per phase
static size_t pick(size_t k, size_t n, int order, unsigned long long salt)
{
    if (order == 1)
        return n - 1 - k;
    if (order == 2 && n > 1) {
        // an affine permutation k -> (a k + b) mod n with gcd(a, n) = 1
        unsigned long long a = (salt * 2654435761ULL + 1) % n;
        if (a == 0)
            a = 1;
        while (true) {
            unsigned long long x = a, y = n;
            while (y) { unsigned long long r = x % y; x = y; y = r; }
            if (x == 1)
                break;
            a = a % n + 1;
        }
        unsigned long long b = (salt * 40503ULL + 7) % n;
        return (size_t)((a * k + b) % n);
    }
    return k;
}

static uint3 thread_index(size_t t)
{
    uint3 idx;
    idx.x = (unsigned)(t % blockDim.x);
    idx.y = (unsigned)((t / blockDim.x) % blockDim.y);
    idx.z = (unsigned)(t / ((size_t)blockDim.x * blockDim.y));
    return idx;
}

static void run_block(size_t nthreads, int order, unsigned long long salt)
{
    if (!coroutines) {
        for (size_t k = 0; k < nthreads && !failed; ++k) {
            current = (long)pick(k, nthreads, order, salt);
            threadIdx = thread_index((size_t)current);
            thunk(thunk_args);
        }
        return;
    }
    if (threads.size() < nthreads)
        threads.resize(nthreads);
    for (size_t t = 0; t < nthreads; ++t) {
        Thread& th = threads[t];
        char* stack = stack_for(t);
        if (!stack) {
            fail("could not allocate a stack for thread %zu", t);
            return;
        }
        start(th, stack);
        th.state = READY;
        th.idx = thread_index(t);
    }
    for (unsigned long long phase = 0;; ++phase) {
        for (size_t k = 0; k < nthreads; ++k) {
            size_t t = pick(k, nthreads, order, salt * 1000003ULL + phase);
            if (threads[t].state == DONE)
                continue;
            current = (long)t;
            threadIdx = threads[t].idx;
            threads[t].state = READY;
            resume(threads[t]);
        }
        size_t waiting = 0, done = 0;
        for (size_t t = 0; t < nthreads; ++t) {
            if (threads[t].state == AT_BARRIER)
                ++waiting;
            else if (threads[t].state == DONE)
                ++done;
        }
        if (waiting == 0)
            return;
        if (done) {
            fail("kernel %s: divergent __syncthreads in block (%u, %u, %u): %zu threads wait at "
                 "a barrier that %zu threads of the block never reach (they returned)",
                 kernel_name, blockIdx.x, blockIdx.y, blockIdx.z, waiting, done);
            return;  // the waiting coroutines are abandoned (their stacks are reused)
        }
    }
}

static int launch(const char* name, void (*fn)(void**), void** args, unsigned gx, unsigned gy,
                  unsigned gz, unsigned bx, unsigned by, unsigned bz, size_t shared_mem,
                  int barriers, int order, char* err, size_t errlen)
{
    failed = false;
    message[0] = 0;
    kernel_name = name;
    thunk = fn;
    thunk_args = args;
    coroutines = barriers != 0;
    gridDim = dim3(gx, gy, gz);
    blockDim = dim3(bx, by, bz);
    dynamic_size = shared_mem;
    dynamic_buffer.assign(shared_mem + 2 * GUARD, 0);
    size_t nblocks = (size_t)gx * gy * gz, nthreads = (size_t)bx * by * bz;
    for (size_t k = 0; k < nblocks && !failed; ++k) {
        size_t b = pick(k, nblocks, order, 0x9E3779B9ULL);
        blockIdx.x = (unsigned)(b % gx);
        blockIdx.y = (unsigned)((b / gx) % gy);
        blockIdx.z = (unsigned)(b / ((size_t)gx * gy));
        ++block_generation;
        shared_records.clear();
        static_shared_bytes = 0;
        memset(dynamic_buffer.data(), GUARD_BYTE, GUARD);
        memset(dynamic_buffer.data() + GUARD, 0xFF, shared_mem);
        memset(dynamic_buffer.data() + GUARD + shared_mem, GUARD_BYTE, GUARD);
        run_block(nthreads, order, b + 1);
        for (size_t i = 0; i < shared_records.size() && !failed; ++i)
            if (!guards_intact(shared_records[i].pre) || !guards_intact(shared_records[i].post))
                fail("kernel %s wrote outside its __shared__ array %s (%zu bytes) in block "
                     "(%u, %u, %u)", name, shared_records[i].name, shared_records[i].size,
                     blockIdx.x, blockIdx.y, blockIdx.z);
        if (!failed && (!guards_intact(dynamic_buffer.data())
                        || !guards_intact(dynamic_buffer.data() + GUARD + shared_mem)))
            fail("kernel %s wrote outside its dynamic shared memory (shared_mem=%zu bytes) in "
                 "block (%u, %u, %u)", name, shared_mem, blockIdx.x, blockIdx.y, blockIdx.z);
        if (!failed && static_shared_bytes + shared_mem > 48 * 1024)
            fail("kernel %s uses %zu bytes of shared memory (%zu static + %zu dynamic), more "
                 "than the 48 KiB a launch gets without cudaFuncSetAttribute", name,
                 static_shared_bytes + shared_mem, static_shared_bytes, shared_mem);
    }
    current = -1;
    if (failed) {
        snprintf(err, errlen, "%s", message);
        return 1;
    }
    return 0;
}

}  // namespace thf_emu

static inline void __syncthreads()
{
    if (!thf_emu::coroutines) {
        thf_emu::fail("kernel %s called __syncthreads but the stand-in found no barrier in its "
                     "source, so it ran its threads one after the other", thf_emu::kernel_name);
        return;
    }
    thf_emu::threads[thf_emu::current].state = thf_emu::AT_BARRIER;
    thf_emu::yield_to_scheduler(thf_emu::threads[thf_emu::current]);
}

static inline void __threadfence() {}
static inline void __threadfence_block() {}

// ---- bit casts and fast-math intrinsics
static inline float __int_as_float(int v) { float f; memcpy(&f, &v, 4); return f; }
static inline int __float_as_int(float v) { int i; memcpy(&i, &v, 4); return i; }
static inline float __uint_as_float(unsigned int v) { float f; memcpy(&f, &v, 4); return f; }
static inline unsigned int __float_as_uint(float v) { unsigned int i; memcpy(&i, &v, 4); return i; }
static inline double __longlong_as_double(long long v) { double d; memcpy(&d, &v, 8); return d; }
static inline long long __double_as_longlong(double v) { long long i; memcpy(&i, &v, 8); return i; }
// glibc declares __expf and friends itself: CUDA's fast versions are macros here
#define __expf(x) expf(x)
#define __logf(x) logf(x)
#define __powf(x, y) powf(x, y)
static inline float __fdividef(float x, float y) { return x / y; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
static inline double rsqrt(double x) { return 1.0 / sqrt(x); }
static inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : x); }
static inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline float __fmul_rn(float a, float b) { return a * b; }
template <class A, class B>
static inline typename std::common_type<A, B>::type min(A a, B b) { return b < a ? b : a; }
template <class A, class B>
static inline typename std::common_type<A, B>::type max(A a, B b) { return a < b ? b : a; }

// ---- atomics: plain read-modify-write (threads never switch inside one)
template <class T> static inline T atomicAdd(T* p, typename thf_emu::same<T>::type v)
{ T old = *p; *p = old + v; return old; }
template <class T> static inline T atomicSub(T* p, typename thf_emu::same<T>::type v)
{ T old = *p; *p = old - v; return old; }
template <class T> static inline T atomicExch(T* p, typename thf_emu::same<T>::type v)
{ T old = *p; *p = v; return old; }
template <class T> static inline T atomicMax(T* p, typename thf_emu::same<T>::type v)
{ T old = *p; if (old < v) *p = v; return old; }
template <class T> static inline T atomicMin(T* p, typename thf_emu::same<T>::type v)
{ T old = *p; if (v < old) *p = v; return old; }
template <class T> static inline T atomicAnd(T* p, typename thf_emu::same<T>::type v)
{ T old = *p; *p = old & v; return old; }
template <class T> static inline T atomicOr(T* p, typename thf_emu::same<T>::type v)
{ T old = *p; *p = old | v; return old; }
template <class T> static inline T atomicXor(T* p, typename thf_emu::same<T>::type v)
{ T old = *p; *p = old ^ v; return old; }
template <class T>
static inline T atomicCAS(T* p, typename thf_emu::same<T>::type cmp, typename thf_emu::same<T>::type v)
{ T old = *p; if (old == cmp) *p = v; return old; }
static inline unsigned int atomicInc(unsigned int* p, unsigned int v)
{ unsigned int old = *p; *p = old >= v ? 0 : old + 1; return old; }
static inline unsigned int atomicDec(unsigned int* p, unsigned int v)
{ unsigned int old = *p; *p = (old == 0 || old > v) ? v : old - 1; return old; }
// ---- end of the emulation header; the kernel source follows ----
"""
