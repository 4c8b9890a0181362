#!/usr/bin/env python3
"""GPU benchmarks for tools/gpu_check.sh, on a machine with an NVIDIA GPU.

    python tools/gpu_bench.py --out DIR [--rounds 5] [--quick]

Rows (each timed with CUDA events, medians over interleaved rounds):

* copy bandwidth: ``cupy.copyto`` of 100M float32 (read + write), the device's
  practical peak; fused Adam over 100M parameters (one ``CupyOps.adam_step``:
  reads w, g, m, v and writes them back, 32 bytes a parameter) as a share of it
  (the bar: >= 85%); the fused SGD step likewise (24 bytes a parameter);
  the gradient norm (``sum_of_squares``, 4 bytes a parameter);
* gemm (cuBLAS) through ``CupyOps.gemm`` against ``cupy.matmul`` and, when
  Thinc is installed, Thinc's ``CupyOps.gemm`` (what spaCy runs on a GPU), at
  the MLP's and spaCy's shapes, with and without ``beta=1`` accumulation;
* one epoch of an MLP on 60,000 synthetic MNIST-shaped rows: 784-512-512-10
  at batch 128 and 784-64-10 at batch 32 (launch-bound), thinc_fast with its
  fused Adam against PyTorch eager on CUDA with torch.optim.Adam (fused when
  this torch has it) when PyTorch with CUDA is installed (bar: >= 1.0x).

Writes DIR/gpu_bench.json and DIR/gpu_bench.md and prints the table. --quick
shrinks every size (a smoke run; its numbers mean nothing).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Dict, List


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=".", help="folder for gpu_bench.json and gpu_bench.md")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    from thinc_fast.backends.cupy_ops import gpu_status

    problem = gpu_status()
    if problem is not None:
        print(f"gpu_bench: no GPU: {problem}", file=sys.stderr)
        return 2
    import cupy
    import numpy

    from thinc_fast.api import Adam, Relu, Softmax, chain, get_ops, use_ops
    from thinc_fast.backends.kernel_args import KernelScalars

    rows: List[Dict[str, object]] = []
    rounds = max(1, args.rounds)
    device = cupy.cuda.Device()
    try:
        name = cupy.cuda.runtime.getDeviceProperties(device.id)["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # noqa: BLE001 - a name is only for the table
        name = f"device {device.id}"
    info = {"device": name, "cupy": cupy.__version__, "quick": args.quick}

    def cuda_time(fn: Callable[[], object], inner: int = 10) -> float:
        """Seconds per call of `fn`, from CUDA events around `inner` calls."""
        start, stop = cupy.cuda.Event(), cupy.cuda.Event()
        fn()
        start.record()
        for _ in range(inner):
            fn()
        stop.record()
        stop.synchronize()
        return cupy.cuda.get_elapsed_time(start, stop) / 1e3 / inner

    def interleaved(contestants: Dict[str, Callable[[], float]]) -> Dict[str, float]:
        times: Dict[str, List[float]] = {k: [] for k in contestants}
        for _ in range(rounds):
            for key, fn in contestants.items():
                times[key].append(fn())
        return {k: statistics.median(v) for k, v in times.items()}

    def row(group: str, what: str, seconds: float, **extra: object) -> None:
        rows.append({"group": group, "what": what, "ms": seconds * 1e3, **extra})

    ops = get_ops("cupy")

    # ------------------------------------------------------- bandwidth and the step
    n = 1_000_000 if args.quick else 100_000_000
    w, g, m, v = (cupy.ones(n, dtype="float32") for _ in range(4))
    src, dst = cupy.ones(n, dtype="float32"), cupy.empty(n, dtype="float32")

    def adam() -> None:
        ops.adam_step(w, g, m, v,
                      scalars=KernelScalars(lr_hat=1e-3, beta1=0.9, beta2=0.999, eps=1e-8))

    def sgd() -> None:
        ops.sgd_step(w, g, scalars=KernelScalars(lr_hat=1e-3))

    med = interleaved({"copy": lambda: cuda_time(lambda: cupy.copyto(dst, src)),
                       "adam": lambda: cuda_time(adam), "sgd": lambda: cuda_time(sgd),
                       "norm": lambda: cuda_time(lambda: ops.sum_of_squares(g))})
    copy_bw = 2 * 4 * n / med["copy"]
    row("bandwidth", f"cupy.copyto, {n:,} float32", med["copy"], GBps=copy_bw / 1e9, share=1.0)
    for key, nbytes, label in (("adam", 32, "fused Adam step"), ("sgd", 24, "fused SGD step"),
                               ("norm", 4, "gradient norm (sum_of_squares)")):
        bw = nbytes * n / med[key]
        row("bandwidth", f"{label}, {n:,} params", med[key], GBps=bw / 1e9, share=bw / copy_bw)
    del w, g, m, v, src, dst

    # ------------------------------------------------------------------ gemm
    thinc_ops = None
    try:
        import thinc.api as thinc_api

        if getattr(thinc_api, "has_cupy_gpu", False) or thinc_api.prefer_gpu():
            thinc_ops = thinc_api.CupyOps()
            thinc_api.require_cpu()
    except Exception:  # noqa: BLE001 - Thinc is optional
        thinc_ops = None
    shapes = [(128, 784, 512), (128, 512, 512), (2048, 96, 384), (1024, 1024, 1024)]
    if args.quick:
        shapes = [(8, 16, 12)]
    rng = numpy.random.default_rng(0)
    for M, K, N in shapes:
        A = cupy.asarray(rng.standard_normal((M, K)).astype("float32"))
        B = cupy.asarray(rng.standard_normal((N, K)).astype("float32"))
        C = cupy.zeros((M, N), dtype="float32")
        contestants = {
            "thinc_fast CupyOps.gemm(trans2)": lambda: cuda_time(lambda: ops.gemm(A, B, trans2=True)),
            "thinc_fast gemm beta=1 (accumulate)": lambda: cuda_time(
                lambda: ops.gemm(A, B, out=C, trans2=True, beta=1.0)),
            "cupy.matmul(A, B.T)": lambda: cuda_time(lambda: cupy.matmul(A, B.T)),
        }
        if thinc_ops is not None:
            contestants["Thinc CupyOps.gemm(trans2)"] = lambda: cuda_time(
                lambda: thinc_ops.gemm(A, B, trans2=True))
        med = interleaved(contestants)
        flops = 2.0 * M * K * N
        for key, seconds in med.items():
            row("gemm", f"{M}x{K}x{N}: {key}", seconds, TFLOPs=flops / seconds / 1e12)

    # ------------------------------------------------------------ MLP epochs
    try:
        import torch

        has_torch_cuda = torch.cuda.is_available()
    except ImportError:
        torch, has_torch_cuda = None, False
    info["torch"] = getattr(torch, "__version__", None)
    n_rows = 2_048 if args.quick else 60_000
    X = rng.random((n_rows, 784), dtype="float32")
    labels = rng.integers(0, 10, n_rows)
    Y = numpy.eye(10, dtype="float32")[labels]
    configs = [((512, 512), 128), ((64,), 32)]
    for hidden, batch in configs:
        label = f"MLP 784-{'-'.join(map(str, hidden))}-10, batch {batch}, {n_rows:,} rows"
        contestants: Dict[str, Callable[[], float]] = {}
        with use_ops("cupy"):
            gX, gY = cupy.asarray(X), cupy.asarray(Y)
            model = chain(*[Relu(h) for h in hidden], Softmax())
            model.initialize(X=gX[:5], Y=gY[:5])
            optimizer = Adam(0.001)

            def fast_epoch(model=model, optimizer=optimizer, gX=gX, gY=gY, batch=batch) -> float:
                cupy.cuda.Device().synchronize()
                t0 = time.perf_counter()
                for start in range(0, n_rows, batch):
                    Yh, backprop = model.begin_update(gX[start:start + batch])
                    backprop(Yh - gY[start:start + batch])
                    model.finish_update(optimizer)
                cupy.cuda.Device().synchronize()
                return time.perf_counter() - t0

            contestants["thinc_fast (fused Adam)"] = fast_epoch
        if has_torch_cuda:
            sizes = [784, *hidden, 10]
            layers: List[object] = []
            for a, b in zip(sizes, sizes[1:]):
                layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
            net = torch.nn.Sequential(*layers[:-1]).cuda()
            tX, tl = torch.from_numpy(X).cuda(), torch.from_numpy(labels).cuda()
            try:
                t_opt = torch.optim.Adam(net.parameters(), lr=0.001, fused=True)
                t_name = "PyTorch CUDA eager (Adam fused=True)"
            except (TypeError, RuntimeError):
                t_opt = torch.optim.Adam(net.parameters(), lr=0.001)
                t_name = "PyTorch CUDA eager (Adam)"

            def torch_epoch(net=net, t_opt=t_opt, batch=batch) -> float:
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                for start in range(0, n_rows, batch):
                    t_opt.zero_grad(set_to_none=False)
                    loss = torch.nn.functional.cross_entropy(net(tX[start:start + batch]),
                                                             tl[start:start + batch],
                                                             reduction="sum")
                    loss.backward()
                    t_opt.step()
                torch.cuda.synchronize()
                return time.perf_counter() - t0

            contestants[t_name] = torch_epoch
        med = interleaved(contestants)
        base = med["thinc_fast (fused Adam)"]
        for key, seconds in med.items():
            row("MLP epoch", f"{label}: {key}", seconds, speedup_of_thinc_fast=seconds / base)

    (out / "gpu_bench.json").write_text(json.dumps({"info": info, "rows": rows}, indent=1))
    lines = [f"GPU benchmarks on {name} (CuPy {info['cupy']}, PyTorch {info['torch']}, "
             f"{rounds} rounds{', QUICK: sizes shrunk' if args.quick else ''})", "",
             "| group | what | ms (median) | GB/s | share of copy | TFLOP/s | other / thinc_fast |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        def cell(key: str, fmt: str) -> str:
            return format(r[key], fmt) if key in r else ""
        lines.append(f"| {r['group']} | {r['what']} | {r['ms']:.3f} | {cell('GBps', '.0f')} | "
                     f"{cell('share', '.0%')} | {cell('TFLOPs', '.2f')} | "
                     f"{cell('speedup_of_thinc_fast', '.2f')} |")
    adam = next(r for r in rows if str(r["what"]).startswith("fused Adam"))
    verdict = [f"fused Adam at {adam['share']:.0%} of the copy bandwidth "
               f"({'meets' if adam['share'] >= 0.85 else 'misses'} the 85% bar)"]
    for r in rows:
        if r["group"] == "MLP epoch" and "PyTorch" in str(r["what"]):
            ratio = r["speedup_of_thinc_fast"]
            verdict.append(f"{str(r['what']).split(':')[0]}: PyTorch / thinc_fast = {ratio:.2f}x "
                           f"({'meets' if ratio >= 1.0 else 'misses'} the 1.0x bar)")
    if not has_torch_cuda:
        verdict.append("no PyTorch with CUDA here: no MLP comparison")
    lines += [""] + [f"- {v}" for v in verdict]
    text = "\n".join(lines) + "\n"
    (out / "gpu_bench.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
