"""thinc_fast side by side with NumPy, Thinc and PyTorch (each when installed).

    python benchmarks/compare.py                # every row, 5 interleaved rounds
    python benchmarks/compare.py --rounds 3 --only gemm,adam
    python benchmarks/compare.py --only gemm_step,gemm_mixed --gap 1
    python benchmarks/compare.py --only spacy      # spaCy 3.8 on NumpyOps vs thinc_fast's backend

Contestants run interleaved, round after round, in one process, so that the
noise of a shared machine hits them alike. Each row prints the median, the
min-max and the ratio of the other contestants' median to thinc_fast's
(> 1 means thinc_fast is faster). Threads: 2 (or the CPUs this process may
use) for every library.
"""
import argparse
import itertools
import os
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy

try:  # imported by asv as benchmarks.compare
    from .mlp_configs import MLP_784_512_512_10, TOK2VEC_GEMMS
except ImportError:  # run as a script: python benchmarks/compare.py
    from mlp_configs import MLP_784_512_512_10, TOK2VEC_GEMMS

N_THREADS = min(2, len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else 2

import thinc_fast  # noqa: E402
from thinc_fast.api import Adam, Model, NumpyOps, Relu, Softmax, chain, minibatch  # noqa: E402
from thinc_fast.backends import _blis_arch, blis_info  # noqa: E402
from thinc_fast.backends.numpy_ops import gemm_config  # noqa: E402
from thinc_fast.backends.kernel_args import KernelScalars  # noqa: E402
from thinc_fast.backends.numpy_ops import stream_triad  # noqa: E402

thinc_fast.set_num_threads(N_THREADS)

try:
    import thinc.api as thinc_api
except ImportError:
    thinc_api = None
try:
    import torch

    torch.set_num_threads(N_THREADS)
except ImportError:
    torch = None


def timed(fn: Callable[[], None], inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


GAP_SECONDS = 2.0
IDLE_WAIT_SECONDS = 0.0
# The CPU's measured FMA peak, GFLOP/s, by thread count (set in main) and the
# figures a run gathers for its row in benchmarks/RESULTS.md (--record).
PEAK: Dict[int, float] = {}
SUMMARY: Dict[str, str] = {}


def of_peak(gflops: float, threads: int = 0) -> str:
    """`gflops` as a fraction of the measured peak of `threads` threads (default: all)."""
    peak = PEAK.get(threads or N_THREADS)
    return f"{gflops / peak:4.0%} of peak" if peak else ""


def _cpu_times():
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return sum(fields), fields[3] + fields[4]  # total, idle + iowait


def wait_for_idle(limit: float) -> None:
    """On a shared machine: wait (at most `limit` seconds) until the other
    processes leave the CPUs >= 90% idle over 0.2 s, so that a run is not
    timed while someone else's job holds a core. Off (0) by default; Linux."""
    if limit <= 0 or not os.path.exists("/proc/stat"):
        return
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        total0, idle0 = _cpu_times()
        time.sleep(0.2)
        total1, idle1 = _cpu_times()
        if total1 > total0 and (idle1 - idle0) / (total1 - total0) >= 0.9:
            return


ADAPT_WARM_CALLS = 32  # warm-up calls for a row of a few calls a round (bench_adam)


def run_interleaved(contestants: Dict[str, Callable[[], None]], rounds: int,
                    inner: int = 1, warmup: int = 1) -> Dict[str, List[float]]:
    """Round after round, each contestant once, after `warmup` untimed calls of
    each. A short idle gap separates
    them: OpenMP runtimes (PyTorch's, ours) keep their worker threads spinning
    for a while after a parallel region, and measured here the next library
    ran up to 2x slower for about two seconds after PyTorch's last call."""
    for fn in contestants.values():
        for _ in range(warmup):
            fn()
    times: Dict[str, List[float]] = {name: [] for name in contestants}
    for _ in range(rounds):
        for name, fn in contestants.items():
            time.sleep(GAP_SECONDS)
            wait_for_idle(IDLE_WAIT_SECONDS)
            if inner > 1:  # micro rows: ramp the cores up again after the idle gap
                timed(fn, inner)
            times[name].append(timed(fn, inner))
    return times


def report(title: str, times: Dict[str, List[float]], unit: str = "ms",
           extra: Callable[[str, float], str] = lambda name, t: "") -> None:
    scale = {"ms": 1e3, "us": 1e6, "s": 1.0}[unit]
    base = statistics.median(times["thinc_fast"])
    print(f"\n{title}")
    print(f"  {'contestant':<26} {'median':>10} {'min-max':>21} {'vs thinc_fast':>14}")
    for name, ts in times.items():
        med = statistics.median(ts)
        ratio = med / base
        print(f"  {name:<26} {med * scale:>8.3f}{unit:<2} {min(ts) * scale:>9.3f}-{max(ts) * scale:<9.3f}"
              f"   {ratio:>8.2f}x  {extra(name, med)}")


# --------------------------------------------------------------------- gemm
def bench_gemm(rounds: int) -> None:
    m, k, n = 128, 784, 512
    rng = numpy.random.default_rng(0)
    A = rng.standard_normal((m, k)).astype("f")
    B = rng.standard_normal((k, n)).astype("f")
    C = numpy.empty((m, n), dtype="f")
    ops = NumpyOps()
    contestants = {"thinc_fast": lambda: ops.gemm(A, B, out=C),
                   "numpy matmul": lambda: numpy.matmul(A, B, out=C)}
    if thinc_api is not None:
        t_ops = thinc_api.NumpyOps()
        contestants["thinc NumpyOps.gemm"] = lambda: t_ops.gemm(A, B, out=C)
    if torch is not None:
        tA, tB, tC = torch.from_numpy(A), torch.from_numpy(B), torch.from_numpy(C)
        contestants["torch mm"] = lambda: torch.mm(tA, tB, out=tC)
    flops = 2.0 * m * k * n
    times = run_interleaved(contestants, rounds, inner=50)
    report(f"sgemm {m}x{k}x{n} float32 ({N_THREADS} threads)", times, "us",
           lambda name, t: f"{flops / t / 1e9:6.0f} GFLOP/s  {of_peak(flops / t / 1e9)}")
    med = {name: statistics.median(ts) for name, ts in times.items()}
    SUMMARY["sgemm 128x784x512 vs NumPy"] = (
        f"{med['numpy matmul'] / med['thinc_fast']:.2f}x "
        f"({of_peak(flops / med['thinc_fast'] / 1e9).split()[0]})")


# ----------------------------------------------------------- gemm, MLP step
# Every gemm of one training step of the 784-512-512-10 MLP at batch 128, with
# the transposes the layers use (W is stored nO x nI): forward Y = X @ W.T,
# input gradient dX = dY @ W, weight gradient dW += dY.T @ X. The last field
# names the operands that come from the user's NumPy in a real step (the
# batch X[idx] and the loss gradient Yh - Y): the others are the model's
# (weights, gradients, activations), which thinc_fast allocates on 64-byte
# boundaries (NumPy's allocator gives 16). Both libraries get the same arrays.
STEP_GEMMS = [
    ("layer 1 forward", 128, 784, 512, "B^T", "A"),
    ("layer 2 forward", 128, 512, 512, "B^T", ""),
    ("output forward", 128, 512, 10, "B^T", ""),
    ("output dX", 128, 10, 512, "-", "A"),
    ("layer 2 dX", 128, 512, 512, "-", ""),
    ("layer 1 dX", 128, 512, 784, "-", ""),
    ("output dW", 10, 128, 512, "A^T", "A"),
    ("layer 2 dW", 512, 128, 512, "A^T", ""),
    ("layer 1 dW", 512, 128, 784, "A^T", "B"),
]


def _step_arrays(ops, m: int, k: int, n: int, trans: str, rng, users: str = "ABC"):
    """The operands of a STEP_GEMMS product as ``ops.gemm`` takes them:
    (A, B, trans1, trans2, C zeroed, beta: 1 for a weight gradient, which the
    layers accumulate). Operands named in `users` are NumPy's arrays, the
    others thinc_fast's (``ops.alloc``), as in a training step."""
    def array(name, shape):
        values = rng.standard_normal(shape).astype("f")
        if name in users:
            return values
        out = ops.alloc(shape, zeros=False)
        out[...] = values
        return out

    if trans == "B^T":    # X (m, k) @ W (n, k).T
        A, B, t1, t2 = array("A", (m, k)), array("B", (n, k)), False, True
    elif trans == "A^T":  # dY (k, m).T @ X (k, n)
        A, B, t1, t2 = array("A", (k, m)), array("B", (k, n)), True, False
    else:                 # dY (m, k) @ W (k, n)
        A, B, t1, t2 = array("A", (m, k)), array("B", (k, n)), False, False
    C = array("C", (m, n))
    C[...] = 0
    return A, B, t1, t2, C, 1.0 if trans == "A^T" else 0.0


def step_gemm_operands(m: int, k: int, n: int, trans: str, rng, users: str = "ABC"):
    """(ours, numpy's) closures computing the same product on the same views
    (see _step_arrays and STEP_GEMMS)."""
    ops = NumpyOps()
    A, B, t1, t2, C, beta = _step_arrays(ops, m, k, n, trans, rng, users)
    a, b, C2 = A.T if t1 else A, B.T if t2 else B, numpy.zeros((m, n), "f")
    ours = lambda: ops.gemm(A, B, out=C, trans1=t1, trans2=t2, beta=beta)  # noqa: E731
    theirs = lambda: numpy.matmul(a, b, out=C2)  # noqa: E731
    return ours, theirs


def _inner(flops: float) -> int:
    """Calls per timed sample of a product of `flops`: about 2 GFLOP of work,
    so that every product's sample lasts ~5 ms on a core, the small ones too.
    With at most 400 calls, a 1.3 MFLOP output-layer product's sample lasted
    1.4 ms, and one scheduling hiccup of the VM (a worker off its CPU for a
    millisecond) cut it deeply: on the 2-vCPU Zen 5 the output forward
    (128x512x10) read 287-343 GFLOP/s across rounds and its dX 229-324, where
    200-call windows (0.7 ms) of the forward run back to back read 340-414 in
    63 of 64 and 258 in one."""
    return max(20, min(4000, int(2e9 / flops)))


def _threads_used(fn: Callable[[], None], calls: int = 64) -> int:
    """The threads `fn` (one product) runs on now: N_THREADS when most of its
    calls ran as jobs on the worker pool, else 1 (the adaptive split ran it
    alone: its size class measured faster that way)."""
    before = gemm_config()["pool_jobs"]
    for _ in range(calls):
        fn()
    jobs = gemm_config()["pool_jobs"] - before
    return N_THREADS if jobs * 2 >= calls else 1


def _timed_step_gemms(rounds: int, rng, products=STEP_GEMMS):
    """For each product of `products` (STEP_GEMMS' form), ours and
    numpy.matmul timed in interleaved rounds (at the thread counts set now):
    yields label, m, k, n, trans, our closure, flops, {"thinc_fast": median,
    "numpy": median} and the two "GFLOP/s (min-max)" table cells."""
    for label, m, k, n, trans, users in products:
        ours, theirs = step_gemm_operands(m, k, n, trans, rng, users)
        flops = 2.0 * m * k * n
        times = run_interleaved({"thinc_fast": ours, "numpy": theirs}, rounds, inner=_inner(flops))
        med = {name: statistics.median(ts) for name, ts in times.items()}
        cells = "".join(f" {flops / med[name] / 1e9:7.1f} ({flops / max(ts) / 1e9:5.0f}-"
                        f"{flops / min(ts) / 1e9:4.0f})" for name, ts in times.items())
        yield label, m, k, n, trans, ours, flops, med, cells


#: TOK2VEC_GEMMS in STEP_GEMMS' form: spaCy's own arrays (NumPy's) on both sides
TOK2VEC_PRODUCTS = [g + ("ABC",) for g in TOK2VEC_GEMMS]


def bench_gemm_step(rounds: int) -> None:
    """Each gemm of the step alone: ours and numpy.matmul interleaved, after a gap."""
    _gemms_vs_numpy(rounds, "every gemm of one 784-512-512-10 step at batch 128", STEP_GEMMS,
                    "MLP step gemms")


def bench_gemm_tok2vec(rounds: int) -> None:
    """The gemms of a Maxout layer of spaCy's default tok2vec (TOK2VEC_GEMMS),
    as gemm_step times the MLP's."""
    _gemms_vs_numpy(rounds, "every gemm of a Maxout layer of spaCy's tok2vec (600 and 2000 "
                    "words a batch)", TOK2VEC_PRODUCTS, "spaCy tok2vec gemms")


def _gemms_vs_numpy(rounds: int, title: str, products, name: str) -> None:
    rng = numpy.random.default_rng(0)
    print(f"\n{title}, {N_THREADS} threads, "
          f"GFLOP/s median (min-max) of {rounds} interleaved rounds; ratio = ours / NumPy;\n"
          f"  ops.gemm(..., trans1=, trans2=) (dW with beta=1) vs numpy.matmul on the same views")
    print(f"  ours of peak: of the measured peak of the threads the product ran on (thr: "
          f"{N_THREADS} when it split, 1 when it ran alone as its size class measured faster)")
    print(f"  {'gemm':<20} {'m x k x n':>13} {'op':>4} {'thinc_fast':>22} {'numpy matmul':>22} "
          f"{'ratio':>6} {'thr':>3} {'ours of peak':>13}")
    ratios, fractions = [], []
    for label, m, k, n, trans, ours, flops, med, cells in _timed_step_gemms(rounds, rng, products):
        threads = _threads_used(ours)
        ratio = med["numpy"] / med["thinc_fast"]
        ratios.append(ratio)
        fraction = ""
        if PEAK:
            share = flops / med["thinc_fast"] / 1e9 / PEAK[threads]
            fractions.append(share)
            fraction = f"{share:.0%}"
        print(f"  {label:<20} {f'{m}x{k}x{n}':>13} {trans:>4}{cells} {ratio:6.2f} {threads:>3} "
              f"{fraction:>13}", flush=True)
    geomean = statistics.geometric_mean(ratios)
    print(f"  geometric mean of the ratios: {geomean:.2f} (lowest {min(ratios):.2f})")
    SUMMARY[f"{name} vs NumPy: geomean / worst"] = f"{geomean:.2f}x / {min(ratios):.2f}x"
    if PEAK:
        SUMMARY[f"{name}, of peak"] = f"{min(fractions):.0%}-{max(fractions):.0%}"


def bench_gemm_step_one_thread(rounds: int) -> None:
    """The step's gemms with each library on one thread (ours by
    set_num_threads(1), OpenBLAS by threadpoolctl), each as a fraction of the
    one-thread FMA peak: how near the limit the kernels themselves run, apart
    from how the second core helps (gemm_step)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("\ngemm_step1: needs threadpoolctl (pip install threadpoolctl) to hold NumPy's "
              "BLAS to one thread; skipped")
        return
    rng = numpy.random.default_rng(0)
    print(f"\nevery gemm of the step, each library on ONE thread, GFLOP/s median (min-max) of "
          f"{rounds} interleaved rounds; of peak: of the one-thread FMA peak")
    print(f"  {'gemm':<16} {'m x k x n':>13} {'op':>4} {'thinc_fast':>22} {'numpy matmul':>22} "
          f"{'ratio':>6} {'ours':>5} {'numpy':>5}")
    ours_share, numpy_share = [], []
    thinc_fast.set_num_threads(1)
    try:
        with threadpool_limits(1, user_api="blas"):
            for label, m, k, n, trans, _, flops, med, cells in _timed_step_gemms(rounds, rng):
                shares = ""
                if PEAK:
                    a, b = (flops / med[name] / 1e9 / PEAK[1] for name in ("thinc_fast", "numpy"))
                    ours_share.append(a)
                    numpy_share.append(b)
                    shares = f" {a:5.0%} {b:5.0%}"
                print(f"  {label:<16} {f'{m}x{k}x{n}':>13} {trans:>4}{cells} "
                      f"{med['numpy'] / med['thinc_fast']:6.2f}{shares}", flush=True)
    finally:
        thinc_fast.set_num_threads(N_THREADS)
    if ours_share:
        SUMMARY["MLP step gemms on one thread, of its peak: ours / NumPy"] = (
            f"{min(ours_share):.0%}-{max(ours_share):.0%} / "
            f"{min(numpy_share):.0%}-{max(numpy_share):.0%}")


def _gemm_parts(ops, m: int, k: int, n: int, trans: str, users: str, parts: int, rng):
    """A product of STEP_GEMMS as one closure for the whole, and `parts`
    closures that each compute a block of C's columns, the blocks together the
    whole."""
    A, B, t1, t2, C, beta = _step_arrays(ops, m, k, n, trans, rng, users)

    def product(b, out):
        return lambda: ops.gemm(A, b, out=out, trans1=t1, trans2=t2, beta=beta)

    edges = [n * i // parts for i in range(parts + 1)]  # B's rows when transposed, else columns
    blocks = [product(B[lo:hi] if t2 else B[:, lo:hi], C[:, lo:hi])
              for lo, hi in zip(edges, edges[1:])]
    return product(B, C), blocks


def _on_one_thread(timing: Callable[[], float]) -> float:
    """`timing()` with thinc_fast's kernels on one thread."""
    thinc_fast.set_num_threads(1)
    try:
        return timing()
    finally:
        thinc_fast.set_num_threads(N_THREADS)


def _timed_free(blocks: List[Callable[[], None]], inner: int) -> float:
    """Each closure on its own thread, `inner` calls each, all at once and
    never waiting for one another: seconds per call of them all."""
    ready = threading.Barrier(len(blocks) + 1)

    def work(fn):
        ready.wait()
        for _ in range(inner):
            fn()

    threads = [threading.Thread(target=work, args=(fn,)) for fn in blocks]
    for t in threads:
        t.start()
    ready.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return (time.perf_counter() - start) / inner


def bench_gemm_scaling(rounds: int) -> None:
    """How much the second thread adds to each large gemm of the MLP step and
    of spaCy's tok2vec (TOK2VEC_GEMMS): ours on one thread, ours split over
    N_THREADS (as a user's call runs), and the machine's own reference,
    N_THREADS threads each computing its block of C's columns on one thread,
    free-running (no product waits for another: what independent work on
    these cores gives). split / free is what the split's per-product
    synchronisation and the pool's policies cost."""
    if N_THREADS < 2:
        print("\ngemm_scaling: needs 2 or more CPUs; skipped")
        return
    rng = numpy.random.default_rng(2)
    ops = NumpyOps()
    groups = {  # the output layer's products are too small to split well
        "step gemms": [g for g in STEP_GEMMS if 2.0 * g[1] * g[2] * g[3] >= 5e7],
        "spaCy tok2vec gemms": TOK2VEC_PRODUCTS}
    print(f"\nthe large gemms of the MLP step and of spaCy's tok2vec on 1 thread, split over "
          f"{N_THREADS} (ours),\n  and as {N_THREADS} free-running threads each on its block of "
          f"columns (ours on one thread each);\n"
          f"  GFLOP/s, medians of {rounds} interleaved rounds; of peak: of the {N_THREADS}-thread peak")
    print(f"  {'gemm':<20} {'m x k x n':>13} {'op':>4} {'1 thread':>9} {'split':>7} {'free':>7} "
          f"{'split/1':>8} {'free/1':>7} {'split/free':>11} {'split of peak':>14}")
    for group, products in groups.items():
        split_gain, free_gain = [], []
        for label, m, k, n, trans, users in products:
            flops = 2.0 * m * k * n
            whole, blocks = _gemm_parts(ops, m, k, n, trans, users, N_THREADS, rng)
            inner = _inner(flops)
            ways = {"one": lambda: _on_one_thread(lambda: timed(whole, inner)),
                    "split": lambda: timed(whole, inner),
                    "free": lambda: _on_one_thread(lambda: _timed_free(blocks, inner))}
            samples: Dict[str, List[float]] = {name: [] for name in ways}
            for _ in range(rounds):
                for name, way in ways.items():
                    time.sleep(GAP_SECONDS)
                    wait_for_idle(IDLE_WAIT_SECONDS)
                    way()  # ramp the cores up again after the idle gap
                    samples[name].append(way())
            rate = {name: flops / statistics.median(ts) / 1e9 for name, ts in samples.items()}
            split_gain.append(rate["split"] / rate["one"])
            free_gain.append(rate["free"] / rate["one"])
            share = f"{rate['split'] / PEAK[N_THREADS]:.0%}" if PEAK else ""
            print(f"  {label:<20} {f'{m}x{k}x{n}':>13} {trans:>4} {rate['one']:9.1f} "
                  f"{rate['split']:7.1f} {rate['free']:7.1f} {split_gain[-1]:7.2f}x "
                  f"{free_gain[-1]:6.2f}x {rate['split'] / rate['free']:10.2f}x {share:>14}",
                  flush=True)
        SUMMARY[f"{group}, {N_THREADS} threads over 1: ours split / free-running blocks"] = (
            f"{min(split_gain):.2f}-{max(split_gain):.2f}x / "
            f"{min(free_gain):.2f}-{max(free_gain):.2f}x")


def bench_gemm_mixed(rounds: int) -> None:
    """Each gemm of the step right after a numpy.matmul of the same shape (as when
    a user's code uses NumPy between steps) against the same gemm alone: only
    ours is timed. ratio = after NumPy / alone (1.0: NumPy's threads cost nothing).
    Both are timed after the same ramp-up (one untimed run of the same loop), so
    the ratio is that of a process that keeps alternating, not of its first calls."""
    rng = numpy.random.default_rng(1)
    print(f"\nthe same gemms, each right after a numpy.matmul (only ours timed) vs alone, "
          f"{N_THREADS} threads, us median (min-max) of {rounds} interleaved rounds")
    print(f"  {'gemm':<16} {'m x k x n':>13} {'alone':>22} {'after NumPy':>22} {'ratio':>6}")
    worst = 0.0
    for label, m, k, n, trans, users in STEP_GEMMS:
        ours, theirs = step_gemm_operands(m, k, n, trans, rng, users)
        inner = _inner(2.0 * m * k * n)
        alone: List[float] = []
        mixed: List[float] = []
        ours(), theirs()
        for _ in range(rounds):
            time.sleep(GAP_SECONDS)
            wait_for_idle(IDLE_WAIT_SECONDS)
            timed(ours, inner)  # ramp up after the gap
            alone.append(timed(ours, inner))
            time.sleep(GAP_SECONDS)
            wait_for_idle(IDLE_WAIT_SECONDS)
            for _ in range(inner):  # ramp up after the gap, as for `alone`
                theirs()
                ours()
            total = 0.0
            for _ in range(inner):
                theirs()
                start = time.perf_counter()
                ours()
                total += time.perf_counter() - start
            mixed.append(total / inner)
        a, b = statistics.median(alone), statistics.median(mixed)
        worst = max(worst, b / a)
        print(f"  {label:<16} {f'{m}x{k}x{n}':>13} {a * 1e6:8.1f} ({min(alone) * 1e6:5.0f}-"
              f"{max(alone) * 1e6:5.0f}) {b * 1e6:8.1f} ({min(mixed) * 1e6:5.0f}-"
              f"{max(mixed) * 1e6:5.0f}) {b / a:6.2f}", flush=True)
    print(f"  worst ratio: {worst:.2f}")
    SUMMARY["beside NumPy (after a NumPy matmul / alone), worst"] = f"{worst:.2f}x"


# --------------------------------------------------------------------- adam
def bench_adam(rounds: int) -> None:
    n_tensors, size = 200, 50_000
    total = n_tensors * size
    rng = numpy.random.default_rng(0)
    init = [rng.standard_normal(size).astype("f") for _ in range(n_tensors)]

    def make_model(use_averages: bool):
        params = {f"p{i}": init[i] for i in range(n_tensors)}
        model = Model("bench", lambda model, X, is_train: (X, lambda dY: dY), params=params)
        model.initialize()
        for i in range(n_tensors):
            model.inc_grad(f"p{i}", init[i] * 0.01)
        return model, Adam(0.001, use_averages=use_averages)

    with_avg, opt_avg = make_model(True)
    no_avg, opt_plain = make_model(False)
    contestants = {"thinc_fast": lambda: with_avg.finish_update(opt_avg),
                   "thinc_fast (no averages)": lambda: no_avg.finish_update(opt_plain)}
    if thinc_api is not None:
        thinc_opt = thinc_api.Adam(0.001)
        t_w = [a.copy() for a in init]
        t_g = [a * 0.01 for a in init]

        def thinc_step():
            for i in range(n_tensors):
                thinc_opt((i, "W"), t_w[i], t_g[i])

        contestants["thinc Adam"] = thinc_step
    if torch is not None:
        params = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
        for p in params:
            p.grad = p.detach() * 0.01
        for label, kwargs in (("torch Adam fused", {"fused": True}), ("torch Adam foreach", {"foreach": True})):
            try:
                torch_opt = torch.optim.Adam(params, lr=0.001, **kwargs)
                torch_opt.step()
                contestants[label] = torch_opt.step
            except (RuntimeError, TypeError) as err:
                print(f"  ({label} unavailable: {err})")
    a, b, c = (numpy.ones(total, dtype="f") for _ in range(3))
    contestants["triad (same bytes as 1 stream)"] = lambda: stream_triad(a, b, c, 0.5)
    # thinc_fast's adaptive split settles each size class in its first ~25
    # calls (8 timed samples each way, in bursts: adapt_split.h), and until
    # then half of them run on one thread; run_interleaved's single warm-up
    # call left this row's 10M-value loops (Adam, the triad) timing those:
    # 3.4 ms in one run, 5.8 in the next (one thread). A training run makes
    # thousands of steps, so time the steady state; every contestant gets the
    # same warm-up.
    times = run_interleaved(contestants, rounds, inner=5, warmup=ADAPT_WARM_CALLS)
    triad_time = statistics.median(times["triad (same bytes as 1 stream)"])
    # the triad's traffic is 4 streams, not 3: its ordinary stores read each
    # line of `a` before writing it (write-allocate). Counted as 3, the 2-vCPU
    # Zen 3 VM's triad read 23-29 GB/s and Adam "160-170% of triad"; Adam's
    # streams below have no such read (each line it writes it has just read).
    triad_bw = 4 * 4 * total / triad_time
    # fused Adam streams: read w, g, m, v (+ema), write w, g, m, v (+ema), plus the norm pass over g
    streams = {"thinc_fast": 11, "thinc_fast (no averages)": 9}

    def extra(name: str, t: float) -> str:
        if name not in streams:
            return ""
        moved = streams[name] * 4 * total
        return (f"{moved / t / 1e9:5.1f} GB/s = {100 * moved / t / triad_bw:3.0f}% of triad; "
                f"{t / (moved / triad_bw):.2f}x a triad pass over its bytes")

    report(f"Adam step, {total / 1e6:.0f}M params in {n_tensors} tensors "
           f"(triad: {triad_bw / 1e9:.1f} GB/s)", times, "ms", extra)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    # the "C multi-tensor loop" is read two ways: the memory limit (a
    # triad pass over the same bytes, the floor any C loop has) and, where
    # PyTorch is installed, its fused multi-tensor Adam; like for like with the
    # latter is Adam without averages (PyTorch keeps none)
    adam = f"{med['thinc_fast'] / (streams['thinc_fast'] * 4 * total / triad_bw):.2f}x a triad pass"
    if "torch Adam fused" in med:
        adam += (f", no averages vs torch fused "
                 f"{med['torch Adam fused'] / med['thinc_fast (no averages)']:.2f}x")
    SUMMARY["Adam 10M in 200 tensors"] = adam


# ---------------------------------------------------------------------- mlp
def mnist_like(n: int = 60_000):
    rng = numpy.random.default_rng(0)
    X = rng.random((n, 784), dtype="float32")
    labels = rng.integers(0, 10, n)
    Y = numpy.eye(10, dtype="float32")[labels]
    return X, Y, labels


def bench_mlp(hidden: List[int], batch: int, rounds: int, data) -> None:
    X, Y, labels = data
    n = len(X)
    order = numpy.arange(n)
    contestants = {}

    model = chain(*[Relu(h) for h in hidden], Softmax())
    model.initialize(X=X[:5], Y=Y[:5])
    opt = Adam(0.001)

    def fast_epoch():
        for idx in minibatch(order, size=batch):
            Yh, backprop = model.begin_update(X[idx])
            backprop(Yh - Y[idx])
            model.finish_update(opt)

    contestants["thinc_fast"] = fast_epoch

    # thinc_fast's own step (what `thinc-fast train` and the Ray rows run): the
    # same updates, without the input's gradient (dX of the first layer), which
    # the loop above computes and drops, as Thinc's does
    from thinc_fast.loss import SummedCrossentropy
    from thinc_fast.step import train_step

    step_model = chain(*[Relu(h) for h in hidden], Softmax())
    step_model.initialize(X=X[:5], Y=Y[:5])
    step_opt, step_loss = Adam(0.001), SummedCrossentropy()

    def step_epoch():
        for idx in minibatch(order, size=batch):
            train_step(step_model, step_opt, X[idx], Y[idx], step_loss)

    contestants["thinc_fast train_step"] = step_epoch
    if thinc_api is not None:
        t_model = thinc_api.chain(*[thinc_api.Relu(h) for h in hidden], thinc_api.Softmax())
        t_model.initialize(X=X[:5], Y=Y[:5])
        thinc_opt = thinc_api.Adam(0.001)

        def thinc_epoch():
            for idx in t_model.ops.minibatch(batch, order):
                Yh, backprop = t_model.begin_update(X[idx])
                backprop(Yh - Y[idx])
                t_model.finish_update(thinc_opt)

        contestants["thinc (default ops)"] = thinc_epoch
    if torch is not None:
        layers, width = [], 784
        for h in hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
            width = h
        layers.append(torch.nn.Linear(width, 10))
        net = torch.nn.Sequential(*layers)
        tX, tlabels = torch.from_numpy(X), torch.from_numpy(labels)
        for label, kwargs in (("torch fused Adam", {"fused": True}), ("torch Adam", {})):
            try:
                t_opt = torch.optim.Adam(net.parameters(), lr=0.001, **kwargs)
            except (RuntimeError, TypeError):
                continue

            def torch_epoch(t_opt=t_opt):
                # the same batches, read the same way: a gather by index, as
                # a shuffled epoch reads them (and as the other contestants do)
                for idx in minibatch(order, size=batch):
                    rows = torch.from_numpy(idx)
                    xb, yb = tX[rows], tlabels[rows]
                    t_opt.zero_grad(set_to_none=False)
                    loss = torch.nn.functional.cross_entropy(net(xb), yb, reduction="sum")
                    loss.backward()
                    t_opt.step()

            contestants[label] = torch_epoch
    clock = gemm_config()
    times = run_interleaved(contestants, rounds)
    clock_after = gemm_config()
    shape = "-".join(map(str, [784] + hidden + [10]))
    widths = [784] + hidden + [10]
    # forward, input gradient and weight gradient: 3 gemms of 2 * n * nI * nO each
    epoch_flops = 6.0 * n * sum(a * b for a, b in zip(widths, widths[1:]))
    report(f"one epoch, MLP {shape}, batch {batch}, {n} examples, Adam(0.001) "
           f"({epoch_flops / 1e9:.0f} GFLOP of gemm)", times, "s",
           lambda name, t: f"{epoch_flops / t / 1e9:6.0f} GFLOP/s  {of_peak(epoch_flops / t / 1e9)}")
    tries = clock_after["step_tries"] - clock["step_tries"]
    if tries:
        won = clock_after["step_tries_won_by_one"] - clock["step_tries_won_by_one"]
        print(f"  thinc_fast's step clock: {won} of {tries} tries kept one thread "
              f"(last: {clock_after['step_all_us']:.0f} us a step on {N_THREADS} threads, "
              f"{clock_after['step_one_us']:.0f} us on one)")
    med = {name: statistics.median(ts) for name, ts in times.items()}
    if "torch fused Adam" in med:
        SUMMARY[f"MLP {shape} b{batch} epoch vs torch fused"] = (
            f"{med['torch fused Adam'] / med['thinc_fast']:.2f}x "
            f"({of_peak(epoch_flops / med['thinc_fast'] / 1e9).split()[0]})")
        SUMMARY[f"MLP {shape} b{batch} train_step epoch vs torch fused"] = (
            f"{med['torch fused Adam'] / med['thinc_fast train_step']:.2f}x")


# ---------------------------------------------------------------------- ray
RAY_CONFIG = MLP_784_512_512_10
RAY_STEPS = 40  # steps per timed run of each data-parallel contestant


def _ddp_worker(rank: int, world: int, port: int, batch: int, conn) -> None:
    """A PyTorch DDP (gloo) process of the Ray rows: the same MLP, Adam, a
    summed cross-entropy; runs `n` steps when asked, answers with the time."""
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512),
                              torch.nn.ReLU(), torch.nn.Linear(512, 10))
    model = torch.nn.parallel.DistributedDataParallel(net)
    opt = torch.optim.Adam(model.parameters(), lr=0.001)
    X, _, labels = mnist_like(20_000)
    tX, tl = torch.from_numpy(X), torch.from_numpy(labels)
    conn.send("ready")
    while True:
        n = conn.recv()
        if n is None:
            break
        start = time.perf_counter()
        for step in range(n):
            lo = ((step * world + rank) * batch) % (len(X) - batch)
            opt.zero_grad(set_to_none=False)
            loss = torch.nn.functional.cross_entropy(model(tX[lo:lo + batch]), tl[lo:lo + batch],
                                                     reduction="sum")
            loss.backward()
            opt.step()
        dist.barrier()
        conn.send(time.perf_counter() - start)
    dist.destroy_process_group()


