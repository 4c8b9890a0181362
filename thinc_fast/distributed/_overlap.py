"""The gradient exchange hidden behind the backward pass.

A worker's step reports each bucket of its gradient arena as soon as the
backward pass has finished it (:class:`thinc_fast.step.GradientBuckets`, in
the order the buckets are numbered, the same on every replica). An
:class:`OverlappedExchange` owns one communication thread that sums the
shard-loss vector over the group as soon as the last shard's loss is known
(before its backward pass), then bucket 0 as soon as it is reported, then
bucket 1, ... while the backward pass goes on in the worker's main thread. The main thread waits (:meth:`OverlappedExchange.finish`) only for
what is still in flight when its backward pass is done: that wait is the
step's idle time.

Same bits as summing the whole arena at once: every sum the group forms is
element by element (one addition per element for 2 workers; the recursive
halving tree for 4, 8, ...), so cutting the arena into buckets changes no
element's order of summation; a worker with several shards adds them with
the same tree, bucket by bucket, before handing a bucket over (``tree_sum``
of slices is the slice of the ``tree_sum``). Only GLOO's ring, used for worker counts that are not a power
of two, splits its buffer by size: there the bucketed sum is deterministic
but not bit-equal to the whole-arena sum.

Failures: a bucket's sum that fails (a peer died: GLOO's "connection closed
by peer", or its timeout) ends the step's exchange; :meth:`finish` raises
that error in the main thread, before any update is applied, so a step is
still applied only after all of its sums completed.
"""
import threading
import time
from typing import Callable, List, Optional, Sequence, Tuple

import numpy


class _Job:
    """One step's exchange: the arena, its buckets, what is ready, what is done."""

    __slots__ = ("grads", "ranges", "ready", "losses", "done", "error",
                 "aborted", "origin", "ready_at", "summed_at")

    def __init__(self, grads: numpy.ndarray, ranges: Sequence[Tuple[int, int]],
                 origin: float) -> None:
        self.grads = grads
        self.ranges = list(ranges)
        self.ready = [False] * len(self.ranges)
        self.losses: Optional[numpy.ndarray] = None
        self.done = False
        self.error: Optional[BaseException] = None
        self.aborted = False
        self.origin = origin
        self.ready_at = [0.0] * len(self.ranges)
        self.summed_at = [0.0] * len(self.ranges)


class OverlappedExchange:
    """Sums gradient buckets over a group on a communication thread.

    reduce: sums one contiguous float32 array over the group in place (every
    member calls it with its own array of the same length, in the same order).
    reduce_losses: the same for the float64 shard-loss vector.

    Per step (main thread): :meth:`start` (before the last shard's forward
    pass), :meth:`losses` once its loss is known, :meth:`ready` for every
    bucket as the backward pass finishes it, :meth:`finish` (returns the
    seconds the main thread waited).
    """

    def __init__(self, reduce: Callable[[numpy.ndarray], None],
                 reduce_losses: Callable[[numpy.ndarray], None], name: str = "exchange") -> None:
        self._reduce = reduce
        self._reduce_losses = reduce_losses
        self._cond = threading.Condition()
        self._job: Optional[_Job] = None
        self._closed = False
        self._busy = False
        self.last: Optional[_Job] = None  # the last finished step's job (timings)
        self._thread = threading.Thread(target=self._loop, name=f"thinc-fast-{name}",
                                        daemon=True)
        self._thread.start()

    # ------------------------------------------------------- main thread
    def start(self, grads: numpy.ndarray, ranges: Sequence[Tuple[int, int]]) -> None:
        """A new step: `grads` (the arena, summed in place) and its buckets'
        ``(lo, hi)`` in summing order."""
        with self._cond:
            while self._busy and not self._closed:  # an aborted step's sum still in flight
                self._cond.wait()
            if self._closed:
                raise RuntimeError("the gradient exchange was closed (the worker left its group)")
            self._job = _Job(grads, ranges, time.perf_counter())
            self._cond.notify_all()

    def ready(self, number: int) -> None:
        """Bucket `number` holds this worker's final gradient: hand it to the
        communication thread (which sums it in place)."""
        job = self._job
        if job is None:
            raise RuntimeError("OverlappedExchange.ready outside a step")
        with self._cond:
            job.ready[number] = True
            job.ready_at[number] = time.perf_counter() - job.origin
            self._cond.notify_all()

    def losses(self, losses: numpy.ndarray) -> None:
        """Hand over this step's shard-loss vector (this worker's shards'
        losses, zeros elsewhere; summed in place, first of the step's sums)."""
        job = self._job
        if job is None:
            raise RuntimeError("OverlappedExchange.losses outside a step")
        with self._cond:
            job.losses = losses
            self._cond.notify_all()

    def finish(self, losses: Optional[numpy.ndarray] = None) -> float:
        """Wait until everything is summed (`losses`: the shard-loss vector,
        if not handed over yet; buckets not reported yet are ready now);
        returns the seconds waited. Raises the communication thread's error,
        if any (then nothing was applied)."""
        job = self._job
        if job is None:
            raise RuntimeError("OverlappedExchange.finish outside a step")
        began = time.perf_counter()
        if job.losses is None:
            if losses is None:
                raise RuntimeError("OverlappedExchange.finish: no shard-loss vector was handed over")
            self.losses(losses)
        for number in range(len(job.ready)):
            if not job.ready[number]:  # not reported (the last shard was empty): ready now
                self.ready(number)
        with self._cond:
            while not job.done:
                self._cond.wait()
            self._job = None
        waited = time.perf_counter() - began
        if job.error is not None:
            raise job.error
        if job.aborted:  # closed mid-step: the sums are incomplete, apply nothing
            raise RuntimeError("the gradient exchange was closed before the step's sums completed")
        self.last = job
        return waited

    def abort(self) -> None:
        """The step failed before finish: the thread drops it (after the bucket in flight)."""
        with self._cond:
            if self._job is not None:
                self._job.aborted = True
                self._job = None
            self._cond.notify_all()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread: it ends once the sum in flight (if any) returns;
        wait up to `timeout` seconds for that (before the group is destroyed)."""
        with self._cond:
            self._closed = True
            if self._job is not None:
                self._job.aborted = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # ---------------------------------------------- communication thread
    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    self._cond.notify_all()
                    return
                job = self._job
                self._busy = True
            try:
                self._run(job)
            except BaseException as err:  # handed to the main thread by finish()
                job.error = err
            with self._cond:
                job.done = True
                self._busy = False
                self._cond.notify_all()
                # an aborted job was taken from _job already; wait for the next
                while self._job is job and not self._closed:
                    self._cond.wait()

    def _run(self, job: _Job) -> None:
        with self._cond:
            while job.losses is None and not job.aborted:
                self._cond.wait()
            if job.aborted:
                return
        self._reduce_losses(job.losses)
        for number, (lo, hi) in enumerate(job.ranges):
            with self._cond:
                while not job.ready[number] and not job.aborted:
                    self._cond.wait()
                if job.aborted:
                    return
            self._reduce(job.grads[lo:hi])
            job.summed_at[number] = time.perf_counter() - job.origin

    def timeline(self) -> List[Tuple[int, float, float]]:
        """The last finished step, per bucket: (bytes, seconds from the start
        of the last shard's step until it was ready, until it was summed)."""
        job = self.last
        if job is None:
            return []
        return [((hi - lo) * job.grads.itemsize, r, s)
                for (lo, hi), r, s in zip(job.ranges, job.ready_at, job.summed_at)]
