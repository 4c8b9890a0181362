"""One data-parallel worker: a replica that runs training steps itself.

The body of the Ray actor (:class:`Worker`) and the sums it relies on. Nothing
here imports Ray at module level, so the class also runs in-process (tests,
and the object-store path's arithmetic).

The plan of a run (:class:`Plan`) fixes ``shards`` (S), ``shard_size`` (B)
and ``threads`` (T): every global batch is split into S shards by
``numpy.array_split``; shard ``j`` of step ``t`` seeds NumPy's RNG with
``(seed, t, j)`` before its forward pass (dropout), so it gives the same
gradient on whichever worker computes it. With W workers (W divides S),
worker ``r`` computes the contiguous shards ``r*S/W ... (r+1)*S/W - 1``.

The sum of the S shard gradients is defined as one binary tree over the
shards in shard order (:func:`tree_sum`: halves, recursively). Each worker
sums its own block with that tree; the workers' block sums are then added
with the same tree:

- W = 2: each worker sends its whole buffer to the other over a TCP
  connection of their own and adds what comes back (:mod:`._pair`): one
  addition per element, rank 0's operand first on both, so both replicas get
  the tree's result (GLOO's allreduce for 2 ranks was 2.5-3x slower at
  1.4-2.7 MB, its point-to-point calls stalled 4-6 ms in one exchange of
  four to ten: measured, see the module);
- W = 4, 8, ...: recursive halving then doubling over the same kind of
  connections: partners ``r ^ 1``, then ``r ^ 2``, ... add halves, which is
  the tree again (``(b0 + b1) + (b2 + b3)``), bandwidth-optimal like a ring;
- other W: GLOO's ring allreduce, the same on every replica and from run to
  run, but not bit-equal to other worker counts (said in the README);
- object store (no torch): each worker fetches the others' block sums and
  adds them with the tree.

So for W a power of two that divides S, the parameters are bit-identical for
every such W, on every replica, on either path.

With GLOO the sum is overlapped with the backward pass (``overlap=True``, the
default): the last shard's backward reports each bucket of the arena as soon
as it is final and a communication thread sums it over the group at once
(:mod:`._overlap`). Every sum above is element by element, so the buckets
give the same bits as the whole arena (tested); the ring for other W is
deterministic with buckets too, but not bit-equal to its whole-arena sum.
"""
import collections
import os
import time
import zlib
from dataclasses import asdict, dataclass
from typing import Any, Deque, Dict, List, Optional, Sequence, Tuple

import numpy

from ..data import take
from ..loss import Loss
from ..step import DEFAULT_BUCKET_BYTES, GradientBuckets, apply_update, train_step
from ._overlap import OverlappedExchange
from ._pair import PairLink, connect_links

LOSS_LOG_STEPS = 100_000  # shard losses kept per worker, for reports after a failure
TIMING_STEPS = 10_000  # (compute, idle) seconds kept per worker, for benchmarks


@dataclass(frozen=True)
class Plan:
    """What a data-parallel run fixes for its whole life (saved in checkpoints).

    shards: S, the number of shards of every global batch; shard_size: B, the
    examples per shard (the config's batch_size); threads: T, the compute
    threads of every worker; seed: the run's seed (dropout seeds derive from
    it, the step and the shard index)."""

    shards: int
    shard_size: int
    threads: int
    seed: int = 0

    def to_dict(self) -> Dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "Plan":
        names = {"shards", "shard_size", "threads", "seed"}
        if not isinstance(data, dict) or not {"shards", "threads"} <= set(data) <= names:
            raise ValueError(f"not a data-parallel plan: {data!r}")
        return cls(**{k: int(v) for k, v in data.items()})

    def exact_worker_counts(self) -> List[int]:
        """Worker counts that give bit-identical parameters: powers of two dividing S."""
        counts, w = [], 1
        while w <= self.shards:
            if self.shards % w == 0:
                counts.append(w)
            w *= 2
        return counts


def is_power_of_two(n: int) -> bool:
    return n >= 1 and n & (n - 1) == 0


