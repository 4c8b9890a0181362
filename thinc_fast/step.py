"""One training step: forward, loss, backprop, update, schedules.

>>> import numpy
>>> from thinc_fast.api import SGD, Relu, Softmax, chain
>>> from thinc_fast.loss import SummedCrossentropy
>>> X = numpy.random.default_rng(0).random((8, 4), dtype="float32")
>>> Y = numpy.eye(3, dtype="float32")[[0, 1, 2, 0, 1, 2, 0, 1]]
>>> model = chain(Relu(5), Softmax()).initialize(X=X, Y=Y)
>>> result = train_step(model, SGD(0.1), X, Y, SummedCrossentropy())
>>> result.n_examples, result.loss > 0
(8, True)

``train_step`` is the whole step on one batch. Data-parallel training splits
it: each worker runs ``train_step(..., update=False)`` (forward, loss and
backprop only: the gradients accumulate in the model's arena), the gradients
are summed, and ``apply_update(model, optimizer, summed)`` applies them.
Gradients are sums over the batch (the training loss, by default
:class:`~thinc_fast.loss.SummedCrossentropy`, does not normalise), so the sum
of the shards' gradients is the gradient of the whole batch.
"""
import contextlib
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from .loss import Loss
from .layers.chain import forward as _chain_forward
from .model import Model, input_gradient_unread, watch_training, watching_backprop

__all__ = ["StepResult", "GradientBuckets", "train_step", "apply_update"]

#: at most this many bytes of gradient per bucket (whole nodes; a larger node is
#: a bucket alone). Every sum over the group pays a fixed latency on top of its
#: bytes: at 2 MiB the 784-512-512-10 MLP's arena (2.7 MB) goes in two sums, the
#: output layers and the first layer, which measured 8% faster on 2 hosts than
#: three sums of at most 1 MiB (benchmarks/multihost.py, README)
DEFAULT_BUCKET_BYTES = 2 << 20


@dataclass(frozen=True)
class StepResult:
    """What one step reports: the batch's loss value and its number of examples."""

    loss: float
    n_examples: int


