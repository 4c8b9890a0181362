"""Data parallelism across network-namespace "hosts" on one machine.

    sudo python benchmarks/multihost.py [--hosts 2 4] [--batch 128 512] [--json out.json]

Builds N network namespaces ("hosts") joined by veth pairs to a bridge in a
switch namespace, each host's link shaped to 10 Gbit/s with ``tc tbf``. Every
host gets its share of the CPUs: its processes (Ray's daemons, its worker,
and on host 0 the driver) are pinned with ``taskset`` to core ``i * cores // N``
and held to ``cores / N`` CPUs by a cgroup (v1 ``cpu.cfs_quota_us``, period
10 ms; v2 ``cpu.max`` where v1 is absent). A Ray head runs on host 0 and a
Ray node (``--num-cpus=1``) on every other host; the driver, on host 0,
trains the 784-512-512-10 MLP (Adam, summed cross-entropy, synthetic
MNIST-shaped data) with one worker per host, and measures:

- examples/s of N hosts with the overlapped exchange and with the whole-arena
  exchange (the same run, group formed anew between them, interleaved rounds);
- the workers' idle time per step (waiting for the gradient sum after their
  backward pass) and compute time per step, medians;
- examples/s of one host alone (1 worker, the same CPU share);
- sums over the group of 16 Ki to 1 Mi floats (to fit latency and bandwidth);
- the last step's bucket timeline (when each bucket was ready and summed);
- when each bucket is final in a step of one host with nothing to sum (the
  projection's ready times: the 2-host timeline is stretched by the sums'
  own CPU use on the host's one core).

Before the hosts exist, one process in the root namespace (all cores, one
thread per core) trains at the same global batch (N x batch): the baseline of
the efficiency. Then the 16-host projection: per-step compute measured on one
host (the 2-host setup: one core per host), bucket ready times measured on
one host with nothing to sum, and sums modelled as ``2 log2(N) alpha + 2 (N-1)/N bytes/beta``
(recursive halving/doubling), checked against the 4-host sums, with two sets
of alpha and beta: "10 Gbit/s link" (alpha fitted to the fastest 2-host sums,
beta the link rate) and "this machine" (both fitted to the median 2-host
sums: veth on shared cores); the communication thread is simulated bucket by
bucket (a bucket's sum starts when it is ready and the previous one is done).

Needs root, iproute2, Ray and torch. Every process it starts runs inside its
namespaces and is ended by pid; namespaces and cgroups are removed at the end.
"""
import argparse
import json
import math
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))
from netns import end_namespaces, namespaces_unavailable, sh  # noqa: E402  (tools/netns.py)
try:  # asv imports this as benchmarks.multihost
    from .mlp_configs import MLP_784_512_512_10  # noqa: E402
except ImportError:  # run as a script
    from mlp_configs import MLP_784_512_512_10  # noqa: E402
from thinc_fast.step import DEFAULT_BUCKET_BYTES  # noqa: E402

PORT = 6379
SUBNET = "10.78.0"
BIN = Path(sys.executable).parent
CONFIG = MLP_784_512_512_10
N_EXAMPLES = 8192
SUM_SIZES = [1 << 14, 1 << 16, 1 << 18, 1 << 20]  # floats
LINK_BPS = 10e9 / 8  # the shaped link: 10 Gbit/s
#: the least latency per message the projection assumes: a TCP round trip
#: through a switch (two workers here sum over one veth pair, in tens of us,
#: which would flatter 16 hosts summing by recursive halving over GLOO)
ALPHA_FLOOR_S = 100e-6


def synthetic(n: int = N_EXAMPLES):
    rng = numpy.random.default_rng(0)
    X = rng.random((n, 784), dtype="float32")
    Y = numpy.eye(10, dtype="float32")[rng.integers(0, 10, n)]
    return X, Y


def build(X, Y):
    from thinc_fast.api import Config, fix_random_seed, registry

    fix_random_seed(0)
    resolved = registry.resolve(Config().from_str(CONFIG))
    model, optimizer = resolved["model"], resolved["optimizer"]
    model.initialize(X=X[:5], Y=Y[:5])
    return model, optimizer