def checksum(params: numpy.ndarray) -> int:
    """CRC32 of a parameter arena's bytes."""
    return zlib.crc32(memoryview(numpy.ascontiguousarray(params)).cast("B"))


def tree_sum(parts: Sequence[numpy.ndarray], out: Optional[numpy.ndarray] = None) -> numpy.ndarray:
    """``parts[0] + ... + parts[n-1]`` added as a binary tree: the sum of the
    first ``ceil(n/2)`` parts plus the sum of the rest, recursively. For n a
    power of two every split is even, so blocks of ``n / W`` parts summed this
    way and then combined with the same tree give the same bits."""
    n = len(parts)
    if n == 0:
        raise ValueError("tree_sum of no arrays")
    if n == 1:
        if out is None:
            return parts[0].copy()
        out[...] = parts[0]
        return out
    half = (n + 1) // 2
    left = tree_sum(parts[:half], out)
    right = tree_sum(parts[half:])
    numpy.add(left, right, out=left)
    return left


def shard_range(rank: int, workers: int, shards: int) -> range:
    per = shards // workers
    return range(rank * per, (rank + 1) * per)


class Worker:
    """A replica: model, optimizer, the training data and its group.

    config_text: a config holding only [model] and [optimizer] (the driver
    strips [data]: workers never load files, so relative paths in the config
    mean what they mean for the driver). state: ``(model bytes, optimizer
    bytes, step)`` to start from. loss: the run's ``[training.loss]`` as the
    driver built it (a copy arrives with the actor's arguments)."""

    def __init__(self, config_text: str, state: Tuple[bytes, bytes, int], X: Any, Y: Any,
                 plan: Dict[str, int], loss: Loss) -> None:
        import thinc_fast
        from thinc_fast.config import Config, registry

        self.plan = Plan.from_dict(plan)
        thinc_fast.set_num_threads(self.plan.threads)
        resolved = registry.resolve(Config().from_str(config_text))
        self.model = resolved["model"]
        self.optimizer = resolved["optimizer"]
        self.loss = loss
        self.X, self.Y = X, Y
        self.model.initialize(X=self.X[:5], Y=self.Y[:5])
        self.step = 0
        self.load_state(state)
        self.rank, self.workers, self.group = 0, 1, None
        self.backend = "local"
        self.loss_log: Dict[int, List[float]] = {}
        self._buffers: List[numpy.ndarray] = []
        self.overlap = False
        self.bucket_bytes = DEFAULT_BUCKET_BYTES
        self._exchange: Optional[OverlappedExchange] = None
        #: power-of-two groups: a connection of their own to each partner
        self._links: Dict[int, PairLink] = {}
        self._buckets: Optional[GradientBuckets] = None
        #: per step: (seconds computing this worker's shards, seconds then
        #: waiting for the gradient sum): the exchange's idle time
        self.timings: Deque[Tuple[float, float]] = collections.deque(maxlen=TIMING_STEPS)
        self._backward_end = 0.0  # of the last step, from the last shard's start

    # ----------------------------------------------------------------- state
    def pid(self) -> int:
        return os.getpid()

    def node(self) -> str:
        try:
            import ray

            return ray.util.get_node_ip_address()
        except Exception:  # pragma: no cover - outside Ray
            return "local"

    def load_state(self, state: Tuple[bytes, bytes, int]) -> int:
        model_bytes, optimizer_bytes, step = state
        self.model.from_bytes(model_bytes)
        self.optimizer.from_bytes(optimizer_bytes, self.model)
        self.model.zero_grads()
        self.step = int(step)
        return checksum(self.model.arena.params)

    def get_state(self) -> Tuple[bytes, bytes, int]:
        return self.model.to_bytes(format="thinc_fast"), self.optimizer.to_bytes(self.model), self.step

    def status(self) -> Tuple[int, int]:
        """(step, parameter checksum)."""
        return self.step, checksum(self.model.arena.params)

    # ----------------------------------------------------------------- group
    def gloo_available(self) -> bool:
        try:
            from ray.util import collective

            return bool(collective.gloo_available())
        except Exception:
            return False

    def join(self, group: Optional[str], workers: int, rank: int, backend: str,
             timeout_ms: int = 60_000, overlap: bool = True,
             bucket_bytes: int = DEFAULT_BUCKET_BYTES) -> str:
        """Leave any previous group; join `group` as `rank` of `workers`.
        overlap: with GLOO, sum the gradient buckets during the backward pass
        (buckets of about `bucket_bytes`) rather than the whole arena after it."""
        self.leave()
        if bucket_bytes < 1:
            raise ValueError(f"bucket_bytes must be >= 1, got {bucket_bytes!r}")
        self.rank, self.workers, self.backend = rank, workers, backend
        self.overlap, self.bucket_bytes = bool(overlap), int(bucket_bytes)
        if backend == "gloo" and workers > 1:
            import torch
            from ray.util import collective

            interface = interface_of(self.node())
            if interface is not None and "GLOO_SOCKET_IFNAME" not in os.environ:
                # GLOO would take the address the host name resolves to
                # (often 127.0.1.1): use the interface Ray's node address is on
                os.environ["GLOO_SOCKET_IFNAME"] = interface

            torch.set_num_threads(1)  # torch computes nothing here; keep its pool small
            collective.init_collective_group(workers, rank, backend="gloo", group_name=group,
                                             gloo_timeout=timeout_ms)
            self.group = group
            if is_power_of_two(workers):
                self._links = connect_links(rank, workers, self.node(), timeout_ms / 1000)
            if self.overlap:
                self._exchange = OverlappedExchange(self._sum_over_group, self._sum_over_group,
                                                    name=f"exchange-{rank}")
        return self.node()

    def leave(self) -> None:
        exchange, self._exchange = self._exchange, None
        if exchange is not None:
            exchange.close()
        links, self._links = self._links, {}
        for link in links.values():
            link.close()
        if self.group is None:
            return
        group, self.group = self.group, None
        try:
            from ray.util import collective

            collective.destroy_collective_group(group)
        except Exception:
            pass
        try:
            import torch.distributed as dist

            if dist.is_initialized():  # the WORLD group Ray's GLOO group sits on
                dist.destroy_process_group()
        except Exception:
            pass

    # ------------------------------------------------------------- compute
    def _compute(self, step: int, batch: numpy.ndarray,
                 exchange: Optional[OverlappedExchange] = None,
                 vector: Optional[numpy.ndarray] = None) -> List[float]:
        """This worker's block of shards of `batch` at `step`: their tree sum
        lands in the gradient arena; returns the shards' summed losses. With
        an `exchange`: `vector` (every shard's loss, zeros) gets this worker's
        losses and is handed to it once the last shard's loss is known, and
        the last shard's backward pass hands it each finished bucket (it adds
        the earlier shards, bucket by bucket)."""
        plan = self.plan
        shards = numpy.array_split(numpy.asarray(batch), plan.shards)
        mine = shard_range(self.rank, self.workers, plan.shards)
        grads = self.model.arena.grads
        losses: List[float] = []
        if len(self._buffers) != len(mine) - 1 or (self._buffers and
                                                  self._buffers[0].shape != grads.shape):
            self._buffers = [numpy.empty_like(grads) for _ in range(len(mine) - 1)]
        buckets = self._gradient_buckets() if exchange is not None else None
        parts: List[numpy.ndarray] = []
        origin = time.perf_counter()
        handed = []

        def hand_over(value: float) -> None:  # the last shard's loss: the vector is complete
            vector[mine[-1]] = value
            handed.append(True)
            exchange.losses(vector)

        def bucket_ready(number: int) -> None:  # add the earlier shards with the tree, hand over
            if parts:
                lo, hi = buckets.ranges[number]
                tree_sum([p[lo:hi] for p in parts] + [grads[lo:hi].copy()], out=grads[lo:hi])
            exchange.ready(number)

        for n, j in enumerate(mine):
            last = n + 1 == len(mine)
            self.model.zero_grads()
            if last:
                origin = time.perf_counter()
                if exchange is not None:
                    exchange.start(grads, buckets.ranges)
            if len(shards[j]):
                numpy.random.seed([plan.seed, step, j])
                watch = last and exchange is not None
                result = train_step(self.model, self.optimizer, take(self.X, shards[j]),
                                    take(self.Y, shards[j]), self.loss, update=False,
                                    buckets=buckets if watch else None,
                                    on_ready=bucket_ready if watch else None,
                                    on_loss=hand_over if watch else None)
                losses.append(result.loss)
            else:
                losses.append(0.0)
                if last and exchange is not None:  # an empty shard: every bucket is final
                    for number in range(len(buckets.ranges)):
                        bucket_ready(number)
            if vector is not None and not handed:  # (once handed over, it is being summed)
                vector[j] = losses[-1]
            if not last:  # keep it; the last shard stays in the arena
                self._buffers[n][...] = grads
                parts.append(self._buffers[n])
        if parts and exchange is None:
            parts.append(grads.copy())
            tree_sum(parts, out=grads)
        self._backward_end = time.perf_counter() - origin
        return losses

    def _gradient_buckets(self) -> GradientBuckets:
        buckets = self._buckets
        if buckets is None or not buckets.fits(self.model) or \
                buckets.bucket_bytes != self.bucket_bytes:
            buckets = self._buckets = GradientBuckets(self.model, self.bucket_bytes)
        return buckets

    def _sum_over_group(self, array: numpy.ndarray) -> None:
        """Sum a contiguous array (a gradient bucket, or the float64 shard-loss
        vector, whose entries have one nonzero term each: exact) over the
        group, in place, element by element (2 workers: one exchange over
        their connection; 4, 8, ...: recursive halving and doubling; other
        counts: GLOO's ring)."""
        if self._links:
            halving_doubling_allreduce(array, self.rank, self.workers, self._links)
        else:
            from ray.util import collective

            collective.allreduce(array, group_name=self.group)

    def _allreduce(self, grads: numpy.ndarray, losses: numpy.ndarray) -> None:
        """Sum the gradient arena and the shard-loss vector over the group (the
        loss vector holds this worker's shards, zeros elsewhere: exact)."""
        if self.workers == 1:
            return
        self._sum_over_group(grads)
        self._sum_over_group(losses)

    def _apply(self, losses: Sequence[float]) -> None:
        apply_update(self.model, self.optimizer, self.model.arena.grads)
        self.loss_log[self.step] = [float(x) for x in losses]
        self.loss_log.pop(self.step - LOSS_LOG_STEPS, None)
        self.step += 1

    def losses(self, first: int, end: int) -> List[List[float]]:
        """Every shard's loss of the applied steps ``first ... end - 1``."""
        return [self.loss_log[t] for t in range(first, end)]

    def run(self, first_step: int, batches: List[numpy.ndarray]
            ) -> Tuple[List[List[float]], int, int]:
        """Steps ``first_step ...`` on the global `batches`, each: own shards,
        allreduce, update. Returns (per step: every shard's loss, in shard
        order; the step reached; the parameter checksum)."""
        if first_step != self.step:
            raise RuntimeError(f"worker at step {self.step} asked to run step {first_step}")
        vector = numpy.zeros(self.plan.shards, dtype="float64")  # every shard's loss
        exchange = self._exchange if self.workers > 1 else None
        for batch in batches:
            began = time.perf_counter()
            vector[...] = 0.0
            try:
                self._compute(self.step, batch, exchange, vector)
            except BaseException:
                if exchange is not None:
                    exchange.abort()
                raise
            computed = time.perf_counter()
            if exchange is not None:
                idle = exchange.finish(vector)  # raises if a sum failed: nothing applied
            else:
                self._allreduce(self.model.arena.grads, vector)
                idle = time.perf_counter() - computed
            self.timings.append((computed - began, idle))
            self._apply(vector)
        return self.losses(first_step, self.step), self.step, checksum(self.model.arena.params)

    def exchange_stats(self, clear: bool = False) -> Dict[str, Any]:
        """For benchmarks: ``timings``, per step since the last clear, (seconds
        computing this worker's shards, seconds then idle waiting for the
        gradient sum); ``overlap``; ``backward_end``: seconds from the start
        of the last shard's step to the end of its backward pass; ``buckets``:
        per bucket of that step, (bytes, seconds until ready, until summed)
        (empty without overlap)."""
        stats = {"timings": list(self.timings), "overlap": self._exchange is not None,
                 "backward_end": self._backward_end,
                 "buckets": self._exchange.timeline() if self._exchange is not None else []}
        if clear:
            self.timings.clear()
        return stats

    def time_allreduce(self, repeats: int) -> List[float]:
        """Seconds of each of `repeats` allreduces of a gradient arena's size
        (a copy: the model is not touched). For benchmarks."""
        return self.time_sum(len(self.model.arena.grads), repeats, losses=True)

    def time_sum(self, n_floats: int, repeats: int, losses: bool = False) -> List[float]:
        """Seconds of each of `repeats` sums over the group of `n_floats`
        float32 (and of the shard-loss vector when `losses`). For benchmarks."""
        buf = numpy.ones(int(n_floats), dtype="float32")
        vector = numpy.zeros(self.plan.shards, dtype="float64")
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            if self.workers > 1:
                self._sum_over_group(buf)
                if losses:
                    self._sum_over_group(vector)
            times.append(time.perf_counter() - start)
        return times

    # ------------------------------------------------ object-store exchange
    def compute(self, step: int, batch: numpy.ndarray) -> Tuple[numpy.ndarray, List[float]]:
        """Object-store path, phase 1: this worker's block sum (and losses)."""
        if step != self.step:
            raise RuntimeError(f"worker at step {self.step} asked to compute step {step}")
        losses = self._compute(step, batch)
        return self.model.arena.grads.copy(), losses

    def apply_blocks(self, step: int, *blocks: Tuple[numpy.ndarray, List[float]]
                     ) -> Tuple[List[float], int, int]:
        """Object-store path, phase 2: every worker's block (in rank order),
        added with the tree, applied. Returns (every shard's loss, step, checksum)."""
        if step != self.step:
            raise RuntimeError(f"worker at step {self.step} asked to apply step {step}")
        tree_sum([grads for grads, _ in blocks], out=self.model.arena.grads)
        self._apply([loss for _, losses in blocks for loss in losses])
        return self.loss_log[step], self.step, checksum(self.model.arena.params)


