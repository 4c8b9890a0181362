"""Which kernel serves each gemm shape on this CPU: the measurement behind
``_blis_arch.THIN_RULES``.

    python benchmarks/gemm_sweep.py                 # every shape, ~2 minutes
    python benchmarks/gemm_sweep.py --batches 32,128 --quick

For every gemm of MLP and tok2vec training steps (forward ``X @ W.T``, input
gradient ``dY @ W``, weight gradient ``dY.T @ X``) at several batch sizes it
times the large context on one thread and on two, and the thin context (which
always runs on one thread: its small/skinny kernels round differently per tile
shape, so it is never split), for ``X @ W.T`` thinc_fast's dot-product
kernel on two threads, and for the others (B and C contiguous along n)
thinc_fast's short-k kernel on two threads (every product split: the sweep
runs with adaptive_split=0). Then it prints, for each shape, what the rules loaded
now choose and how much slower that is than the best of the others; a rule set
that loses more than 10% on common shapes wants a new row in THIN_RULES for
this CPU kind.
"""
import argparse
import statistics
import time

import numpy

import thinc_fast
from thinc_fast.backends import _blis_arch
from thinc_fast.backends import numpy_ops

try:  # the step's gemms as compare.py times them (asv imports this as benchmarks.gemm_sweep)
    from .compare import step_gemm_operands
except ImportError:  # run as a script
    from compare import step_gemm_operands

LAYERS = [(784, 64), (64, 10), (784, 512), (512, 512), (512, 10), (288, 288), (96, 288),
          (288, 96), (64, 64), (300, 200)]


def step_shapes(batches):
    """(m, k, n, op) of each gemm of a layer nI -> nO at each batch size."""
    shapes = set()
    for b in batches:
        for n_in, n_out in LAYERS:
            shapes |= {(b, n_in, n_out, "B^T"), (b, n_out, n_in, "-"), (n_out, b, n_in, "A^T")}
    return sorted(shapes)


def median_time(fn, inner, repeats):
    fn()
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        runs.append((time.perf_counter() - start) / inner)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", default="16,32,64,96,128,256,600,2000")
    parser.add_argument("--quick", action="store_true", help="3 repeats instead of 7")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    repeats = 3 if args.quick else 7
    print(_blis_arch.summary())
    rng = numpy.random.default_rng(0)
    before = numpy_ops.gemm_options()
    threads = thinc_fast.get_num_threads()
    print(f"{'m x k x n':>16} {'op':>3} {'large 1t':>9} {'thin 1t':>8} {'large 2t':>9} "
          f"{'dot 2t':>7} {'smallk 2t':>9}  {'rule':>6}  loss  (GFLOP/s)")
    losses = []
    try:
        numpy_ops.set_gemm_options(adaptive_split=0)
        before["adaptive_split"] = 0
        for m, k, n, op in step_shapes(batches):
            fn, _ = step_gemm_operands(m, k, n, op, rng)
            flops = 2.0 * m * k * n
            inner = max(10, min(2000, int(3e8 / flops)))
            rates = {}
            for name, nthreads, mode in (("large1", 1, "large"), ("thin", 1, "thin"),
                                         ("large", 2, "large")):
                thinc_fast.set_num_threads(nthreads)
                numpy_ops.set_gemm_options(mode=mode)
                rates[name] = flops / median_time(fn, inner, repeats) / 1e9
            if op == "B^T":  # the dot kernel takes A @ B^T only
                numpy_ops.set_gemm_options(mode="shape", dot_rows=1 << 30, dot_k=1,
                                           dot_k_per_row=0)
                rates["dot"] = flops / median_time(fn, inner, repeats) / 1e9
            elif n >= 16:  # the short-k kernel: B and C contiguous along n
                numpy_ops.set_gemm_options(mode="shape", dot_rows=0, smallk_k=1 << 30,
                                           smallk_cols=1)
                rates["smallk"] = flops / median_time(fn, inner, repeats) / 1e9
            numpy_ops.set_gemm_options(**before)
            kind = numpy_ops._gemm_kind(m, n, k, trans2=op == "B^T", trans1=op == "A^T")
            got = rates[kind]
            loss = 1.0 - got / max(v for key, v in rates.items() if key != "large1")
            losses.append(loss)
            dot = f"{rates['dot']:7.0f}" if "dot" in rates else f"{'-':>7}"
            smallk = f"{rates['smallk']:9.0f}" if "smallk" in rates else f"{'-':>9}"
            print(f"{f'{m}x{k}x{n}':>16} {op:>3} {rates['large1']:9.0f} {rates['thin']:8.0f} "
                  f"{rates['large']:9.0f} {dot} {smallk}  {kind:>6}  {loss:4.0%}", flush=True)
    finally:
        numpy_ops.set_gemm_options(**before)
        thinc_fast.set_num_threads(threads)
    print(f"rules now: {_blis_arch._thin_rule()}{_blis_arch._dot_rule()}"
          f"{_blis_arch._smallk_rule()}; shapes losing > 10%: "
          f"{sum(loss > 0.1 for loss in losses)} of {len(losses)}, worst {max(losses):.0%}")


if __name__ == "__main__":
    main()