class _DDP:
    """`world` persistent DDP processes, started once, timed round after round."""

    def __init__(self, world: int, batch: int) -> None:
        import multiprocessing
        import socket

        ctx = multiprocessing.get_context("spawn")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.pipes, self.procs = [], []
        for rank in range(world):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_ddp_worker, args=(rank, world, port, batch, child),
                               daemon=True)
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)
        for pipe in self.pipes:
            assert pipe.recv() == "ready"

    def run(self, n: int) -> None:
        for pipe in self.pipes:
            pipe.send(n)
        for pipe in self.pipes:
            pipe.recv()

    def close(self) -> None:
        for pipe in self.pipes:
            pipe.send(None)
        for proc in self.procs:
            proc.join(timeout=10)


def bench_ray(rounds: int, data) -> None:
    """Data-parallel rows: examples/s of one process (1 and 2 threads), 1 and 2
    Ray workers (1 thread each, GLOO allreduce of the gradient arena, or the
    object store without torch), PyTorch DDP gloo with 1 and 2 processes (when
    torch is installed), all on the 784-512-512-10 MLP with Adam and 128
    examples per worker; then the allreduce of the arena alone and the
    projection to 16 nodes at 10 Gbit/s."""
    try:
        import ray
    except ImportError:
        print("\n(ray not installed: no data-parallel rows)")
        return
    from thinc_fast.api import Config, registry
    from thinc_fast.distributed import Plan, RayTrainer
    from thinc_fast.distributed.ray import start_local_cluster
    from thinc_fast.loss import SummedCrossentropy
    from thinc_fast.step import train_step

    X, Y, _ = data
    X, Y = X[:20_000], Y[:20_000]
    batch = 128
    rng = numpy.random.default_rng(0)
    order = rng.permutation(len(X))

    def build():
        resolved = registry.resolve(Config().from_str(RAY_CONFIG))
        model, opt = resolved["model"], resolved["optimizer"]
        model.initialize(X=X[:5], Y=Y[:5])
        return model, opt

    def in_process(threads: int, size: int):
        model, opt = build()
        loss = SummedCrossentropy()
        pos = [0]

        def run():
            thinc_fast.set_num_threads(threads)
            for _ in range(RAY_STEPS):
                idx = order[pos[0]:pos[0] + size]
                pos[0] = (pos[0] + size) % (len(X) - size)
                train_step(model, opt, X[idx], Y[idx], loss)
            thinc_fast.set_num_threads(N_THREADS)
        return run

    contestants: Dict[str, Callable[[], None]] = {
        "1 process, 1 thread": in_process(1, batch),
        "1 process, 2 threads": in_process(2, 2 * batch),
    }
    examples = {"1 process, 1 thread": batch, "1 process, 2 threads": 2 * batch}
    # one CPU per worker of the 1- and 2-worker trainers, which sit idle in turn
    start_local_cluster(ray, num_cpus=N_THREADS + 1)
    trainers = []
    ddps: List[_DDP] = []
    try:
        for workers in (1, 2):
            if workers > N_THREADS:
                continue
            model, opt = build()
            trainer = RayTrainer(RAY_CONFIG, model, opt, X, Y, workers, on_failure="shrink",
                                 plan=Plan(shards=workers, shard_size=batch, threads=1),
                                 log=lambda line: None)
            trainers.append(trainer)
            name = f"{workers} Ray worker{'s' if workers > 1 else ''} x 1 thread" + (
                f" ({trainer.exchange})" if workers > 1 else "")

            def run(trainer=trainer, workers=workers):
                size = batch * workers
                start = rng.integers(0, len(X) - size, RAY_STEPS)
                trainer.run([order[s:s + size] for s in start])
            contestants[name] = run
            examples[name] = batch * workers
        if torch is not None:
            for world in (1, 2):
                if world > N_THREADS:
                    continue
                ddp = _DDP(world, batch)
                ddps.append(ddp)
                name = f"PyTorch DDP gloo, {world} process{'es' if world > 1 else ''}"
                contestants[name] = lambda ddp=ddp: ddp.run(RAY_STEPS)
                examples[name] = batch * world
        times = run_interleaved(contestants, rounds)
        rates = {name: examples[name] * RAY_STEPS / statistics.median(ts)
                 for name, ts in times.items()}
        print(f"\ndata-parallel, MLP 784-512-512-10, Adam, {batch} examples per worker, "
              f"{RAY_STEPS} steps per run, examples/s median (min-max) of {rounds} interleaved "
              f"rounds; {os.cpu_count()} CPUs")
        for name, ts in times.items():
            lo = examples[name] * RAY_STEPS / max(ts)
            hi = examples[name] * RAY_STEPS / min(ts)
            print(f"  {name:<36} {rates[name]:9.0f}  ({lo:.0f}-{hi:.0f})")
        two = [n for n in rates if n.startswith("2 Ray workers")]
        one = "1 Ray worker x 1 thread"
        if two:
            ratio = rates[two[0]] / rates["1 process, 2 threads"]
            print(f"  2 workers / 1 process with 2 threads: {ratio:.2f}x")
            if one in rates:
                print(f"  scaling efficiency, 2 Ray workers: {rates[two[0]] / (2 * rates[one]):.2f}")
        ddp2, ddp1 = "PyTorch DDP gloo, 2 processes", "PyTorch DDP gloo, 1 process"
        if ddp2 in rates and ddp1 in rates:
            print(f"  scaling efficiency, PyTorch DDP:  {rates[ddp2] / (2 * rates[ddp1]):.2f}")
        # the allreduce of the arena alone, and what it means for more nodes
        big = [t for t in trainers if len(t.workers) == 2 and t.exchange == "gloo"]
        if big:
            trainer = big[0]
            n_bytes = trainer.model.arena.grads.nbytes
            per = ray.get([w.time_allreduce.remote(50) for w in trainer.workers])
            t_ar = statistics.median(per[0][5:])
            bus = n_bytes / t_ar  # 2 (N-1)/N = 1 for N = 2
            t_compute = batch / rates[one] if one in rates else batch / rates["1 process, 1 thread"]
            print(f"  allreduce of the {n_bytes / 1e6:.2f} MB gradient arena, 2 workers (GLOO, "
                  f"loopback): {t_ar * 1e3:.2f} ms median ({min(per[0]) * 1e3:.2f}-"
                  f"{max(per[0]) * 1e3:.2f}); {bus / 1e9:.2f} GB/s bus bandwidth")
            link = 10e9 / 8
            cells = []
            for nodes in (2, 4, 8, 16):
                ring = 2 * (nodes - 1) / nodes * n_bytes / link
                cells.append(f"{nodes}: {t_compute / (t_compute + ring):.2f}")
            print(f"  projected efficiency at 10 Gbit/s (ring allreduce, {t_compute * 1e3:.1f} ms "
                  f"of compute per step, no overlap), nodes: " + ", ".join(cells))
    finally:
        for ddp in ddps:
            ddp.close()
        for trainer in trainers:
            trainer.shutdown()
        ray.shutdown()


