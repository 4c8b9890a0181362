/* Runtime dispatch for the vectorised C loops: a function marked THF_DISPATCH
 * is compiled three times, for baseline x86-64, x86-64-v3 (AVX2, FMA) and
 * x86-64-v4 (AVX-512), and the loader picks the best one the CPU runs. Wheels
 * stay portable (no -march=native). */
#ifndef THF_DISPATCH_H
#define THF_DISPATCH_H

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && __GNUC__ >= 12 && \
    !defined(THF_NO_DISPATCH)
#define THF_DISPATCH __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define THF_DISPATCH
#endif

#endif /* THF_DISPATCH_H */