# ------------------------------------------------------------------ hosts
class Hosts:
    """N namespaces on a bridge, each with its CPU share (see the module)."""

    def __init__(self, n: int, limit: bool = True, quota: bool = True) -> None:
        self.n = n
        self.limit = limit  # False: no CPU share at all (for comparison)
        self.quota = quota  # False: pinned to a core only (work-conserving share)
        self.cores = os.cpu_count() or 1
        tag = f"{os.getpid() % 10000}"
        self.switch = f"tnsw{tag}"
        self.names = [f"tnh{i}x{tag}" for i in range(n)]
        self.addresses = [f"{SUBNET}.{i + 1}" for i in range(n)]
        self.tmp = tempfile.mkdtemp(prefix="tnmh")
        self.cgroups: List[Path] = []
        self.procs: List[subprocess.Popen] = []
        self.env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="token",
                        RAY_AUTH_TOKEN=secrets.token_hex(32))
        for key in ("RAY_ADDRESS", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"):
            self.env.pop(key, None)
        self.env["RAY_worker_niceness"] = "0"

    def core(self, i: int) -> int:
        return i * self.cores // self.n

    def share(self) -> float:
        return self.cores / self.n

    def up(self) -> "Hosts":
        sh("ip", "netns", "add", self.switch)
        sh("ip", "-n", self.switch, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", self.switch, "link", "set", "br0", "up")
        sh("ip", "-n", self.switch, "link", "set", "lo", "up")
        for i, (ns, address) in enumerate(zip(self.names, self.addresses)):
            sh("ip", "netns", "add", ns)
            host_end, switch_end = f"h{i}", f"s{i}"
            sh("ip", "link", "add", f"{ns}a", "type", "veth", "peer", "name", f"{ns}b")
            sh("ip", "link", "set", f"{ns}a", "netns", ns, "name", host_end)
            sh("ip", "link", "set", f"{ns}b", "netns", self.switch, "name", switch_end)
            sh("ip", "-n", self.switch, "link", "set", switch_end, "master", "br0")
            sh("ip", "-n", self.switch, "link", "set", switch_end, "up")
            sh("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", host_end)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "link", "set", host_end, "up")
            for where, dev in ((ns, host_end), (self.switch, switch_end)):  # both directions
                sh("ip", "netns", "exec", where, "tc", "qdisc", "add", "dev", dev, "root", "tbf",
                   "rate", "10gbit", "burst", "4mb", "latency", "10ms")
            if self.quota:
                self.cgroups.append(self._cgroup(f"tnmh{i}x{os.getpid() % 10000}"))
        return self

    def _cgroup(self, name: str) -> Path:
        period = 10_000
        quota = int(period * self.share())
        v1 = Path("/sys/fs/cgroup/cpu")
        if (v1 / "cpu.cfs_quota_us").exists():
            path = v1 / name
            path.mkdir()
            (path / "cpu.cfs_period_us").write_text(str(period))
            (path / "cpu.cfs_quota_us").write_text(str(quota))
            return path
        path = Path("/sys/fs/cgroup") / name  # cgroup v2
        path.mkdir()
        (path / "cpu.max").write_text(f"{quota} {period}")
        return path

    def command(self, i: int, *args: str) -> List[str]:
        """`args` run on host i: in its cgroup, pinned to its core, in its namespace."""
        netns = ["ip", "netns", "exec", self.names[i], *args]
        if not self.limit:
            return netns
        pinned = ["taskset", "-c", str(self.core(i)), *netns]
        if not self.quota:
            return pinned
        procs = self.cgroups[i] / "cgroup.procs"
        return ["sh", "-c", f'echo $$ > {procs} && exec "$@"', "sh", *pinned]

    def start(self, i: int, *args: str, log: str) -> subprocess.Popen:
        proc = subprocess.Popen(self.command(i, *args), env=self.env, cwd=self.tmp,
                                stdout=open(Path(self.tmp) / log, "w"),
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs.append(proc)
        return proc

    def run(self, i: int, *args: str, timeout: float) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(i, *args), env=self.env, cwd=self.tmp,
                              capture_output=True, text=True, timeout=timeout)

    def start_ray(self) -> None:
        ray = str(BIN / "ray")
        common = ["--num-cpus=1", "--disable-usage-stats", f"--temp-dir={self.tmp}"]
        head = self.addresses[0]
        self.start(0, ray, "start", "--head", "--block", f"--node-ip-address={head}",
                   f"--port={PORT}", "--include-dashboard=false", *common, log="head.log")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            up = self.run(0, sys.executable, "-c", "import socket; socket.create_connection("
                          f"('{head}', {PORT}), 1)", timeout=10)
            if up.returncode == 0:
                break
            time.sleep(1)
        else:
            raise RuntimeError("the Ray head did not come up: " +
                               (Path(self.tmp) / "head.log").read_text()[-2000:])
        # one node at a time: nodes sharing a session folder that start
        # together can take the same socket names and fail to register
        script = (f"import sys, time, ray\nray.init(address='{head}:{PORT}', log_to_driver=False)\n"
                  f"deadline = time.monotonic() + 150\n"
                  f"while ray.cluster_resources().get('CPU', 0) < int(sys.argv[1]) and "
                  f"time.monotonic() < deadline:\n    time.sleep(0.5)\n"
                  f"print(int(ray.cluster_resources().get('CPU', 0)))\n")
        ready = None
        for i in range(1, self.n):
            self.start(i, ray, "start", "--block", f"--address={head}:{PORT}",
                       f"--node-ip-address={self.addresses[i]}", *common, log=f"node{i}.log")
            ready = self.run(0, sys.executable, "-c", script, str(i + 1), timeout=200)
            if ready.stdout.strip().splitlines()[-1:] != [str(i + 1)]:
                break
        if ready is not None and ready.stdout.strip().splitlines()[-1:] != [str(self.n)]:
            logs = "".join(f"\n--- node{i}.log\n" + (Path(self.tmp) / f"node{i}.log").read_text()[-1500:]
                           for i in range(1, self.n))
            raise RuntimeError(f"not all {self.n} hosts joined: {ready.stdout} "
                               f"{ready.stderr[-2000:]}{logs}")

    def down(self) -> None:
        end_namespaces(self.names + [self.switch], self.procs, term_wait=5.0)
        for path in self.cgroups:
            for _ in range(20):
                try:
                    path.rmdir()
                    break
                except OSError:
                    time.sleep(0.25)
        shutil.rmtree(self.tmp, ignore_errors=True)


# ----------------------------------------------------------------- driver
def driver(args: argparse.Namespace) -> Dict[str, Any]:
    """Runs on host 0: the N-host and one-host measurements (JSON on stdout)."""
    import ray

    from thinc_fast.distributed import Plan, RayTrainer

    ray.init(address=args.address, log_to_driver=False)
    X, Y = synthetic()
    rng = numpy.random.default_rng(1)
    out: Dict[str, Any] = {"hosts": args.hosts, "steps": args.steps, "rounds": args.rounds,
                           "bucket_kb": args.bucket_kb, "batches": {}}
    for batch in args.batch:
        size = batch * args.hosts

        def batches() -> List[numpy.ndarray]:
            return [rng.integers(0, len(X), size) for _ in range(args.steps)]

        row: Dict[str, Any] = {}
        model, optimizer = build(X, Y)
        trainer = RayTrainer(CONFIG, model, optimizer, X, Y, args.hosts, on_failure="shrink",
                             plan=Plan(shards=args.hosts, shard_size=batch, threads=1),
                             bucket_bytes=args.bucket_kb * 1024, log=lambda line: None)
        try:
            row["nodes"] = sorted(set(trainer.nodes))
            times: Dict[str, List[float]] = {"overlap": [], "whole": []}
            idle: Dict[str, List[float]] = {"overlap": [], "whole": []}
            compute: Dict[str, List[float]] = {"overlap": [], "whole": []}
            trainer.run(batches())  # warm-up (first steps import, allocate)
            for _ in range(args.rounds):
                for mode in ("overlap", "whole"):
                    trainer.set_overlap(mode == "overlap")
                    trainer.exchange_stats(clear=True)
                    start = time.perf_counter()
                    trainer.run(batches())
                    times[mode].append(time.perf_counter() - start)
                    stats = trainer.exchange_stats(clear=True)
                    for worker in stats:
                        idle[mode] += [t[1] for t in worker["timings"]]
                        compute[mode] += [t[0] for t in worker["timings"]]
                    if mode == "overlap":
                        row["timeline"] = [w["buckets"] for w in stats]
                        row["backward_end"] = [w["backward_end"] for w in stats]
            for mode in times:
                row[f"rate_{mode}"] = size * args.steps / statistics.median(times[mode])
                row[f"idle_ms_{mode}"] = 1e3 * statistics.median(idle[mode])
                row[f"idle_ms_mean_{mode}"] = 1e3 * statistics.mean(idle[mode])
                row[f"compute_ms_{mode}"] = 1e3 * statistics.median(compute[mode])
            sums, best = {}, {}
            for n in SUM_SIZES:
                per = ray.get([w.time_sum.remote(n, 40) for w in trainer.workers])
                sums[n] = statistics.median(per[0][3:])
                best[n] = min(per[0][3:])
            row["sum_s"], row["sum_min_s"] = sums, best
            row["arena_floats"] = len(model.arena.grads)
        finally:
            trainer.shutdown()
        time.sleep(2)  # the actors' CPUs show as free a moment later
        model, optimizer = build(X, Y)
        one = RayTrainer(CONFIG, model, optimizer, X, Y, 1, on_failure="shrink",
                         plan=Plan(shards=1, shard_size=batch, threads=1),
                         log=lambda line: None)
        try:
            one.run([rng.integers(0, len(X), batch) for _ in range(args.steps)])
            one_times = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                one.run([rng.integers(0, len(X), batch) for _ in range(args.steps)])
                one_times.append(time.perf_counter() - start)
            row["rate_one_host"] = batch * args.steps / statistics.median(one_times)
            row["step_ms_one_host"] = 1e3 * statistics.median(one_times) / args.steps
            timings = one.exchange_stats()[0]["timings"]
            row["compute_ms_one_host"] = 1e3 * statistics.median(t[0] for t in timings)
        finally:
            one.shutdown()
        row["ready_alone"], row["backward_end_alone"] = bucket_times(X, Y, batch, args)
        out["batches"][str(batch)] = row
    return out


def bucket_times(X, Y, batch: int, args: argparse.Namespace):
    """When each bucket of the overlapped exchange is final in a step of one
    host with nothing to sum (this process, one thread, its host's CPU share):
    per bucket ``(bytes, median seconds from the step's start)``, and the
    median seconds of the whole forward and backward pass. The 2-host run's
    timeline is stretched by the sums' own CPU use on the host's core; the
    projection assumes hosts with cores to spare for the network."""
    import thinc_fast
    from thinc_fast.loss import SummedCrossentropy
    from thinc_fast.step import GradientBuckets, train_step

    thinc_fast.set_num_threads(1)
    model, optimizer = build(X, Y)
    buckets = GradientBuckets(model, args.bucket_kb * 1024)
    loss = SummedCrossentropy()
    rng = numpy.random.default_rng(3)
    ready: List[List[float]] = [[] for _ in buckets.ranges]
    ends: List[float] = []
    for step in range(args.steps * args.rounds + 5):
        i = rng.integers(0, len(X), batch)
        model.zero_grads()
        origin = time.perf_counter()
        seen: List[float] = []
        train_step(model, optimizer, X[i], Y[i], loss, update=False, buckets=buckets,
                   on_ready=lambda number: seen.append(time.perf_counter() - origin))
        end = time.perf_counter() - origin
        if step >= 5:  # warm-up
            for times, t in zip(ready, seen):
                times.append(t)
            ends.append(end)
    size = model.arena.grads.itemsize
    return ([((hi - lo) * size, statistics.median(times))
             for (lo, hi), times in zip(buckets.ranges, ready)], statistics.median(ends))


def in_process(batch: int, threads: int, steps: int, rounds: int) -> float:
    """Examples/s of one process (root namespace, no CPU limit) at `batch`."""
    import thinc_fast
    from thinc_fast.loss import SummedCrossentropy
    from thinc_fast.step import train_step

    X, Y = synthetic()
    model, optimizer = build(X, Y)
    loss = SummedCrossentropy()
    rng = numpy.random.default_rng(2)
    thinc_fast.set_num_threads(threads)
    times = []
    for round_ in range(rounds + 1):
        idx = [rng.integers(0, len(X), batch) for _ in range(steps)]
        start = time.perf_counter()
        for i in idx:
            train_step(model, optimizer, X[i], Y[i], loss)
        if round_:  # the first is a warm-up
            times.append(time.perf_counter() - start)
    return batch * steps / statistics.median(times)


# ------------------------------------------------------------- projection
def fit_sums(sums: Dict[Any, float], hosts: int) -> Dict[str, float]:
    """alpha (per message) and beta (bytes/s) of ``t = 2 log2(N) alpha + 2 (N-1)/N bytes/beta``,
    least squares on the measured sums of N hosts."""
    sizes = numpy.array([int(n) * 4 for n in sums], dtype="float64")
    t = numpy.array(list(sums.values()), dtype="float64")
    steps = 2 * math.log2(hosts)
    volume = 2 * (hosts - 1) / hosts * sizes
    A = numpy.stack([numpy.full_like(sizes, steps), volume], axis=1)
    (alpha, inv_beta), *_ = numpy.linalg.lstsq(A, t, rcond=None)
    return {"alpha_s": float(max(alpha, 0.0)), "beta_Bps": float(1.0 / inv_beta)}


def model_sum(n_bytes: float, hosts: int, fit: Dict[str, float]) -> float:
    return 2 * math.log2(hosts) * fit["alpha_s"] + 2 * (hosts - 1) / hosts * n_bytes / fit["beta_Bps"]


def project(row2: Dict[str, Any], fit: Dict[str, float], nodes: int) -> Dict[str, float]:
    """Idle time and efficiency of `nodes` hosts at the compute measured on one
    host, with and without overlap: a step of one host alone takes `step`, its
    shard's forward and backward `compute`; bucket i is ready at the fraction
    of the forward and backward pass measured on one host with nothing to
    sum (:func:`bucket_times`; the 2-host run's ready times where that is
    missing), times `compute`; the communication thread sums the shard losses
    (ready before the backward pass), then the buckets in order, each when
    ready and the previous sum is done. Assumes the sums take no CPU from the
    compute (hosts with cores to spare for the network)."""
    step = row2["step_ms_one_host"] / 1e3
    compute = row2["compute_ms_one_host"] / 1e3
    if "ready_alone" in row2:
        timeline = [(n_bytes, ready, None) for n_bytes, ready in row2["ready_alone"]]
        end = row2["backward_end_alone"]
    else:  # a JSON file from before the one-host bucket times
        timeline = row2["timeline"][0]
        end = row2["backward_end"][0]
    losses = model_sum(8 * nodes, nodes, fit)
    free = losses
    for n_bytes, ready, _ in timeline:
        free = max(free, ready / end * compute) + model_sum(n_bytes, nodes, fit)
    idle_overlap = max(0.0, free - compute)
    idle_whole = model_sum(sum(b for b, _, _ in timeline), nodes, fit) + losses
    return {"idle_ms_overlap": idle_overlap * 1e3, "idle_ms_whole": idle_whole * 1e3,
            "eff_overlap": step / (step + idle_overlap), "eff_whole": step / (step + idle_whole)}


# ------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--batch", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpu-share", choices=["quota", "pin"], default="quota",
                        help="quota: pinned to a core and held to cores/N CPUs by a cgroup; "
                             "pin: pinned only (hosts on one core share it as they need)")
    parser.add_argument("--bucket-kb", type=int, default=DEFAULT_BUCKET_BYTES // 1024,
                        help="bucket size of the overlapped exchange (KiB)")
    parser.add_argument("--json", default=None, help="write every figure here")
    parser.add_argument("--driver", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--address", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.driver:
        args.hosts = args.hosts[0]
        print("RESULT " + json.dumps(driver(args)))
        return
    reason = namespaces_unavailable()
    if reason:
        sys.exit(reason)
    cores = os.cpu_count() or 1
    report: Dict[str, Any] = {"cpu": cpu_name(), "cores": cores, "runs": {}}
    for hosts in args.hosts:
        base = {}
        for batch in args.batch:
            base[str(batch)] = {
                "rate_process": in_process(batch * hosts, cores, args.steps, args.rounds),
                "threads": cores}
        cluster = Hosts(hosts, quota=args.cpu_share == "quota")
        try:
            cluster.up()
            cluster.start_ray()
            script = str(Path(__file__).resolve())
            result = cluster.run(0, sys.executable, script, "--driver", "--hosts", str(hosts),
                                 "--address", f"{cluster.addresses[0]}:{PORT}",
                                 "--steps", str(args.steps), "--rounds", str(args.rounds),
                                 "--bucket-kb", str(args.bucket_kb),
                                 "--batch", *[str(b) for b in args.batch], timeout=1800)
            lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
            if result.returncode != 0 or not lines:
                raise RuntimeError(f"the driver failed: {result.stdout[-2000:]}"
                                   f"{result.stderr[-4000:]}")
            run = json.loads(lines[-1][len("RESULT "):])
        finally:
            cluster.down()
        for batch, row in run["batches"].items():
            row.update(base[batch])
        run["share_cpus"] = cores / hosts
        run["cpu_share"] = args.cpu_share
        run["cores_of_hosts"] = [i * cores // hosts for i in range(hosts)]
        report["runs"][str(hosts)] = run
        print_run(run)
    if "2" in report["runs"]:
        report["projection"] = print_projection(report["runs"])
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


def cpu_name() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
        fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        return (f"{fields.get('model name', '?')} (family {fields.get('cpu family', '?')} "
                f"model {fields.get('model', '?')}), {os.cpu_count()} CPUs")
    except OSError:
        return "?"


def print_run(run: Dict[str, Any]) -> None:
    hosts = run["hosts"]
    how = "cgroup quota" if run.get("cpu_share", "quota") == "quota" else "pinned, no quota"
    print(f"\n{hosts} namespace hosts, 10 Gbit/s links, {run['share_cpus']:.2f} CPU each "
          f"({how}; cores {run['cores_of_hosts']}); MLP 784-512-512-10, Adam; {run['steps']} steps "
          f"x {run['rounds']} rounds, medians")
    for batch, row in run["batches"].items():
        size = int(batch) * hosts
        print(f"  batch {batch} per host (global {size}):")
        print(f"    one process, {row['threads']} threads, batch {size}: "
              f"{row['rate_process']:9.0f} examples/s")
        print(f"    one host alone, batch {batch}:                 "
              f"{row['rate_one_host']:9.0f} examples/s ({row['step_ms_one_host']:.1f} ms/step)")
        for mode in ("whole", "overlap"):
            rate = row[f"rate_{mode}"]
            print(f"    {hosts} hosts, {mode:<7} exchange: {rate:9.0f} examples/s; "
                  f"idle {row[f'idle_ms_{mode}']:.2f} ms/step median "
                  f"({row[f'idle_ms_mean_{mode}']:.2f} mean), compute "
                  f"{row[f'compute_ms_{mode}']:.1f} ms; efficiency vs one process "
                  f"{rate / row['rate_process']:.2f}, vs {hosts} x one host "
                  f"{rate / (hosts * row['rate_one_host']):.2f}")
        sums = ", ".join(f"{int(n) * 4 / 1e6:.2f} MB {t * 1e3:.2f} ms"
                         for n, t in row["sum_s"].items())
        print(f"    sums over the {hosts} hosts: {sums}")


def print_projection(runs: Dict[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for batch, row2 in runs["2"]["batches"].items():
        print(f"\nprojection, batch {batch} per host: one host {row2['step_ms_one_host']:.1f} ms/step, "
              f"{row2['compute_ms_one_host']:.1f} ms of it forward+backward (one core); "
              "bucket ready times (fraction of forward+backward) "
              + (", ".join(f"{r / row2['backward_end_alone']:.2f}" for _, r in row2["ready_alone"])
                 + " measured on one host with nothing to sum" if "ready_alone" in row2
                 else "from the 2-host overlapped run"))
        out[batch] = {}
        for label, key in (("10 Gbit/s link", "sum_min_s"), ("this machine", "sum_s")):
            fit = fit_sums(row2[key], 2)
            if key == "sum_min_s":
                # the fastest sums: the latency of an uncontended link; their
                # bandwidth exceeds the shaped rate (tbf lets 4 MB bursts
                # through), so the bandwidth is the link's, 10 Gbit/s
                fit["beta_Bps"] = min(fit["beta_Bps"], LINK_BPS)
                fit["alpha_s"] = max(fit["alpha_s"], ALPHA_FLOOR_S)
                what = (f"alpha from the fastest 2-host sums, at least {ALPHA_FLOOR_S * 1e6:.0f} us; "
                        "beta the link rate")
            else:
                what = "fitted to the median 2-host sums (shared cores: CPU-bound and noisy)"
            print(f"  {label}: alpha {fit['alpha_s'] * 1e6:.0f} us, beta "
                  f"{fit['beta_Bps'] / 1e9:.2f} GB/s ({what})")
            if "4" in runs and batch in runs["4"]["batches"]:
                checks = ", ".join(
                    f"{int(n) * 4 / 1e6:.2f} MB {t * 1e3:.2f} (model {model_sum(int(n) * 4, 4, fit) * 1e3:.2f})"
                    for n, t in runs["4"]["batches"][batch][key].items())
                print(f"    check, 4 hosts, measured (model) ms: {checks}")
            cells = {}
            for nodes in (2, 4, 8, 16):
                cells[nodes] = c = project(row2, fit, nodes)
                print(f"    {nodes:2d} hosts: idle {c['idle_ms_whole']:.2f} ms -> "
                      f"{c['idle_ms_overlap']:.2f} ms with overlap; efficiency "
                      f"{c['eff_whole']:.2f} -> {c['eff_overlap']:.2f}")
            out[batch][label] = {"fit": fit, "nodes": cells}
    return out


if __name__ == "__main__":
    main()