def bench_ray_text(rounds: int) -> None:
    """Data-parallel text models: words/s of the textcat and tagger configs
    (thinc_fast init-config --model ...) on generated documents, one process
    with 2 threads at a global batch of 2 x B documents against 2 Ray
    workers (1 thread each) taking B documents each, for B = 32 (the
    configs' batch_size) and 128."""
    try:
        import ray
    except ImportError:
        print("\n(ray not installed: no data-parallel text rows)")
        return
    from thinc_fast.api import Config, registry
    from thinc_fast.datasets.text import (conllu_tagger, jsonl_textcat, make_tagger_docs,
                                          make_textcat_docs, write_conllu, write_jsonl)
    from thinc_fast.distributed import Plan, RayTrainer
    from thinc_fast.distributed.ray import replica_config, start_local_cluster
    from thinc_fast.loss import SummedCrossentropy
    from thinc_fast.step import train_step
    from thinc_fast.training.batching import take
    from thinc_fast.training.text_configs import TAGGER_CONFIG, TEXTCAT_CONFIG

    if N_THREADS < 2:
        print("\n(one CPU: no data-parallel text rows)")
        return
    import tempfile

    folder = Path(tempfile.mkdtemp())
    docs, labels = make_textcat_docs(4000, n_classes=3, seed=0)
    textcat = jsonl_textcat(str(write_jsonl(folder / "t.jsonl", docs, labels)), dev_fraction=0.01)
    docs, tags = make_tagger_docs(3000, n_tags=5, seed=0)
    tagger = conllu_tagger(str(write_conllu(folder / "t.conllu", docs, tags)), dev_fraction=0.01)
    steps = 30
    start_local_cluster(ray, num_cpus=N_THREADS + 1)
    trainers = []
    try:
        for batch, (kind, config, (X, Y, _, _)) in itertools.product(
                (32, 128), (("textcat", TEXTCAT_CONFIG, textcat), ("tagger", TAGGER_CONFIG, tagger))):
            config = replica_config(config)
            rng = numpy.random.default_rng(0)
            words = [len(doc) for doc in X]

            def build():
                resolved = registry.resolve(Config().from_str(config))
                model, opt = resolved["model"], resolved["optimizer"]
                model.initialize(X=X[:5], Y=Y[:5])
                return model, opt

            plans = [rng.integers(0, len(X), 2 * batch) for _ in range(steps)]
            n_words = sum(words[int(i)] for idx in plans for i in idx)
            model, opt = build()
            loss = SummedCrossentropy()

            def local(model=model, opt=opt, loss=loss, X=X, Y=Y, plans=plans):
                thinc_fast.set_num_threads(2)
                for idx in plans:
                    train_step(model, opt, take(X, idx), take(Y, idx), loss)
                thinc_fast.set_num_threads(N_THREADS)

            model2, opt2 = build()
            trainer = RayTrainer(config, model2, opt2, X, Y, 2, on_failure="shrink",
                                 plan=Plan(shards=2, shard_size=batch, threads=1),
                                 log=lambda line: None)
            trainers.append(trainer)
            contestants = {"1 process, 2 threads": local,
                           f"2 Ray workers x 1 thread ({trainer.exchange})":
                               lambda trainer=trainer, plans=plans: trainer.run(plans)}
            times = run_interleaved(contestants, rounds)
            rates = {name: n_words / statistics.median(ts) for name, ts in times.items()}
            print(f"\ndata-parallel {kind}, global batch {2 * batch} documents, {steps} steps a "
                  f"run, words/s median of {rounds} interleaved rounds")
            for name, rate in rates.items():
                print(f"  {name:<40} {rate:9.0f}")
            values = list(rates.values())
            print(f"  2 workers / 1 process with 2 threads: {values[1] / values[0]:.2f}x")
            trainers.remove(trainer)
            trainer.shutdown()  # frees its workers' CPUs for the next model
    finally:
        for trainer in trainers:
            trainer.shutdown()
        ray.shutdown()


