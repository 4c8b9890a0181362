"""Data-parallel training on a Ray cluster: workers run the loop, the driver coordinates.

One actor per worker (:class:`~thinc_fast.distributed._worker.Worker`), each
with its replica of the model and optimizer. The driver forms the group and
asks for K steps at a time (``RayTrainer.run``): every worker computes its
own shards of each global batch, the workers sum the flat gradient arena
among themselves (``ray.util.collective`` GLOO allreduce; see ``_worker`` for
the exact order of the sum) and apply the same update. Nothing goes through
the driver or the object store per step: the driver only sends the batches'
indices, then compares the replicas' parameter checksums and collects the
shard losses when the K steps are done. It pulls rank 0's state into its own
replica only when the training loop evaluates or saves (``sync_driver``).

With GLOO the sum overlaps the backward pass (``overlap=True``): each worker's
communication thread sums a bucket of the arena (whole layers, at most
``bucket_bytes``) as soon as the backward pass has finished it, output layers
first, and the step waits only for what is still in flight when its backward
pass ends (``_overlap``; the same bits as summing the whole arena after it).

Without torch (GLOO needs it in every worker) the same steps run over the
object store: each worker's block sum goes straight to the other workers
(never to the driver), each adds them in the same tree order; the driver
submits a whole chunk of steps at once and does no update of its own.

A lost worker costs no step and changes no result: the survivors hold step s
or s-1 (a step is applied only after its allreduce completed), all of them
consistent; the driver takes the most advanced state (or, with no survivor,
its own replica and the batches since), starts replacements (``on_failure=
"restart"``) or goes on with fewer workers (``"shrink"``: the largest worker
count that keeps the sum's order), forms a new group and replays from there.
Nothing is applied twice, and with a worker count that is a power of two
dividing the shard count the final parameters are bit-identical to an
undisturbed run's.
"""
import contextlib
import logging
import os
import socket
import tempfile
import time
import uuid
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy

from ..config import Config
from ..errors import RayUnavailableError, WorkerFailure
from ..loss import Loss, SummedCrossentropy, summing_problem
from ..step import DEFAULT_BUCKET_BYTES
from ._reaper import watch_cluster
from ._worker import Plan, Worker, checksum

logger = logging.getLogger("thinc_fast.distributed")

#: environment settings for a local cluster that thinc-fast starts itself
LOCAL_CLUSTER_ENV = {
    # bind every Ray server to 127.0.0.1 (Ray's own switch for laptops)
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    # no usage statistics sent
    "RAY_USAGE_STATS_ENABLED": "0",
    # workers at the driver's priority (Ray's default niceness 15 starves them
    # behind any other process, which the training loop then waits for)
    "RAY_worker_niceness": "0",
}


# How to get Ray, wherever thinc_fast came from (a checkout or a wheel file: the
# project is not on PyPI, so "pip install 'thinc_fast[ray]'" finds nothing):
# the requirement of pyproject.toml's `ray` extra.
RAY_REQUIREMENT = "ray>=2.60,<3"
INSTALL_RAY = f"pip install '{RAY_REQUIREMENT}' (thinc_fast's [ray] extra)"


