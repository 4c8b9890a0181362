"""One training step: forward, loss, backprop, update, schedules.

>>> import numpy
>>> from thinc_fast.api import SGD, Relu, Softmax, chain
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
Gradients are sums over the batch (``SummedCrossentropy`` does not normalise),
so the sum of the shards' gradients is the gradient of the whole batch.
"""
from dataclasses import dataclass
from typing import Any, Optional, Tuple

import numpy

from .backends import get_array_ops
from .loss import CategoricalCrossentropy, Loss, flat_truths
from .model import Model
from .types import Ragged

__all__ = ["StepResult", "SummedCrossentropy", "train_step", "apply_update"]


@dataclass(frozen=True)
class StepResult:
    """What one step reports: the batch's loss value and its number of examples."""

    loss: float
    n_examples: int


class SummedCrossentropy(CategoricalCrossentropy):
    """``CategoricalCrossentropy(normalize=False)`` whose value is the cross-entropy::

        d_guesses = guesses - target
        loss      = -sum(target * log(clip(guesses, 1e-9, 1)))

    The gradient is CategoricalCrossentropy's, summed over the batch (not
    divided by its size); the value is the summed cross-entropy, where
    CategoricalCrossentropy (as Thinc) reports ``sum(d_guesses ** 2)``. This is
    the loss ``thinc-fast train`` trains with and reports (``loss``, ``dev_loss``).
    Keyword arguments are CategoricalCrossentropy's, but for ``normalize``.

    Sequence outputs (a tagger's): when `guesses` is a list of (n_i, classes)
    arrays or a Ragged, `truths` holds each sequence's truths (a list, or a
    Ragged); the rows of all sequences are scored in one pass and the gradient
    comes back in the guesses' form (a list of arrays, or a Ragged).
    """

    def __init__(self, **kwargs: Any) -> None:
        if "normalize" in kwargs:
            raise TypeError("SummedCrossentropy does not normalize; use "
                            "CategoricalCrossentropy(normalize=True) for a mean gradient")
        super().__init__(normalize=False, **kwargs)

    def __call__(self, guesses: Any, truths: Any):
        if isinstance(guesses, (list, tuple, Ragged)):
            return self._sequences(guesses, truths)
        d_guesses = self.get_grad(guesses, truths)  # checks the inputs
        return d_guesses, self._crossentropy(guesses, truths)

    def get_loss(self, guesses: Any, truths: Any) -> float:
        """``-sum(target * log(clip(guesses, 1e-9, 1)))`` over the rows that are not masked."""
        if isinstance(guesses, (list, tuple, Ragged)):
            return self._sequences(guesses, truths)[1]
        self.get_grad(guesses, truths)  # the same checks as the gradient's
        return self._crossentropy(guesses, truths)

    def _sequences(self, guesses: Any, truths: Any) -> Tuple[Any, float]:
        """Gradient and value over the rows of every sequence, the gradient in
        the form of `guesses`."""
        ragged = guesses if isinstance(guesses, Ragged) else _as_ragged(guesses)
        flat = flat_truths("SummedCrossentropy", truths, ragged)
        d_data, value = self(ragged.dataXd, flat)
        if isinstance(guesses, Ragged):
            return Ragged(d_data, guesses.lengths), value
        return get_array_ops(d_data).unflatten(d_data, ragged.lengths), value

    def _crossentropy(self, guesses: Any, truths: Any) -> float:
        xp = get_array_ops(guesses).xp
        log_p = xp.log(guesses.clip(1e-9, 1.0))
        dense = hasattr(truths, "shape") and tuple(truths.shape) == tuple(guesses.shape)
        if dense and self.missing_value is None:
            return float(-(xp.asarray(truths) * log_p).sum())
        target, mask = self.convert_truths(truths, guesses)
        return float(-(target * mask * log_p).sum())


def _as_ragged(arrays: Any) -> Ragged:
    """A list of (n_i, ...) arrays as one Ragged (an empty list: no rows)."""
    if len(arrays) == 0:
        return Ragged(numpy.zeros((0, 0), dtype="float32"), numpy.zeros((0,), dtype="int32"))
    ops = get_array_ops(arrays[0])
    lengths = numpy.asarray([a.shape[0] for a in arrays], dtype="int32")
    return Ragged(ops.flatten(list(arrays)), ops.asarray(lengths))


def train_step(model: Model, optimizer: Any, X: Any, Y: Any, loss: Loss, *,
               update: bool = True) -> StepResult:
    """One step on the batch ``(X, Y)``; returns its loss value.

    ``Yh, backprop = model.begin_update(X)``; ``d_Yh, value = loss(Yh, Y)``;
    ``backprop(d_Yh)`` adds the batch's gradients to the model's; then, when
    `update` is true, ``apply_update(model, optimizer)``. With update=False
    the parameters are unchanged and the gradients stay accumulated (the
    caller zeroes them first when it wants this batch's alone); `optimizer`
    may then be None.
    """
    guesses, backprop = model.begin_update(X)
    d_guesses, value = loss(guesses, Y)
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