# ---------------------------------------------------------------------- gpu
def bench_gpu(rounds: int) -> None:
    """With a GPU: fused Adam over 100M parameters as % of the device's copy
    bandwidth, and one epoch of the 784-512-512-10 MLP vs PyTorch eager."""
    from thinc_fast.backends.cupy_ops import gpu_status

    problem = gpu_status()
    if problem is not None:
        print(f"\n(no GPU rows: {problem})")
        return
    import cupy

    from thinc_fast.api import get_ops, use_ops

    ops = get_ops("cupy")
    n = 100_000_000
    w, g, m, v = (cupy.ones(n, dtype="float32") for _ in range(4))
    src, dst = cupy.ones(n, dtype="float32"), cupy.empty(n, dtype="float32")

    def cuda_time(fn, inner=10):
        start, stop = cupy.cuda.Event(), cupy.cuda.Event()
        fn()
        start.record()
        for _ in range(inner):
            fn()
        stop.record()
        stop.synchronize()
        return cupy.cuda.get_elapsed_time(start, stop) / 1e3 / inner

    copies = [cuda_time(lambda: cupy.copyto(dst, src)) for _ in range(rounds)]
    step = KernelScalars(lr_hat=1e-3, beta1=0.9, beta2=0.999, eps=1e-8)
    adams = [cuda_time(lambda: ops.adam_step(w, g, m, v, scalars=step)) for _ in range(rounds)]
    copy_bw = 2 * 4 * n / statistics.median(copies)
    adam_bw = 8 * 4 * n / statistics.median(adams)
    print(f"\nGPU fused Adam, 100M params: {statistics.median(adams) * 1e3:.2f} ms, "
          f"{adam_bw / 1e9:.0f} GB/s = {100 * adam_bw / copy_bw:.0f}% of copy bandwidth "
          f"({copy_bw / 1e9:.0f} GB/s)")
    X, Y, labels = mnist_like()
    contestants = {}
    with use_ops("cupy"):
        gX, gY = cupy.asarray(X), cupy.asarray(Y)
        model = chain(Relu(512), Relu(512), Softmax())
        model.initialize(X=gX[:5], Y=gY[:5])
        opt = Adam(0.001)

        def fast_epoch():
            for start in range(0, len(X), 128):
                Yh, backprop = model.begin_update(gX[start:start + 128])
                backprop(Yh - gY[start:start + 128])
                model.finish_update(opt)
            cupy.cuda.Device().synchronize()

        contestants["thinc_fast"] = fast_epoch
    if torch is not None and torch.cuda.is_available():
        net = torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 512),
                                  torch.nn.ReLU(), torch.nn.Linear(512, 10)).cuda()
        tX, tl = torch.from_numpy(X).cuda(), torch.from_numpy(labels).cuda()
        t_opt = torch.optim.Adam(net.parameters(), lr=0.001)

        def torch_epoch():
            for start in range(0, len(X), 128):
                t_opt.zero_grad(set_to_none=False)
                loss = torch.nn.functional.cross_entropy(net(tX[start:start + 128]),
                                                         tl[start:start + 128], reduction="sum")
                loss.backward()
                t_opt.step()
            torch.cuda.synchronize()

        contestants["torch eager (GPU)"] = torch_epoch
    report("one epoch on the GPU, MLP 784-512-512-10, batch 128", run_interleaved(contestants, rounds), "s")