def import_ray():
    """The ``ray`` module, or RayUnavailableError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise RayUnavailableError(
            f"Distributed training needs Ray: {INSTALL_RAY}") from None
    return ray


@contextlib.contextmanager
def neutral_cwd():
    """Connect to Ray from an empty folder. Ray puts the driver's working
    directory on its workers' import path (from a source checkout that would
    shadow the installed, compiled thinc_fast with the uncompiled sources) and
    starts local workers in it. The folder is kept: a worker whose working
    directory was removed cannot load torch's libraries."""
    previous = os.getcwd()
    folder = os.path.join(tempfile.gettempdir(), f"thinc-fast-ray-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(previous)


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


def start_local_cluster(ray: Any, num_cpus: Optional[int] = None) -> None:
    """``ray.init`` a local cluster bound to 127.0.0.1, usage statistics off,
    workers at normal priority (:data:`LOCAL_CLUSTER_ENV`), and a watcher that
    ends its processes if this process is killed (:mod:`._reaper`).

    Values the user set for these environment variables are kept. For a
    cluster reachable from other machines, start it yourself (``ray start
    --head --node-ip-address=ADDR``) and pass its address (``--address``)."""
    saved = {key: os.environ.get(key) for key in LOCAL_CLUSTER_ENV}
    for key, value in LOCAL_CLUSTER_ENV.items():
        os.environ.setdefault(key, value)
    try:
        try:  # read when ray is imported: also set it for a ray already imported
            from ray._private import ray_constants

            ray_constants.ENABLE_RAY_CLUSTER = os.environ[
                "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] not in ("0", "false", "False")
        except Exception:  # pragma: no cover - a Ray without that switch
            pass
        with neutral_cwd():
            # address="local": a new cluster even where another one runs on this machine
            ray.init(address="local", num_cpus=num_cpus or os.cpu_count() or 1,
                     include_dashboard=False, log_to_driver=False)
        watch_cluster(ray)  # a killed driver leaves no Ray agent behind
    finally:  # the cluster's processes have them; this process's later children need not
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def torch_version() -> Optional[str]:
    """The installed torch's version, without importing it (None: not installed)."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("torch")
    except PackageNotFoundError:
        return None
    except Exception:  # pragma: no cover
        return None


def exchange_info() -> str:
    """One line for ``thinc-fast info``: how ``--workers`` would sum gradients here."""
    try:
        from importlib.metadata import version

        ray_version = version("ray")
    except Exception:
        return f"not installed ({INSTALL_RAY})"
    try:  # about a second, but the line then says whether --workers can start Ray
        import ray
    except Exception as exc:
        return (f"ray {ray_version} is installed but cannot be imported ({type(exc).__name__}: "
                f"{exc}); reinstall it: pip install --force-reinstall '{RAY_REQUIREMENT}'")
    if getattr(ray, "__file__", None) is None:
        where = ", ".join(getattr(ray, "__path__", []))
        return (f"ray {ray_version} is installed, but 'ray' imports a folder without Ray's "
                f"code ({where}): run from another directory")
    torch = torch_version()
    if torch is None:
        return (f"ray {ray_version}; gradients through the object store (torch not installed; "
                "for the faster GLOO allreduce: pip install torch --index-url "
                "https://download.pytorch.org/whl/cpu)")
    return (f"ray {ray_version}; gradients summed by GLOO allreduce (ray.util.collective, "
            f"torch {torch})")


def replica_config(config_text: str) -> str:
    """The config workers build: [model] and [optimizer] only, interpolated.
    Workers never load data (the driver sends the arrays), so a relative data
    path means the same with and without workers."""
    config = Config().from_str(config_text)
    return Config({"model": config["model"], "optimizer": config["optimizer"]}).to_str()


class RayTrainer:
    """Data-parallel training of a config's model over `n_workers` Ray actors.

    config_text: the training config (its [model] and [optimizer] blocks are
    built in each worker). model/optimizer: the driver's replica, already
    initialised (and possibly restored from a checkpoint): workers start as
    exact copies of it, at step `step`. loss: the loss every worker trains
    with (``thinc-fast train`` passes its ``[training.loss]``; default
    :class:`~thinc_fast.loss.SummedCrossentropy`); it must sum over the
    examples, so that the shards' gradients add up to the global batch's
    (:func:`~thinc_fast.loss.summing_problem`). Each worker gets a pickled
    copy of this object with its actor's arguments (it is not rebuilt from
    the config: a loss registered only in the driver's process works too).
    plan: the run's fixed :class:`Plan` (shards, shard size, threads, seed)
    when resuming; default: `n_workers` shards, the cluster's CPUs
    divided among the workers. exchange: "auto" (GLOO when every worker has
    torch, else the object store), "gloo" or "object_store". chunk_steps:
    how many steps the training loop hands over at once (the workers run them
    without the driver; Ctrl-C waits for the chunk). checksum_every: ignored
    (replicas are compared after every chunk); kept for callers of 0.1.
    overlap: with GLOO, sum each bucket of the gradient arena (about
    `bucket_bytes`, whole tensors) over the group as soon as the backward pass
    has finished it, on a communication thread, rather than the whole arena
    after the backward pass: the same bits, less waiting (see ``_overlap``).
    """

    def __init__(self, config_text: str, model: Any, optimizer: Any, train_X: Any,
                 train_Y: Any, n_workers: int, *, address: Optional[str] = None,
                 on_failure: str = "restart", max_failures: int = 8, seed: int = 0,
                 log: Callable[[str], None] = logger.info, loss: Optional[Loss] = None,
                 plan: Optional[Plan] = None, shard_size: int = 0, step: int = 0,
                 exchange: str = "auto", gloo_timeout_s: float = 60.0,
                 chunk_steps: int = 32, checksum_every: Optional[int] = None,
                 overlap: bool = True, bucket_bytes: int = DEFAULT_BUCKET_BYTES) -> None:
        if on_failure not in ("restart", "shrink"):
            raise ValueError(f"on_failure must be 'restart' or 'shrink', got {on_failure!r}")
        if isinstance(n_workers, bool) or not isinstance(n_workers, int) or n_workers < 1:
            raise ValueError(f"n_workers must be a positive int, got {n_workers!r}")
        if exchange not in ("auto", "gloo", "object_store"):
            raise ValueError(f"exchange must be 'auto', 'gloo' or 'object_store', got {exchange!r}")
        if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, int) or bucket_bytes < 1:
            raise ValueError(f"bucket_bytes must be a positive int, got {bucket_bytes!r}")
        problem = None if loss is None else summing_problem(loss)
        if problem is not None:
            raise ValueError(f"RayTrainer: loss {problem}")
        if plan is not None and plan.shards % n_workers:
            raise RayUnavailableError(
                f"--workers {n_workers} cannot split this run's {plan.shards} shards evenly "
                f"(fixed when the run started); use one of "
                f"{[w for w in range(1, plan.shards + 1) if plan.shards % w == 0]}")
        self.ray = import_ray()
        self.config_text = replica_config(config_text)
        self.loss = SummedCrossentropy() if loss is None else loss
        self.model = model
        self.optimizer = optimizer
        self.on_failure = on_failure
        self.max_failures = max_failures
        self.gloo_timeout_ms = int(gloo_timeout_s * 1000)
        self.chunk_steps = max(1, int(chunk_steps))  # steps the loop asks for at a time
        self.overlap = bool(overlap)
        self.bucket_bytes = bucket_bytes
        self.failures = 0
        self.log = log
        self.events: List[str] = []
        self.workers: List[Any] = []
        self.nodes: List[str] = []
        self.recoveries: List[float] = []
        self._owns_ray = False
        self._generation = 0
        self._group: Optional[str] = None
        self._run_id = uuid.uuid4().hex[:8]
        # the driver's replica is at step `_driver_step`; `_history` holds the
        # batches since, so that any state can be rebuilt without the workers
        self.steps = int(step)  # steps the caller has been told of
        self._at = int(step)  # the step the workers hold
        self._driver_step = int(step)
        self._history: List[numpy.ndarray] = []
        self._connect(address, n_workers)
        try:
            cpus = int(self.ray.cluster_resources().get("CPU", 1))
            self.plan = plan if plan is not None else Plan(
                shards=n_workers, shard_size=int(shard_size), threads=max(1, cpus // n_workers),
                seed=int(seed))
            self.threads = self.plan.threads
            # arrays as float32 blocks; documents (lists of arrays) as they are
            self._data = tuple(self.ray.put(numpy.ascontiguousarray(part, dtype="float32")
                                            if hasattr(part, "shape") else list(part))
                               for part in (train_X, train_Y))
            self._actor_cls = self.ray.remote(num_cpus=1, max_restarts=0,
                                              scheduling_strategy="SPREAD")(Worker)
            state = self._driver_state()
            self.workers = [self._new_worker(state) for _ in range(n_workers)]
            self.exchange = self._choose_exchange(exchange)
            self._form_group()
            self._spare: Any = None
            self._start_spare(state)
            if n_workers not in self.plan.exact_worker_counts():
                self._record(f"note: {n_workers} workers is not a power of two dividing the "
                             f"{self.plan.shards} shards: results are deterministic for this "
                             "count but not bit-equal to other worker counts")
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
                if address:
                    with neutral_cwd():
                        ray.init(address=address, log_to_driver=False)
                else:
                    start_local_cluster(ray)
            except Exception as err:  # ConnectionError, RuntimeError, ValueError...
                where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
                raise RayUnavailableError(f"Could not connect to {where}: {err}") from None
            self._owns_ray = True
        cpus = ray.cluster_resources().get("CPU", 0)
        free = ray.available_resources().get("CPU", 0)
        deadline = time.monotonic() + 15  # CPUs of actors just ended show as free a bit later
        while n_workers <= cpus and free < n_workers and time.monotonic() < deadline:
            time.sleep(0.2)
            free = ray.available_resources().get("CPU", 0)
        problem = None
        if n_workers > cpus:
            problem = (f"--workers {n_workers} is more than the {int(cpus)} CPUs the Ray cluster "
                       "offers; each worker needs one")
        elif n_workers > free:  # the actors would wait for CPUs forever
            problem = (f"--workers {n_workers}: only {int(free)} of the Ray cluster's {int(cpus)} "
                       "CPUs are free (each worker needs one)")
        if problem:
            if self._owns_ray:
                ray.shutdown()
                self._owns_ray = False
            raise RayUnavailableError(problem)

    def _choose_exchange(self, wanted: str) -> str:
        if wanted == "object_store":
            return wanted
        if wanted == "auto" and len(self.workers) == 1:
            return "none"  # one worker: nothing to exchange
        have = self.ray.get([w.gloo_available.remote() for w in self.workers])
        if all(have):
            return "gloo"
        if wanted == "gloo":
            raise RayUnavailableError(
                "GLOO allreduce needs torch in every worker (pip install torch --index-url "
                "https://download.pytorch.org/whl/cpu); or use the object-store exchange")
        self._record("torch is not installed in every worker: gradients go through the "
                     "object store")
        return "object_store"

    def _driver_state(self) -> Tuple[bytes, bytes, int]:
        return (self.model.to_bytes(format="thinc_fast"), self.optimizer.to_bytes(self.model), self._driver_step)

    def _new_worker(self, state: Tuple[bytes, bytes, int], spare: bool = False):
        cls = self._actor_cls.options(num_cpus=0) if spare else self._actor_cls
        return cls.remote(self.config_text, state, self._data[0], self._data[1],
                          self.plan.to_dict(), self.loss)

    def _start_spare(self, state: Tuple[bytes, bytes, int]) -> None:
        """With on_failure="restart" and GLOO, keep one idle worker warm (torch
        imported: that alone takes seconds) to replace a lost one at once. It
        holds no CPU of the cluster's (num_cpus=0) and computes nothing."""
        if self.on_failure != "restart" or self.exchange != "gloo":
            return
        self._spare = self._new_worker(state, spare=True)
        self._spare.gloo_available.remote()  # imports torch now, not when needed

    def _take_spare(self, state: Tuple[bytes, bytes, int]):
        spare, self._spare = self._spare, None
        if spare is not None:
            try:
                self.ray.get(spare.load_state.remote(state), timeout=120)
                return spare
            except Exception:
                with contextlib.suppress(Exception):
                    self.ray.kill(spare)
        return self._new_worker(state)

    def _form_group(self) -> None:
        """Every worker leaves its old group and joins a new one (its rank: its index)."""
        self._generation += 1
        self._group = f"thinc-fast-{self._run_id}-{self._generation}"
        n = len(self.workers)
        backend = "gloo" if self.exchange == "gloo" else "none"
        self.nodes = self.ray.get([w.join.remote(self._group, n, rank, backend,
                                                 self.gloo_timeout_ms, self.overlap,
                                                 self.bucket_bytes)
                                   for rank, w in enumerate(self.workers)])
        if self._generation == 1:
            self.log(f"workers on nodes: {', '.join(sorted(set(self.nodes)))}")

    def _record(self, message: str) -> None:
        self.events.append(message)
        self.log(message)

    # --------------------------------------------------------------- steps
    def step(self, indices: numpy.ndarray) -> float:
        """One data-parallel step on the global batch `indices`; returns its summed loss."""
        return self.run([indices])[0]

    def run(self, batches: Sequence[numpy.ndarray], first_step: Optional[int] = None
            ) -> List[float]:
        """Steps ``first_step, first_step + 1, ...`` on the global `batches`
        (index arrays into the training data); returns each step's summed loss
        (the shards' losses added in shard order). The workers do everything;
        the driver's replica is brought up to date by :meth:`sync_driver`."""
        if first_step is not None and first_step != self.steps:
            raise ValueError(f"the workers are at step {self.steps}, not {first_step}")
        start = self.steps
        end = start + len(batches)
        self._history.extend(numpy.asarray(b) for b in batches)
        done: Dict[int, List[float]] = {}
        while self._at < end:
            lo = self._at
            todo = self._history[lo - self._driver_step:end - self._driver_step]
            try:
                per_step = self._run_chunk(lo, todo)
            except self._failures() as err:
                self._recover(err, start, done)
                continue
            for t, losses in enumerate(per_step, start=lo):
                done[t] = losses
            self._at = end
        self.steps = end
        return [float(sum(done[t])) for t in range(start, end)]

    def _failures(self) -> Tuple[type, ...]:
        ex = self.ray.exceptions
        return (ex.RayActorError, ex.WorkerCrashedError, ex.RayTaskError, ex.GetTimeoutError)

    def _run_chunk(self, first: int, batches: List[numpy.ndarray]) -> List[List[float]]:
        """Steps ``first ...`` on every worker; per step, every shard's loss."""
        ray = self.ray
        if self.exchange != "object_store" or len(self.workers) == 1:
            results = self._get_all([w.run.remote(first, batches) for w in self.workers])
            losses = results[0][0]
            sums = [r[2] for r in results]
        else:  # the whole chunk submitted at once: blocks go worker to worker
            last = []
            for t, batch in enumerate(batches, start=first):
                blocks = [w.compute.remote(t, batch) for w in self.workers]
                last = [w.apply_blocks.remote(t, *blocks) for w in self.workers]
                if t == first:
                    head = last[0]
            results = self._get_all(last)
            losses = ray.get(self.workers[0].losses.remote(first, first + len(batches))) \
                if len(batches) > 1 else [ray.get(head)[0]]
            sums = [r[2] for r in results]
        if len(set(sums)) != 1:
            self._record(f"step {first + len(batches)}: replica checksums differ ({sums}); "
                         "re-syncing every worker from rank 0")
            state = ray.get(self.workers[0].get_state.remote())
            ray.get([w.load_state.remote(state) for w in self.workers[1:]])
        return losses

    def _get_all(self, refs: List[Any]) -> List[Any]:
        """ray.get every ref, raising the first failure as soon as it shows
        (after collecting the other refs' outcomes, so that a survivor's
        "connection closed by peer" is not reported again as unhandled)."""
        ray = self.ray
        pending = list(refs)
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            try:
                ray.get(ready[0])
            except self._failures():
                timeout = self.gloo_timeout_ms / 1000 + 10
                for ref in pending:
                    with contextlib.suppress(Exception):
                        ray.get(ref, timeout=timeout)
                raise
        return ray.get(refs)

    # ------------------------------------------------------------ failures
    def _recover(self, err: Exception, start: int, done: Dict[int, List[float]]) -> None:
        """After a failure: find the most advanced consistent state, rebuild
        the group (replacements or fewer workers) at that step."""
        began = time.perf_counter()
        ray = self.ray
        self.failures += 1
        if self.failures > self.max_failures:
            raise WorkerFailure(f"{self.failures} worker failures (max_failures={self.max_failures});"
                                " giving up") from err
        probes = [w.status.remote() for w in self.workers]
        status: Dict[int, Tuple[int, int]] = {}
        for index, ref in enumerate(probes):
            try:
                status[index] = ray.get(ref, timeout=self.gloo_timeout_ms / 1000 + 30)
            except self._failures():
                pass
        dead = [i for i in range(len(self.workers)) if i not in status]
        if not dead:  # every actor answers: not a lost worker but a bug
            raise WorkerFailure(f"a worker task failed: {err}") from err
        steps = sorted({s for s, _ in status.values()})
        self._record(f"worker(s) {dead} of {len(self.workers)} lost at step {self._at + 1} "
                     f"({type(err).__name__}); survivors at step(s) {steps}")
        for index in dead:
            with contextlib.suppress(Exception):
                ray.kill(self.workers[index])
        alive = sorted(status)
        if alive:
            best = max(alive, key=lambda i: status[i][0])
            best_step = status[best][0]
            state = ray.get(self.workers[best].get_state.remote())
            first = max(start, self._at)
            if best_step > first:  # applied by the survivors: their losses are known
                for t, losses in enumerate(ray.get(self.workers[best].losses.remote(
                        first, best_step)), start=first):
                    done[t] = losses
        else:  # nobody left: the driver's replica and the batches since
            best_step, state = self._driver_step, self._driver_state()
        survivors = [self.workers[i] for i in alive]
        if self.on_failure == "restart":
            keep = survivors
            new = [self._take_spare(state) for _ in dead]
            self._record(f"{len(new)} replacement worker(s) at step {best_step}")
        else:
            exact = [w for w in self.plan.exact_worker_counts() if w <= len(survivors)]
            fits = [w for w in range(1, len(survivors) + 1) if self.plan.shards % w == 0]
            count = max(exact) if exact else (max(fits) if fits else 0)
            keep, new = survivors[:count], []
            for extra in survivors[count:]:
                with contextlib.suppress(Exception):
                    ray.kill(extra)
            if not keep:
                new = [self._new_worker(state)]
            self._record(f"going on with {len(keep) + len(new)} worker(s) from step {best_step}")
        kept = {id(w) for w in keep}
        behind = [self.workers[i] for i in alive
                  if id(self.workers[i]) in kept and status[i][0] != best_step]
        ray.get([w.load_state.remote(state) for w in behind])
        self.workers = keep + new
        self._form_group()
        self._at = best_step
        self.recoveries.append(time.perf_counter() - began)
        self._record(f"recovered in {self.recoveries[-1]:.2f} s; going on from step {best_step}")
        if self.on_failure == "restart" and self._spare is None:
            self._start_spare(state)

    # --------------------------------------------------------------- state
    def sync_driver(self) -> None:
        """Load rank 0's parameters and optimizer state into the driver's
        replica (the model the training loop evaluates and saves)."""
        if self._driver_step == self.steps:
            return
        if self._at != self.steps:
            raise WorkerFailure(f"the workers are at step {self._at}, the run at {self.steps}")
        state = self.ray.get(self.workers[0].get_state.remote())
        if state[2] != self.steps:
            raise WorkerFailure(f"worker 0 is at step {state[2]}, the run at {self.steps}")
        self.model.from_bytes(state[0])
        self.optimizer.from_bytes(state[1], self.model)
        self._driver_step = self.steps
        self._history = []

    def checksums(self) -> List[int]:
        """The parameter checksums of the driver (after syncing) and of every worker."""
        self.sync_driver()
        return [checksum(self.model.arena.params)] + [
            s for _, s in self.ray.get([w.status.remote() for w in self.workers])]

    def set_overlap(self, overlap: bool, bucket_bytes: Optional[int] = None) -> None:
        """Switch the overlapped exchange on or off (and change the bucket
        size) between steps: the workers form their group anew. The results
        do not change (the same bits either way, see ``_overlap``); for
        comparing the two."""
        if bucket_bytes is not None:
            if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, int) or \
                    bucket_bytes < 1:
                raise ValueError(f"bucket_bytes must be a positive int, got {bucket_bytes!r}")
            self.bucket_bytes = bucket_bytes
        self.overlap = bool(overlap)
        self._form_group()

    def exchange_stats(self, clear: bool = False) -> List[Dict[str, Any]]:
        """Every worker's :meth:`Worker.exchange_stats` (per step: seconds
        computing, seconds idle waiting for the gradient sum), in rank order."""
        return self.ray.get([w.exchange_stats.remote(clear) for w in self.workers])

    def worker_pids(self) -> List[int]:
        return self.ray.get([w.pid.remote() for w in self.workers])

    def shutdown(self) -> None:
        spare, self._spare = getattr(self, "_spare", None), None
        for worker in self.workers + ([spare] if spare is not None else []):
            try:
                self.ray.kill(worker)
            except Exception:
                pass
        self.workers = []
        if self._owns_ray:
            self.ray.shutdown()
            self._owns_ray = False
