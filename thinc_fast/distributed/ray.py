"""Data-parallel training on a Ray cluster that survives lost workers.

The driver keeps its own replica of the model and optimizer; ``N`` worker
actors keep one each. For every global batch:

1. the batch's indices are split into ``N`` fixed shards (shard ``i`` goes to
   live worker ``i % live``); each worker zeroes its gradients, runs
   ``train_step(..., update=False)`` (forward, loss, backward) on its shard and
   returns its flat gradient arena: one array per exchange, through Ray's
   shared-memory object store;
2. the driver adds the shard gradients in shard order (so the sum does not
   depend on which worker computed what), applies the sum to its replica with
   ``apply_update``, puts it in the object store once, and every worker
   applies the same sum the same way.

Because Thinc-style gradients are sums over the batch, N workers with shards of
B examples give the parameters single-process training gets with batches of
N*B. Every ``checksum_every`` steps the workers' parameter checksums are
compared with the driver's; a replica that drifted is re-synced.

When a worker dies (killed process, actor failure) while computing, it is
replaced by a new actor synced from the driver's replica (``on_failure=
"restart"``), or its shard is handed to a survivor (``"shrink"``); only the
lost shard is recomputed, so no step is lost or applied twice, and the result
is bit-identical to an undisturbed run. A worker lost while applying the update
is re-synced from the driver, which has already applied it.
"""
import contextlib
import logging
import os
import socket
import tempfile
import zlib
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy

from ..errors import RayUnavailableError, WorkerFailure
from ..loss import Loss
from ..step import SummedCrossentropy, apply_update, train_step

logger = logging.getLogger("thinc_fast.distributed")


def import_ray():
    """The ``ray`` module, or RayUnavailableError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RayUnavailableError(
            "Distributed training needs Ray: pip install 'thinc_fast[ray]'") from None
    return ray


@contextlib.contextmanager
def neutral_cwd():
    """Connect to Ray from an empty folder. Ray puts the driver's working
    directory on its workers' import path; from a source checkout that would
    shadow the installed (compiled) thinc_fast with the uncompiled sources."""
    previous = os.getcwd()
    folder = tempfile.mkdtemp(prefix="thinc-fast-ray-")
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)
        try:
            os.rmdir(folder)
        except OSError:
            pass


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """Fail fast, with a clear message, when nothing answers at host:port."""
    target = address.split("://", 1)[-1]
    if target == "auto" or ":" not in target:
        return
    host, _, port = target.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except (OSError, ValueError) as err:
        raise RayUnavailableError(f"No Ray cluster answers at {address}: {err}") from None


def checksum(params: numpy.ndarray) -> int:
    """A cheap checksum of a parameter arena (CRC32 of its bytes)."""
    return zlib.crc32(memoryview(numpy.ascontiguousarray(params)).cast("B"))


class _Replica:
    """One worker's model and optimizer; the body of the Ray actor."""

    def __init__(self, config_text: str, model_bytes: bytes, optimizer_bytes: bytes,
                 X: numpy.ndarray, Y: numpy.ndarray, threads: int, loss: Loss) -> None:
        import thinc_fast
        from thinc_fast.config import Config, registry

        thinc_fast.set_num_threads(threads)
        resolved = registry.resolve(Config().from_str(config_text))
        self.model = resolved["model"]
        self.optimizer = resolved["optimizer"]
        self.loss = loss
        self.X, self.Y = X, Y  # top-level ObjectRef arguments arrive as (shared) arrays
        self.model.initialize(X=self.X[:5], Y=self.Y[:5])
        self.load_state(model_bytes, optimizer_bytes)

    def pid(self) -> int:
        return os.getpid()

    def load_state(self, model_bytes: bytes, optimizer_bytes: bytes) -> int:
        self.model.from_bytes(model_bytes)
        self.optimizer.from_bytes(optimizer_bytes, self.model)
        return checksum(self.model.arena.params)

    def compute(self, shard: numpy.ndarray, seed: Optional[Tuple[int, int, int]] = None
                ) -> Tuple[numpy.ndarray, float]:
        """Gradients of the loss on `shard` (summed), and the shard's summed loss.

        The RNG (dropout) is seeded from (run seed, step, shard index), so a
        shard gives the same gradient whichever worker computes it (None: the
        RNG is left as it is)."""
        if seed is not None:
            numpy.random.seed(list(seed))
        self.model.zero_grads()
        result = train_step(self.model, self.optimizer, self.X[shard], self.Y[shard], self.loss,
                            update=False)
        return self.model.arena.grads.copy(), result.loss

    def param_checksum(self) -> int:
        return checksum(self.model.arena.params)

    def apply(self, total: numpy.ndarray, want_checksum: bool) -> Optional[int]:
        """Apply the summed gradient, advance the schedules; optionally a checksum."""
        apply_update(self.model, self.optimizer, total)
        return checksum(self.model.arena.params) if want_checksum else None