# ------------------------------------------------------------------ sequences
def bench_seq(rounds: int) -> None:
    """Issue 17's kernel rows: NumpyOps against Thinc's NumpyOps on the same inputs."""
    rng = numpy.random.default_rng(0)
    ids = rng.integers(0, 2 ** 63, 1_000_000, dtype=numpy.uint64)
    X = rng.standard_normal((10_000, 128)).astype("f")
    lengths = numpy.full(500, 20, dtype="int32")
    d_cols = rng.standard_normal((10_000, 3 * 128)).astype("f")
    table = rng.standard_normal((5_000, 128)).astype("f")
    keys = rng.integers(0, 5_000, (10_000, 4)).astype("uint32")
    backends = {"thinc_fast": NumpyOps()}
    if thinc_api is not None:
        backends["thinc NumpyOps"] = thinc_api.NumpyOps()
        same = numpy.array_equal(backends["thinc_fast"].hash(ids[:1000], 7),
                                 backends["thinc NumpyOps"].hash(ids[:1000], 7))
        print(f"\nhash values equal to Thinc's: {same}")

    def reduce_mean_fb(ops):
        ops.backprop_reduce_mean(ops.reduce_mean(X, lengths), lengths)

    rows = [
        ("hash, 1M uint64 ids", lambda ops: ops.hash(ids, 0), 5),
        ("seq2col, 10k x 128, nW=1, 500 sequences",
         lambda ops: ops.seq2col(X, 1, lengths=lengths), 20),
        ("backprop_seq2col, 10k x 384, nW=1, 500 sequences",
         lambda ops: ops.backprop_seq2col(d_cols, 1, lengths=lengths), 20),
        ("reduce_mean forward + backward, 10k x 128 in 500 sequences", reduce_mean_fb, 20),
        ("gather_add, 10k x 4 keys into 5000 x 128", lambda ops: ops.gather_add(table, keys), 20),
    ]
    for title, fn, inner in rows:
        contestants = {name: (lambda ops=ops: fn(ops)) for name, ops in backends.items()}
        report(title, run_interleaved(contestants, rounds, inner=inner), "ms")