class GradientBuckets:
    """A model's gradient arena cut into buckets that a backward pass finishes
    one after the other, each reported as soon as its gradients are final.

    A bucket is a contiguous range ``(lo, hi)`` of ``model.arena.grads`` made
    of whole nodes' tensors, at most `bucket_bytes` long (a larger node is a
    bucket alone); together the buckets cover the arena, padding included. They are
    numbered in the order a backward pass is expected to finish them (the
    output layers first: by each bucket's earliest-run node, in depth-first
    order, latest first), the same order on every replica of a model, so a
    group of workers can sum them one by one in that order.

    ``with buckets.watch(on_ready):`` around a step's forward and backward
    calls ``on_ready(i)`` (in the thread running the backward) once for every
    bucket ``i``: as soon as every node owning a tensor of it has returned
    from all the backprop callbacks its forward calls of the block gave out;
    on leaving the block normally, for every bucket not reported yet (nodes
    that did not run, a backprop never called). Leaving it by an exception
    reports nothing more.

    The contract (Thinc's): a node's parameter gradients are written only by
    its own backprop callbacks, before they return, or before the callback
    calls :func:`~thinc_fast.model.gradients_final` for it (the dense layers
    do, between their weights' gradient and their input's: the exchange sums
    the weights while the input's gradient is computed). A node run forward again
    after its buckets were reported raises RuntimeError (its gradients would
    change after the workers began to sum them).

    >>> import numpy
    >>> from thinc_fast.api import Relu, Softmax, chain
    >>> X = numpy.ones((4, 3), dtype="float32")
    >>> model = chain(Relu(5), Softmax(2)).initialize(X=X)
    >>> buckets = GradientBuckets(model, bucket_bytes=64)
    >>> seen = []
    >>> with buckets.watch(seen.append):
    ...     Yh, backprop = model.begin_update(X)
    ...     _ = backprop(Yh)
    >>> seen == list(range(len(buckets.ranges)))  # the softmax's first
    True
    """

    def __init__(self, model: Model, bucket_bytes: int = DEFAULT_BUCKET_BYTES) -> None:
        if bucket_bytes < 1:
            raise ValueError(f"GradientBuckets: bucket_bytes must be >= 1, got {bucket_bytes!r}")
        arena = model.arena
        self.model = model
        self.bucket_bytes = int(bucket_bytes)
        self.arena_id = arena.id
        self.size = len(arena)
        itemsize = arena.grads.dtype.itemsize
        # whole nodes (a node's tensors are contiguous), from the end of the
        # arena (the output layers): a bucket is not held back by the node
        # below it for one small tensor
        runs: List[List[int]] = []
        for index in range(len(arena.entries) - 1, -1, -1):
            if runs and arena.entries[runs[-1][-1]][0] is arena.entries[index][0]:
                runs[-1].append(index)
            else:
                runs.append([index])
        groups: List[List[int]] = []
        cut, filled = self.size, 0
        for run in runs:
            size = sum(arena.entries[index][3] for index in run) * itemsize
            if groups and filled + size <= bucket_bytes:
                groups[-1].extend(run)
                filled += size
            else:
                groups.append(list(run))
                filled = size
        bounds = []
        for group in groups:
            lo = arena.entries[group[-1]][2]
            bounds.append((lo if group is not groups[-1] else 0, cut))
            cut = lo
        order = {node.id: rank for rank, node in enumerate(model.walk(order="dfs_pre"))}
        # a bucket is due when its earliest node in depth-first order finishes
        due = [min(order[arena.entries[i][0].id] for i in group) for group in groups]
        send = sorted(range(len(groups)), key=lambda g: (-due[g], g))
        #: ``(lo, hi)`` of every bucket, in the order they are reported and summed
        self.ranges: List[Tuple[int, int]] = [bounds[g] for g in send]
        self._nodes: Dict[int, Any] = {}
        self._buckets_of: Dict[int, List[int]] = {}
        for number, g in enumerate(send):
            for index in groups[g]:
                node = arena.entries[index][0]
                self._nodes[node.id] = node
                numbers = self._buckets_of.setdefault(node.id, [])
                if number not in numbers:
                    numbers.append(number)
        self._waiting: List[int] = []
        self._pending: Dict[int, int] = {}
        self._done: set = set()
        self._reported: List[bool] = []
        self._on_ready: Optional[Callable[[int], None]] = None

    def __len__(self) -> int:
        return len(self.ranges)

    def fits(self, model: Model) -> bool:
        """Whether these buckets still describe `model`'s current arena."""
        return model is self.model and model.arena.id == self.arena_id

    @contextlib.contextmanager
    def watch(self, on_ready: Callable[[int], None]) -> Iterator["GradientBuckets"]:
        """Report each bucket to `on_ready` as its backward finishes (see the class)."""
        if not self.fits(self.model):
            raise RuntimeError(f"GradientBuckets: the arena of model {self.model.name!r} was "
                               "packed anew since the buckets were made; make new ones")
        self._on_ready = on_ready
        self._waiting = [0] * len(self.ranges)
        for node_id, numbers in self._buckets_of.items():
            for number in numbers:
                self._waiting[number] += 1
        self._pending = {}
        self._done = set()
        self._reported = [False] * len(self.ranges)
        with watch_training(self._wrap):
            yield self
        for number in range(len(self.ranges)):
            if not self._reported[number]:
                self._report(number)

    def _wrap(self, node: Model, backprop: Callable[[Any], Any]) -> Callable[[Any], Any]:
        node_id = node.id
        if node_id not in self._nodes:
            return backprop  # no parameters in this arena
        if node_id in self._done:
            raise RuntimeError(f"GradientBuckets: layer {node.name!r} ran forward again after "
                               "its backward pass had finished and its gradients were handed "
                               "to the exchange; train this model without overlap")
        self._pending[node_id] = self._pending.get(node_id, 0) + 1

        def backprop_then_report(dY: Any) -> Any:
            finished = []  # this call's gradients are final (said early, or on return)

            def final(who: Model) -> None:
                if who is node and not finished:
                    finished.append(True)
                    self._call_finished(node_id)

            with watching_backprop(final):
                dX = backprop(dY)
            final(node)
            return dX

        return backprop_then_report

    def _call_finished(self, node_id: int) -> None:
        """One of a node's backprop calls wrote its last gradient: once all
        of them did, its buckets may be due."""
        left = self._pending[node_id] - 1
        self._pending[node_id] = left
        if left == 0:
            self._done.add(node_id)
            for number in self._buckets_of[node_id]:
                self._waiting[number] -= 1
                if self._waiting[number] == 0 and not self._reported[number]:
                    self._report(number)

    def _report(self, number: int) -> None:
        self._reported[number] = True
        if self._on_ready is not None:
            self._on_ready(number)