class RayTrainer:
    """Data-parallel training of a config's model over `n_workers` Ray actors.

    config_text: the training config (its [model] and [optimizer] blocks are
    built in each worker). model/optimizer: the driver's replica, already
    initialised (and possibly restored from a checkpoint): workers start as
    exact copies of it. loss: the loss every worker trains with (default
    :class:`~thinc_fast.step.SummedCrossentropy`); it must sum over the
    examples (not normalise), so that the shards' gradients add up to the
    global batch's.
    """

    def __init__(self, config_text: str, model: Any, optimizer: Any, train_X: numpy.ndarray,
                 train_Y: numpy.ndarray, n_workers: int, *, address: Optional[str] = None,
                 on_failure: str = "restart", checksum_every: int = 10, max_failures: int = 8,
                 seed: int = 0, log: Callable[[str], None] = logger.info,
                 loss: Optional[Loss] = None) -> None:
        if on_failure not in ("restart", "shrink"):
            raise ValueError(f"on_failure must be 'restart' or 'shrink', got {on_failure!r}")
        if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
            raise ValueError(f"n_workers must be a positive int, got {n_workers!r}")
        self.ray = import_ray()
        self.config_text = config_text
        self.loss = SummedCrossentropy() if loss is None else loss
        self.model = model
        self.optimizer = optimizer
        self.n_shards = n_workers
        self.on_failure = on_failure
        self.checksum_every = checksum_every
        self.max_failures = max_failures
        self.failures = 0
        self.steps = 0
        self.log = log
        self.seed = int(seed)
        self.events: List[str] = []
        self.workers: List[Any] = []
        self._owns_ray = False
        self._connect(address, n_workers)
        try:
            cpus = int(self.ray.cluster_resources().get("CPU", 1))
            self.threads = max(1, cpus // n_workers)
            self._data = (self.ray.put(numpy.ascontiguousarray(train_X, dtype="float32")),
                          self.ray.put(numpy.ascontiguousarray(train_Y, dtype="float32")))
            self._actor_cls = self.ray.remote(num_cpus=1, max_restarts=0)(_Replica)
            state = self._driver_state()
            self.workers = [self._new_worker(state) for _ in range(n_workers)]
            self.ray.get([w.pid.remote() for w in self.workers])
        except BaseException:
            self.shutdown()  # no actors or cluster left behind
            raise

    # ------------------------------------------------------------ cluster
    def _connect(self, address: Optional[str], n_workers: int) -> None:
        ray = self.ray
        if not ray.is_initialized():
            if address:
                _check_reachable(address)
            try:
                with neutral_cwd():
                    if address:
                        ray.init(address=address, log_to_driver=False)
                    else:
                        ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False,
                                 log_to_driver=False)
            except Exception as err:  # ConnectionError, RuntimeError, ValueError...
                where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
                raise RayUnavailableError(f"Could not connect to {where}: {err}") from None
            self._owns_ray = True
        cpus = ray.cluster_resources().get("CPU", 0)
        if n_workers > cpus:
            if self._owns_ray:
                ray.shutdown()
            raise RayUnavailableError(f"--workers {n_workers} is more than the {int(cpus)} CPUs the "
                                      "Ray cluster offers; each worker needs one")

    def _driver_state(self) -> Tuple[bytes, bytes]:
        return self.model.to_bytes(), self.optimizer.to_bytes(self.model)

    def _new_worker(self, state: Tuple[bytes, bytes]):
        return self._actor_cls.remote(self.config_text, state[0], state[1], self._data[0],
                                      self._data[1], self.threads, self.loss)

    def _record(self, message: str) -> None:
        self.events.append(message)
        self.log(message)

    def _lost(self, index: int, err: Exception, phase: str) -> None:
        self.failures += 1
        self._record(f"worker {index} lost while {phase} at step {self.steps + 1}: "
                     f"{type(err).__name__}")
        if self.failures > self.max_failures:
            raise WorkerFailure(f"{self.failures} worker failures (max_failures={self.max_failures}); "
                                "giving up") from err

    def _replace(self, dead: Sequence[int], state: Tuple[bytes, bytes]) -> None:
        for index in sorted(dead, reverse=True):
            try:
                self.ray.kill(self.workers[index])
            except Exception:  # already gone
                pass
            if self.on_failure == "restart":
                self.workers[index] = self._new_worker(state)
                self._record(f"worker {index} restarted and synced from the driver")
            else:
                del self.workers[index]
                self._record(f"worker {index} dropped; {len(self.workers)} workers remain")
        if not self.workers:
            raise WorkerFailure("no live worker remains")

    # --------------------------------------------------------------- step
    def step(self, indices: numpy.ndarray) -> float:
        """One data-parallel step on the global batch `indices` (gradients,
        update, schedules, on driver and workers); returns the summed loss."""
        ray = self.ray
        shards = numpy.array_split(numpy.asarray(indices), self.n_shards)
        results: Dict[int, Tuple[numpy.ndarray, float]] = {}
        pending = list(range(self.n_shards))
        while pending:
            live = len(self.workers)
            refs = {i: self.workers[i % live].compute.remote(shards[i], (self.seed, self.steps, i))
                    for i in pending}
            dead = set()
            for i, ref in refs.items():
                try:
                    results[i] = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as err:
                    if i % live not in dead:
                        dead.add(i % live)
                        self._lost(i % live, err, "computing")
            pending = [i for i in pending if i not in results]
            if dead:
                self._replace(sorted(dead), self._driver_state())
        total = results[0][0].copy()
        for i in range(1, self.n_shards):
            total += results[i][0]
        loss = sum(results[i][1] for i in range(self.n_shards))
        apply_update(self.model, self.optimizer, total)
        self.steps += 1
        want = self.checksum_every > 0 and self.steps % self.checksum_every == 0
        total_ref = ray.put(total)
        apply_refs = [w.apply.remote(total_ref, want) for w in self.workers]
        dead, sums = [], {}
        for index, ref in enumerate(apply_refs):
            try:
                sums[index] = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError) as err:
                dead.append(index)
                self._lost(index, err, "applying the update")
        drifted = []
        if want:
            expected = checksum(self.model.arena.params)
            # handles, not indices: replacing dead workers may shift the list
            drifted = [self.workers[i] for i, value in sums.items() if value != expected]
            if drifted:
                self._record(f"step {self.steps}: replica checksum mismatch on "
                             f"{len(drifted)} worker(s); re-syncing them from the driver")
        if dead:  # the driver has applied this step: replacements start from there
            self._replace(dead, self._driver_state())
        if drifted:
            state = self._driver_state()
            self.ray.get([worker.load_state.remote(*state) for worker in drifted])
        return loss

    def checksums(self) -> List[int]:
        """The parameter checksums of the driver and then of every worker."""
        return [checksum(self.model.arena.params)] + self.ray.get(
            [w.param_checksum.remote() for w in self.workers])

    def worker_pids(self) -> List[int]:
        return self.ray.get([w.pid.remote() for w in self.workers])

    def shutdown(self) -> None:
        for worker in self.workers:
            try:
                self.ray.kill(worker)
            except Exception:
                pass
        self.workers = []
        if self._owns_ray:
            self.ray.shutdown()
            self._owns_ray = False