# ----------------------------------------------------------------------- text
def _text_models(width: int, rows: int):
    """The textcat config's network (thinc_fast.training.text_configs), built in
    thinc_fast and, when installed, in Thinc 9.1.1 with the same parameters."""
    from thinc_fast.config import Config, registry
    from thinc_fast.training.text_configs import TEXTCAT_CONFIG

    config = Config().from_str(TEXTCAT_CONFIG)
    config["model"]["*"]["embed"]["layer"].update({"nO": width, "nV": rows})
    config["model"]["*"]["encode"]["layer"]["nO"] = width
    model = registry.resolve({"model": config["model"]})["model"]
    if thinc_api is None:
        return model, None
    L = thinc_api
    theirs = L.chain(L.strings2arrays(), L.list2ragged(),
                     L.with_array(L.HashEmbed(width, rows, seed=1, column=0)), L.expand_window(1),
                     L.with_array(L.Maxout(width, nP=3, normalize=True, dropout=0.0)),
                     L.reduce_mean(), L.Softmax())
    return model, theirs


def _one_thread(fn: Callable[[], None]) -> Callable[[], None]:
    """`fn` run with thinc_fast on one thread (Thinc's blis runs on one): shows
    what the second thread gives, or costs when another process holds its core."""
    def run() -> None:
        thinc_fast.set_num_threads(1)
        try:
            fn()
        finally:
            thinc_fast.set_num_threads(N_THREADS)

    return run