def input_layer(model: Model) -> Model:
    """The node that receives `model`'s input as it is and whose input
    gradient is the one `model`'s backprop returns: down the first layers of
    chains (``chain(chain(Relu, Relu), Softmax)``: the first Relu), else
    `model` itself."""
    node = model
    while node._func is _chain_forward and node.layers:
        node = node.layers[0]
    return node


def train_step(model: Model, optimizer: Any, X: Any, Y: Any, loss: Loss, *,
               update: bool = True, buckets: Optional[GradientBuckets] = None,
               on_ready: Optional[Callable[[int], None]] = None,
               on_loss: Optional[Callable[[float], None]] = None) -> StepResult:
    """One step on the batch ``(X, Y)``; returns its loss value.

    ``Yh, backprop = model.begin_update(X)``; ``d_Yh, value = loss(Yh, Y)``;
    ``backprop(d_Yh)`` adds the batch's gradients to the model's; then, when
    `update` is true, ``apply_update(model, optimizer)``. With update=False
    the parameters are unchanged and the gradients stay accumulated (the
    caller zeroes them first when it wants this batch's alone); `optimizer`
    may then be None. buckets, on_ready: with both, ``on_ready(i)`` is called
    as soon as bucket ``i`` of `buckets` has its final gradient, during the
    backward pass (see :class:`GradientBuckets`): data-parallel workers start
    summing it over the group then. on_loss: called with the loss value
    before the backward pass starts (workers start summing the losses then).
    The gradient of `X` itself, which nothing reads, is not computed: the
    layer that receives the batch (:func:`input_layer`) skips it where it
    can (the dense layers, Maxout; see
    :func:`~thinc_fast.model.input_gradient_unread`).
    """
    watch = buckets.watch(on_ready) if buckets is not None and on_ready is not None \
        else contextlib.nullcontext()
    # the gradient of X is dropped: the layer that receives X computes none
    with watch, input_gradient_unread(input_layer(model), X):
        guesses, backprop = model.begin_update(X)
        d_guesses, value = loss(guesses, Y)
        if on_loss is not None:
            on_loss(float(value))
        backprop(d_guesses)
    if update:
        apply_update(model, optimizer)
    return StepResult(loss=float(value), n_examples=len(X))


def apply_update(model: Model, optimizer: Any, grads: Optional[Any] = None) -> None:
    """Apply the gradients and advance the optimizer's schedules.

    grads: a flat array shaped like ``model.arena.grads`` (e.g. the sum of the
    workers' gradient arenas) that replaces the accumulated gradients first;
    None applies what backprop accumulated. ``model.finish_update(optimizer)``
    then updates the parameters and zeroes the gradients, and
    ``optimizer.step_schedules()`` moves every schedule one step on.
    """
    if grads is not None:
        _set_flat_gradients(model, grads)
    model.finish_update(optimizer)
    optimizer.step_schedules()


def _set_flat_gradients(model: Model, grads: Any) -> None:
    """Write `grads` into the model's gradient arena, every parameter marked as
    having a gradient (finish_update skips a model without one)."""
    arena = model.arena
    if tuple(grads.shape) != tuple(arena.grads.shape):
        raise ValueError(f"apply_update: the gradients have shape {tuple(grads.shape)}, but the "
                         f"gradient arena of model {model.name!r} has shape "
                         f"{tuple(arena.grads.shape)}")
    for node, name, *_ in arena.entries:
        if not node.has_grad(name):
            node.get_grad_buffer(name)  # marks the gradient present (an arena view)
    arena.grads[...] = grads