def interface_of(address: str) -> Optional[str]:
    """The name of the network interface holding the IPv4 `address` (Linux), or None."""
    import fcntl
    import socket
    import struct

    try:
        wanted = socket.inet_aton(address)
    except OSError:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            try:
                packed = fcntl.ioctl(sock.fileno(), 0x8915,  # SIOCGIFADDR
                                     struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue
            if packed[20:24] == wanted:
                return name
    return None


def halving_doubling_allreduce(buf: numpy.ndarray, rank: int, workers: int,
                               links: Dict[int, PairLink]) -> None:
    """Sum `buf` over a power-of-two group in place over `links` (partner ->
    connection, :func:`._pair.connect_links`). Two workers: one exchange of
    the whole buffer. More: recursive halving (reduce-scatter: at distance
    d = 1, 2, 4, ... keep one half of the current segment, send the other to
    ``rank ^ d``, add what comes back), then recursive doubling (allgather)
    in reverse. Each element's sum is the tree ``((b0 + b1) + (b2 + b3)) + ...``
    over ranks, on every rank."""
    if workers == 2:
        links[rank ^ 1].allreduce(buf)
        return
    lo, hi = 0, len(buf)
    steps = []
    d = 1
    scratch = links[rank ^ 1].scratch((len(buf) + 1) // 2, buf.dtype)
    while d < workers:
        partner = rank ^ d
        mid = (lo + hi) // 2
        keep, give = ((lo, mid), (mid, hi)) if rank & d == 0 else ((mid, hi), (lo, mid))
        incoming = scratch[:keep[1] - keep[0]]
        links[partner].exchange(buf[give[0]:give[1]], incoming)
        numpy.add(buf[keep[0]:keep[1]], incoming, out=buf[keep[0]:keep[1]])
        steps.append((partner, keep, give))
        lo, hi = keep
        d *= 2
    for partner, keep, give in reversed(steps):
        links[partner].exchange(buf[keep[0]:keep[1]], buf[give[0]:give[1]])