def bench_text(rounds: int) -> None:
    """Issue 17's text rows: HashEmbed forward + backward, and one epoch of the
    textcat config's model (strings2arrays >> HashEmbed >> expand_window >>
    Maxout >> reduce_mean >> Softmax) on generated documents, against Thinc
    9.1.1's layers with the same parameters on the same data."""
    from thinc_fast.api import HashEmbed
    from thinc_fast.datasets.text import make_textcat_docs

    rng = numpy.random.default_rng(0)
    ids = rng.integers(0, 2 ** 63, 10_000, dtype=numpy.uint64)
    d_embed = rng.standard_normal((10_000, 128)).astype("f")
    embeds = {"thinc_fast": HashEmbed(128, 5_000, seed=1)}
    if thinc_api is not None:
        embeds["thinc HashEmbed"] = thinc_api.HashEmbed(128, 5_000, seed=1)
    for layer in embeds.values():
        layer.initialize()

    def embed_fb(layer):
        Y, backprop = layer.begin_update(ids)
        backprop(d_embed)

    contestants = {name: (lambda layer=layer: embed_fb(layer)) for name, layer in embeds.items()}
    contestants["thinc_fast, 1 thread"] = _one_thread(contestants["thinc_fast"])
    report("HashEmbed(128, 5000) forward + backward, 10k ids",
           run_interleaved(contestants, rounds, inner=20), "ms")

    docs, labels = make_textcat_docs(2_000, n_classes=3, seed=0)
    names = sorted(set(labels))
    Y = numpy.eye(len(names), dtype="f")[[names.index(label) for label in labels]]
    n_tokens = sum(len(doc) for doc in docs)
    batches = [numpy.arange(i, min(i + 32, len(docs))) for i in range(0, len(docs), 32)]
    ours, theirs = _text_models(64, 5_000)
    ours.initialize(X=docs[:5], Y=Y[:5])
    models = {"thinc_fast": (ours, Adam(0.002))}
    if theirs is not None:
        theirs.initialize(X=docs[:5], Y=Y[:5])
        mine = [node for node in ours.walk() if node.param_names]
        other = [node for node in theirs.walk() if node.param_names]
        for a, b in zip(mine, other):
            for name in a.param_names:
                b.set_param(name, a.get_param(name).copy())
        same = numpy.allclose(ours.predict(docs[:200]), theirs.predict(docs[:200]), atol=1e-5)
        print(f"\ntextcat predictions equal to Thinc's with the same parameters: {same}")
        models["thinc 9.1.1"] = (theirs, thinc_api.Adam(0.002))

    def epoch(model, optimizer):
        for idx in batches:
            Yh, backprop = model.begin_update([docs[i] for i in idx])
            backprop(Yh - Y[idx])
            model.finish_update(optimizer)

    contestants = {name: (lambda m=m, o=o: epoch(m, o)) for name, (m, o) in models.items()}
    contestants["thinc_fast, 1 thread"] = _one_thread(contestants["thinc_fast"])
    report(f"one textcat epoch: {len(docs)} generated docs ({n_tokens} tokens), batch 32, "
           "HashEmbed(64, 5000) >> window 1 >> Maxout(64, nP=3, LayerNorm) >> mean >> Softmax",
           run_interleaved(contestants, rounds), "ms",
           lambda name, t: f"{n_tokens / t:8.0f} tokens/s")


# --------------------------------------------------------------------- spaCy
def bench_spacy(rounds: int, docs: int, epochs: int) -> None:
    """spaCy 3.8's tagger, textcat, ner and parser on Thinc's NumpyOps and on thinc_fast's
    Thinc backend, 1 and 2 threads (benchmarks/spacy_bench.py)."""
    try:
        import spacy
    except ImportError:
        print("\nspacy: skipped (pip install spacy==3.8.18 beside thinc_fast)")
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import spacy_bench

    print(f"\nspaCy {spacy.__version__}, generated data: {docs} training documents, {epochs} "
          f"epochs, batch 32; {rounds} interleaved rounds, medians; words/s "
          f"(ratio thinc_fast / NumpyOps); dev score NumpyOps / thinc_fast")
    threads = sorted({1, N_THREADS})
    print("gemm at spaCy's tok2vec shapes, GFLOP/s (fraction of the FMA peak of the threads used)")
    spacy_bench.gemm_table(threads)
    rows = spacy_bench.compare(["tagger", "textcat", "ner", "parser"], threads, docs, epochs,
                               rounds)
    for row in rows:
        if row["threads"] == N_THREADS:
            SUMMARY[f"spaCy {row['pipe']} train / pipe vs NumpyOps"] = (
                f"{row['train_ratio']:.2f}x / {row['pipe_ratio']:.2f}x")
    thinc_fast.set_num_threads(N_THREADS)


# The rows main() can run, in the order it runs them (spacy only when asked for).
ROWS = ("gemm", "gemm_step", "gemm_step1", "gemm_tok2vec", "gemm_scaling", "gemm_mixed", "adam",
        "seq", "text", "mlp_big", "mlp_small", "ray", "ray_text", "gpu", "spacy")


def main() -> None:
    global GAP_SECONDS, IDLE_WAIT_SECONDS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per row")
    parser.add_argument("--gap", type=float, default=GAP_SECONDS,
                        help="idle seconds before each timed run (lets other runtimes' threads settle)")
    parser.add_argument("--idle-wait", type=float, default=IDLE_WAIT_SECONDS,
                        help="on a shared machine: before each timed run, wait up to this many "
                             "seconds for the CPUs to be >= 90%% idle (0: off)")
    parser.add_argument("--only", default=",".join(r for r in ROWS if r != "spacy"),
                        help="comma-separated rows: gemm, gemm_step, gemm_tok2vec (spaCy's tok2vec "
                             "shapes, without spaCy), gemm_step1 (the MLP's gemms, each "
                             "library on one thread), gemm_scaling (ours on 1 thread, split, "
                             "and as free-running threads), gemm_mixed, adam, seq, text, "
                             "mlp_big, mlp_small, ray, ray_text, gpu, spacy (not run by default: "
                             "it needs spaCy 3.8, i.e. Thinc 8.3, beside thinc_fast)")
    parser.add_argument("--record", metavar="PATH",
                        help="append this run's row (CPU, peak, the ratios measured) to the "
                             "markdown table in PATH, e.g. benchmarks/RESULTS.md")
    parser.add_argument("--spacy-docs", type=int, default=2000,
                        help="spacy row: generated training documents (dev: a quarter more)")
    parser.add_argument("--spacy-epochs", type=int, default=2, help="spacy row: epochs per run")
    args = parser.parse_args()
    rows = set(args.only.split(","))
    if rows - set(ROWS):
        parser.error(f"--only: unknown row(s) {', '.join(sorted(rows - set(ROWS)))}; "
                     f"the rows are {', '.join(ROWS)}")
    GAP_SECONDS = args.gap
    IDLE_WAIT_SECONDS = args.idle_wait
    print(_blis_arch.summary())
    print(f"thinc_fast {thinc_fast.__version__}; threads {N_THREADS}; blis {blis_info()}")
    from thinc_fast.backends.numpy_ops import fma_peak

    for threads in sorted({1, N_THREADS}):
        # the best of 10 short probes (0.5 s): on the 2-vCPU Zen 3 VM the default 3
        # read 100-115 GFLOP/s for 2 threads in two runs whose products then ran at
        # 110-121% of it; 0.2 s probes there read 160-200
        found = fma_peak(threads, repeats=10)
        if found:
            PEAK[threads] = found["gflops"]
    if PEAK:
        print("FMA peak (measured): " + ", ".join(f"{g:.0f} GFLOP/s on {t} thread(s)"
                                                  for t, g in PEAK.items())
              + f", {found['isa']}")
    print(f"thinc: {getattr(thinc_api, '__name__', None) and __import__('thinc').__version__}; "
          f"torch: {torch.__version__ if torch else None}; numpy {numpy.__version__}")
    blas = numpy_blas_summary()
    print(f"NumPy's BLAS: {blas}")
    if rows & {"gemm", "gemm_step", "gemm_step1", "gemm_tok2vec", "gemm_mixed"}:
        SUMMARY["NumPy's BLAS"] = blas
    if "gemm" in rows:
        bench_gemm(args.rounds)
    if "gemm_step" in rows:
        bench_gemm_step(args.rounds)
    if "gemm_step1" in rows:
        bench_gemm_step_one_thread(args.rounds)
    if "gemm_tok2vec" in rows:
        bench_gemm_tok2vec(args.rounds)
    if "gemm_scaling" in rows:
        bench_gemm_scaling(args.rounds)
    if "gemm_mixed" in rows:
        bench_gemm_mixed(args.rounds)
    if "adam" in rows:
        bench_adam(args.rounds)
    if "seq" in rows:
        bench_seq(args.rounds)
    if "text" in rows:
        bench_text(args.rounds)
    if rows & {"mlp_big", "mlp_small", "ray"}:
        data = mnist_like()
        if "mlp_big" in rows:
            bench_mlp([512, 512], 128, max(2, args.rounds // 2 + 1), data)
        if "mlp_small" in rows:
            bench_mlp([64], 32, args.rounds, data)
        if "ray" in rows:
            bench_ray(args.rounds, data)
    if "ray_text" in rows:
        bench_ray_text(args.rounds)
    if "gpu" in rows:
        bench_gpu(args.rounds)
    if "spacy" in rows:
        bench_spacy(args.rounds, args.spacy_docs, args.spacy_epochs)
    if args.record:
        record(args.record, args.only)


def numpy_blas_summary() -> str:
    """NumPy's BLAS and the kernels it runs. When OPENBLAS_CORETYPE chose them,
    also OpenBLAS's own pick for this CPU (asked in a child process without the
    variable): NumPy on Haswell kernels runs an AVX-512 CPU at half its width,
    and every ratio against NumPy reads accordingly."""
    import subprocess

    blas = _blis_arch.numpy_blas()
    text = _blis_arch.numpy_blas_line(blas)
    if blas["coretype_env"] and blas["core"]:
        env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
        code = ("from thinc_fast.backends import _blis_arch; import numpy; "
                "print(_blis_arch.numpy_blas()['core'])")
        try:
            own = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                 text=True, timeout=60).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            own = ""
        if own and own != blas["core"]:
            text += f"; without the variable it would run {own}"
    return text


RESULTS_HEADER = ("| date | commit | CPU | threads | FMA peak 1 / all threads (GFLOP/s) | rows run "
                  "| results |\n|---|---|---|---|---|---|---|\n")


def record(path: str, rows: str) -> None:
    """Append this run's row to the markdown table in `path` (created with its header)."""
    import datetime
    import subprocess

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=os.path.dirname(os.path.abspath(__file__)),
                                timeout=10).stdout.strip() or "?"
    except (OSError, subprocess.SubprocessError):
        commit = "?"
    peak = " / ".join(f"{PEAK[t]:.0f}" for t in sorted(PEAK)) or "-"
    results = "; ".join(f"{k}: {v}" for k, v in SUMMARY.items()) or "-"
    cpu = _blis_arch.cpu_model()
    if _blis_arch.isa_cap():
        cpu += f" [{_blis_arch.ISA_ENV}={_blis_arch.isa_cap()}]"
    line = (f"| {datetime.date.today().isoformat()} | {commit} | {cpu} | "
            f"{N_THREADS} | {peak} | {rows} | {results} |\n")
    new = not os.path.exists(path) or "| date | commit |" not in open(path).read()
    with open(path, "a") as f:
        if new:
            f.write("\n" + RESULTS_HEADER)
        f.write(line)
    print(f"\nrecorded in {path}: {line.strip()}")


if __name__ == "__main__":
    sys.exit(main())
